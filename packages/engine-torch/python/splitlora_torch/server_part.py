"""One run's server part: the compute service of apps/server/src/compute/server-compute.ts in torch.

step: a batched SplitLoRA server step. Rows of every client in the group run as one batch, padded
to the longest sequence (padding sits after each row's tokens with weight 0, so the causal mask
keeps it from real positions). The loss is the mean of the clients' losses, so each client gets
exactly ∂loss_c/∂acts_c and one AdamW step covers the group.

forward_top / backward_top: the U-shaped split. A client's input is held until its ∂loss/∂h_L
arrives; the backward recomputes the forward with the same per-forward dropout seeds.
"""
import time
from typing import Dict, List, Optional

import torch

from .adamw import SPLITLORA_ADAMW, AdamW, schedule_of
from .model import Dropout, ServerPartModel
from .seeds import step_seed, top_dropout_seed

MAX_HELD = 4096  # held forwards per part: a client holds one, so this bounds a flood


def mask_weights(mask: torch.Tensor) -> torch.Tensor:
    """loss.ts maskWeights: mask / Σmask in float64, stored as float32 (zeros for an empty mask)."""
    total = float(mask.double().sum())
    if total <= 0:
        return torch.zeros_like(mask, dtype=torch.float32)
    return (mask.double() / total).float()


