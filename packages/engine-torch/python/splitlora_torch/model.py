"""GPT-2's server part in PyTorch, the same math as packages/model (gpt2.ts, lora.ts, loss.ts).

Weights keep their Hugging Face names and Conv1D layout [in, out]. LoRA's internal layout is
A [d_in, r], B [r, d_out] under "h.{i}.{target}.lora_A/B"; q, k and v adapt d-wide slices of the
fused c_attn output. Dropout masks come from seeds.keep_mask, so both engines draw the same ones.
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from .seeds import keep_mask, site_seed

# Which module input (dropout site) each target reads: adapters on one input share its mask.
SITE = {"c_attn": "attn_in", "q": "attn_in", "k": "attn_in", "v": "attn_in",
        "attn.c_proj": "proj_in", "mlp.c_fc": "fc_in", "mlp.c_proj": "fc_out"}
QKV_SLICE = {"q": 0, "k": 1, "v": 2}


def lora_dims(target: str, d: int):
    return {"c_attn": (d, 3 * d), "mlp.c_fc": (d, 4 * d), "mlp.c_proj": (4 * d, d)}.get(target, (d, d))


def lora_names(n_layer_from: int, n_layer_to: int, targets: Sequence[str]) -> List[str]:
    """The adapter's tensor names in the tfjs engine's order (block, then target, then A, B)."""
    return [f"h.{i}.{t}.lora_{w}" for i in range(n_layer_from, n_layer_to) for t in targets for w in ("A", "B")]


class Dropout:
    """LoRA dropout of one forward: one seed for the batch, or one seed per packed client step.

    segments: [(seed, batch, seq_len, padded_len)], as LoraDropout.segments in lora.ts.
    """

    def __init__(self, p: float, seed: Optional[int] = None, segments=None):
        self.p = p
        self.seed = seed
        self.segments = segments
        self.scale = torch.tensor(1.0 / (1.0 - p), dtype=torch.float32)
        self._cache = {}

    def mask(self, block: int, site: str, rows: int, cols: int, device) -> torch.Tensor:
        key = (block, site)
        m = self._cache.get(key)
        if m is None:
            zero = torch.zeros((), dtype=torch.float32, device=device)
            scale = self.scale.to(device)
            if self.segments is None:
                keep = keep_mask(site_seed(self.seed, block, site), self.p, 0, rows, cols, device)
                m = torch.where(keep, scale, zero)
            else:
                parts = []
                for seed, batch, seq_len, padded in self.segments:
                    keep = keep_mask(site_seed(seed, block, site), self.p, 0, batch * seq_len, cols, device)
                    part = torch.where(keep, scale, zero).view(batch, seq_len, cols)
                    if padded > seq_len:  # padding rows are never read: ones, as in lora.ts
                        part = torch.cat([part, torch.ones(batch, padded - seq_len, cols, device=device)], 1)
                    parts.append(part.reshape(batch * padded, cols))
                m = torch.cat(parts, 0)
                if m.shape[0] != rows:
                    raise ValueError(f"dropout segments cover {m.shape[0]} rows, the input has {rows}")
            self._cache[key] = m
        return m


class ServerPartModel:
    """Blocks [first, L) with LoRA, and optionally ln_f with the tied head and the smoothed loss."""

    def __init__(self, config: dict, weights: Dict[str, torch.Tensor], first: int, lora: dict, device):
        self.cfg = config
        self.w = weights
        self.first = first
        self.last = config["nLayer"]
        self.lora_cfg = lora
        self.scale = lora["alpha"] / lora["r"]
        self.device = device
        self.names = lora_names(first, self.last, lora["targets"])
        self.params: Dict[str, torch.Tensor] = {}
        # F.scaled_dot_product_attention (torch ≥ 2.0) fuses the causal attention; 1.13 has none.
        self.fused_attention = hasattr(F, "scaled_dot_product_attention")

    def load_adapter(self, adapter: Dict[str, torch.Tensor]) -> None:
        d = self.cfg["nEmbd"]
        for name in self.names:
            t = adapter.get(name)
            if t is None:
                raise ValueError(f'adapter: missing tensor "{name}"')
            target = name.split(".", 2)[2].rsplit(".lora_", 1)[0]
            din, dout = lora_dims(target, d)
            want = [din, self.lora_cfg["r"]] if name.endswith("A") else [self.lora_cfg["r"], dout]
            if list(t.shape) != want:
                raise ValueError(f'adapter: "{name}" has shape {list(t.shape)}, expected {want}')
            self.params[name] = t.detach().to(self.device, torch.float32).clone().requires_grad_(True)
        for name in adapter:
            if name not in self.params:
                raise ValueError(f'adapter: unexpected tensor "{name}"')

    # ---- the forward pass, read top-down as gpt2.ts ----

    def _delta(self, i: int, target: str, x: torch.Tensor, drop: Optional[Dropout]):
        A = self.params.get(f"h.{i}.{target}.lora_A")
        if A is None:
            return None
        B = self.params[f"h.{i}.{target}.lora_B"]
        if drop is not None:
            x = x * drop.mask(i, SITE[target], x.shape[0], x.shape[1], x.device)
        return ((x @ A) @ B) * self.scale

    def _linear(self, i: int, module: str, target: str, x: torch.Tensor, drop: Optional[Dropout]):
        y = torch.addmm(self.w[f"h.{i}.{module}.bias"], x, self.w[f"h.{i}.{module}.weight"])
        delta = self._delta(i, target, x, drop)
        return y if delta is None else y + delta

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.cfg["layerNormEps"])

    def _attention(self, i: int, x: torch.Tensor, B: int, T: int, drop: Optional[Dropout]):
        d, H = self.cfg["nEmbd"], self.cfg["nHead"]
        hd = d // H
        qkv = self._linear(i, "attn.c_attn", "c_attn", x, drop)
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        parts = [q, k, v]
        for target, j in QKV_SLICE.items():
            delta = self._delta(i, target, x, drop)
            if delta is not None:
                parts[j] = parts[j] + delta
        q, k, v = (t.reshape(B, T, H, hd).transpose(1, 2) for t in parts)
        if self.fused_attention:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            y = torch.softmax(scores.masked_fill(causal, -1e9), -1) @ v
        merged = y.transpose(1, 2).reshape(B * T, d)
        return self._linear(i, "attn.c_proj", "attn.c_proj", merged, drop)

    def _block(self, i: int, x: torch.Tensor, B: int, T: int, drop: Optional[Dropout]):
        x = x + self._attention(i, self._ln(x, f"h.{i}.ln_1"), B, T, drop)
        h = F.gelu(self._linear(i, "mlp.c_fc", "mlp.c_fc", self._ln(x, f"h.{i}.ln_2"), drop), approximate="tanh")
        return x + self._linear(i, "mlp.c_proj", "mlp.c_proj", h, drop)

    def hidden(self, acts: torch.Tensor, drop: Optional[Dropout]) -> torch.Tensor:
        """Cut activations [B, T, d] → h_L [B·T, d] (before ln_f)."""
        B, T, d = acts.shape
        h = acts.reshape(B * T, d)
        for i in range(self.first, self.last):
            h = self._block(i, h, B, T, drop)
        return h

    def head_loss(self, h: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, smoothing: float):
        """ln_f, the tied head and the smoothed loss on the rows with a non-zero weight only.

        Returns (Σ loss_i·w_i, the weighted per-row losses scattered back to [N]).
        """
        N = h.shape[0]
        idx = torch.nonzero(weights, as_tuple=True)[0]
        if idx.numel() == 0:  # keep one zero-weight row so that shapes stay valid (split.ts headRows)
            idx = torch.zeros(1, dtype=torch.int64, device=h.device)
        x = self._ln(h.index_select(0, idx), "ln_f")
        logits = x @ self.w["wte.weight"].t()
        rows = F.cross_entropy(logits, targets.index_select(0, idx), reduction="none", label_smoothing=smoothing)
        weighted = rows * weights.index_select(0, idx)
        per_row = torch.zeros(N, dtype=torch.float32, device=h.device).index_copy(0, idx, weighted.detach())
        return weighted.sum(), per_row

    @torch.no_grad()
    def nll(self, ids: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
        """The whole model (first = 0, no dropout): Σ −log p[target]·mask and Σ mask, head on masked rows only."""
        B, T = ids.shape
        if T > self.cfg["nPositions"]:
            raise ValueError(f'sequence of {T} tokens exceeds n_positions {self.cfg["nPositions"]}')
        x = self.w["wte.weight"].index_select(0, ids.reshape(-1)).view(B, T, -1) + self.w["wpe.weight"][:T]
        h = self.hidden(x, None)
        idx = torch.nonzero(mask, as_tuple=True)[0]
        if idx.numel() == 0:
            return 0.0, 0.0
        logits = self._ln(h.index_select(0, idx), "ln_f") @ self.w["wte.weight"].t()
        rows = torch.nn.functional.cross_entropy(logits, targets.index_select(0, idx), reduction="none")
        m = mask.index_select(0, idx)
        return float((rows * m).double().sum()), float(m.double().sum())

    def adapter(self) -> Dict[str, torch.Tensor]:
        return {n: self.params[n].detach() for n in self.names}
