"""The plain PyTorch loop a researcher would write for the same step, with no engine around it.

It is the yardstick of `npm run bench:engines` and of the GPU pack: GPT-2 blocks [first, L) as
nn.Modules, LoRA on q and v (rank r, alpha, nn.Dropout on the LoRA input), ln_f and the tied head
on the loss rows only, label-smoothed cross-entropy, torch.optim.AdamW, and the input's gradient
(the cut gradient a split server returns). Written independently of model.py on purpose.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LoraQV(nn.Module):
    def __init__(self, d: int, r: int, alpha: float, p: float):
        super().__init__()
        self.scale = alpha / r
        self.drop = nn.Dropout(p)
        self.a_q = nn.Parameter(torch.empty(d, r).uniform_(-1 / math.sqrt(d), 1 / math.sqrt(d)))
        self.b_q = nn.Parameter(torch.zeros(r, d))
        self.a_v = nn.Parameter(torch.empty(d, r).uniform_(-1 / math.sqrt(d), 1 / math.sqrt(d)))
        self.b_v = nn.Parameter(torch.zeros(r, d))

    def forward(self, x):
        x = self.drop(x)
        return (x @ self.a_q @ self.b_q) * self.scale, (x @ self.a_v @ self.b_v) * self.scale


class Block(nn.Module):
    def __init__(self, d: int, heads: int, lora: LoraQV):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.lora = lora
        for p in [*self.ln_1.parameters(), *self.ln_2.parameters(), *self.c_attn.parameters(), *self.c_proj.parameters(), *self.c_fc.parameters(), *self.mlp_proj.parameters()]:
            p.requires_grad_(False)

    def forward(self, x):
        B, T, d = x.shape
        h = self.ln_1(x)
        q, k, v = self.c_attn(h).split(d, dim=-1)
        dq, dv = self.lora(h)
        q, v = q + dq, v + dv
        q, k, v = (t.view(B, T, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
            att = att.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            y = att.softmax(-1) @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class ServerPart(nn.Module):
    def __init__(self, d: int, heads: int, blocks: int, vocab: int, r=4, alpha=32.0, p=0.1):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d, heads, LoraQV(d, r, alpha, p)) for _ in range(blocks))
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        self.wte = nn.Parameter(torch.randn(vocab, d) * 0.02, requires_grad=False)
        self.ln_f.requires_grad_(False)

    def forward(self, acts, targets, weights, smoothing=0.1):
        h = acts
        for b in self.blocks:
            h = b(h)
        h = h.reshape(-1, h.shape[-1])
        rows = weights.nonzero(as_tuple=True)[0]
        logits = self.ln_f(h[rows]) @ self.wte.t()
        loss = F.cross_entropy(logits, targets[rows], reduction="none", label_smoothing=smoothing)
        return (loss * weights[rows]).sum()


def make(d: int, heads: int, blocks: int, vocab: int, device, lr=2e-4):
    model = ServerPart(d, heads, blocks, vocab).to(device)
    lora = [p for p in model.parameters() if p.requires_grad]
    return model, torch.optim.AdamW(lora, lr=lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)


def step(model, opt, acts, targets, weights):
    """One server step: forward, loss, backward, AdamW; returns the loss and ∂loss/∂acts."""
    acts = acts.detach().requires_grad_(True)
    opt.zero_grad(set_to_none=True)
    loss = model(acts, targets, weights)
    loss.backward()
    opt.step()
    return loss.detach(), acts.grad