class ServerPart:
    def __init__(self, spec: dict, weights: Dict[str, torch.Tensor], device, to_tensor):
        self.spec = spec
        self.device = device
        self.labels = spec.get("labels", "server")
        self.model = ServerPartModel(spec["config"], weights, spec["cut"], spec["lora"], device)
        frm = spec.get("from")
        adapter = frm["adapter"] if frm else spec["initAdapter"]
        self.model.load_adapter({k: to_tensor(v) for k, v in adapter.items()})
        self.opt = AdamW(spec["lr"], schedule_of(spec["schedule"]), SPLITLORA_ADAMW["beta1"], SPLITLORA_ADAMW["beta2"],
                         SPLITLORA_ADAMW["eps"], SPLITLORA_ADAMW["weightDecay"])
        self.stats = {"serverSteps": 0, "tokens": 0}
        if self.labels == "client":
            self.stats["forwards"] = 0
        self.held: Dict[tuple, dict] = {}
        if frm:
            self._import_optimizer(frm["optimizer"], to_tensor)
            self.stats.update(frm["stats"])

    @property
    def dropout_p(self) -> float:
        return self.spec["lora"]["dropout"]

    def _import_optimizer(self, state: dict, to_tensor) -> None:
        self.opt.import_state({"step": state["step"], "m": {k: to_tensor(v) for k, v in state["m"].items()},
                               "v": {k: to_tensor(v) for k, v in state["v"].items()}}, self.device)

    def _grads(self):
        return {n: p.grad for n, p in self.model.params.items()}

    def _zero_grads(self):
        for p in self.model.params.values():
            p.grad = None

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @staticmethod
    def _pack(items: List[torch.Tensor], d: int):
        """[Σ B_c, T, d] with zero padding after each item's rows (T: the longest)."""
        T = max(t.shape[1] for t in items)
        padded = [t if t.shape[1] == T else torch.cat([t, t.new_zeros(t.shape[0], T - t.shape[1], d)], 1) for t in items]
        return torch.cat(padded, 0), T

    # ---- SplitLoRA ----

    def step(self, group: List[dict]):
        if self.labels == "client":
            raise ValueError('this run keeps the labels in the clients (labels "client"): its steps are forward-top and backward-top')
        t0 = time.perf_counter()
        d = self.spec["config"]["nEmbd"]
        n = len(group)
        acts_list, tgt_rows, w_rows = [], [], []
        T = max(g["acts"].shape[1] for g in group)
        for g in group:
            B, Tc = g["acts"].shape[0], g["acts"].shape[1]
            acts_list.append(g["acts"])
            w = (mask_weights(g["mask"]).double() / n).float().view(B, Tc)
            tg = g["targets"].view(B, Tc)
            if Tc < T:
                w = torch.cat([w, w.new_zeros(B, T - Tc)], 1)
                tg = torch.cat([tg, tg.new_zeros(B, T - Tc)], 1)
            w_rows.append(w)
            tgt_rows.append(tg)
        acts, _ = self._pack([a.to(self.device) for a in acts_list], d)
        weights = torch.cat(w_rows, 0).reshape(-1).to(self.device)
        targets = torch.cat(tgt_rows, 0).reshape(-1).to(self.device, torch.int64)
        acts.requires_grad_(True)
        drop = Dropout(self.dropout_p, seed=step_seed(self.spec["seed"], self.stats["serverSteps"])) if self.dropout_p > 0 else None
        self._zero_grads()
        loss, per_row = self.model.head_loss(self.model.hidden(acts, drop), targets, weights, self.spec["smoothing"])
        loss.backward()
        self.opt.apply(self.model.params, self._grads())
        grad_all = acts.grad.detach()
        per_row = per_row.view(-1, T)
        replies, r0, tokens = [], 0, 0
        for g in group:
            B, Tc = g["acts"].shape[0], g["acts"].shape[1]
            loss_c = float(per_row[r0:r0 + B].double().sum() * n)
            grad = (grad_all[r0:r0 + B, :Tc] * n).contiguous().cpu()
            replies.append({"loss": loss_c, "grad": grad})
            r0 += B
            tokens += B * Tc
        self._zero_grads()
        self.stats["serverSteps"] += 1
        self.stats["tokens"] += tokens
        self._sync()
        return {"replies": replies, "busyMs": (time.perf_counter() - t0) * 1000}

    # ---- U-shaped ----

    def _middle(self):
        if self.labels != "client":
            raise ValueError('this run computes the loss on the server (labels "server"): its steps are step requests')

    def _segments(self, items, T):
        return [(it["seed"], it["acts"].shape[0], it["acts"].shape[1], T) for it in items]

    def forward_top(self, group: List[dict]):
        self._middle()
        t0 = time.perf_counter()
        d = self.spec["config"]["nEmbd"]
        first = self.stats.get("forwards", 0)
        items = [{**g, "seed": top_dropout_seed(self.spec["seed"], first + j)} for j, g in enumerate(group)]
        acts, T = self._pack([it["acts"].to(self.device) for it in items], d)
        drop = Dropout(self.dropout_p, segments=self._segments(items, T)) if self.dropout_p > 0 else None
        with torch.no_grad():
            top = self.model.hidden(acts, drop).view(acts.shape[0], T, d)
        self.stats["forwards"] = first + len(items)
        for it in items:
            for key in [k for k, h in self.held.items() if h["clientId"] == it["clientId"]]:
                del self.held[key]  # one forward per client
            if len(self.held) >= MAX_HELD:
                del self.held[next(iter(self.held))]
            self.held[(it["clientId"], it["step"])] = {"clientId": it["clientId"], "acts": it["acts"], "seed": it["seed"]}
        replies, r0 = [], 0
        for it in items:
            B, Tc = it["acts"].shape[0], it["acts"].shape[1]
            replies.append({"top": top[r0:r0 + B, :Tc].contiguous().cpu()})
            r0 += B
        self._sync()
        return {"replies": replies, "busyMs": (time.perf_counter() - t0) * 1000}

    def backward_top(self, group: List[dict]):
        self._middle()
        t0 = time.perf_counter()
        d = self.spec["config"]["nEmbd"]
        found = []
        for g in group:
            h = self.held.pop((g["clientId"], g["step"]), None)
            ok = h is not None and list(h["acts"].shape) == list(g["grad"].shape)
            found.append({**h, "grad": g["grad"]} if ok else None)
        items = [f for f in found if f is not None]
        if not items:
            return {"replies": [None] * len(group), "busyMs": (time.perf_counter() - t0) * 1000}
        n = len(items)
        acts, T = self._pack([it["acts"].to(self.device) for it in items], d)
        dy, _ = self._pack([it["grad"].to(self.device) for it in items], d)
        dy = dy / n  # the server loss is the mean of the clients' losses
        acts.requires_grad_(True)
        drop = Dropout(self.dropout_p, segments=self._segments(items, T)) if self.dropout_p > 0 else None
        self._zero_grads()
        top = self.model.hidden(acts, drop)
        top.backward(dy.reshape(-1, d))
        self.opt.apply(self.model.params, self._grads())
        grad_all = acts.grad.detach()
        grads, r0 = [], 0
        for it in items:
            B, Tc = it["acts"].shape[0], it["acts"].shape[1]
            grads.append((grad_all[r0:r0 + B, :Tc] * n).contiguous().cpu())
            r0 += B
        self._zero_grads()
        it_grads = iter(grads)
        replies = [{"grad": next(it_grads)} if f is not None else None for f in found]
        self.stats["serverSteps"] += 1
        self.stats["tokens"] += sum(it["acts"].shape[0] * it["acts"].shape[1] for it in items)
        self._sync()
        return {"replies": replies, "busyMs": (time.perf_counter() - t0) * 1000}

    def drop_held(self, client_id: Optional[str]) -> None:
        for key in [k for k, h in self.held.items() if client_id is None or h["clientId"] == client_id]:
            del self.held[key]

    # ---- state ----

    def snapshot(self):
        st = self.opt.export_state()
        return {"adapter": self.model.adapter(), "optimizer": {"step": st["step"], "m": st["m"], "v": st["v"]}, "stats": dict(self.stats)}

    def restore(self, snap: dict, to_tensor) -> None:
        self.held.clear()  # forwards of the abandoned steps: their clients redo them
        self.model.load_adapter({k: to_tensor(v) for k, v in snap["adapter"].items()})
        self._import_optimizer(snap["optimizer"], to_tensor)
        self.stats.update(snap["stats"])
