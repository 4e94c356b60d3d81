"""AdamW as packages/model/src/adamw.ts: a bias-corrected Adam step, then decoupled decay p -= lr·wd·p.

The moments are created at the first step (an exported state before it has none), and the step
count drives the learning-rate schedule, so a restored state continues exactly where it was.
"""
import math
from typing import Dict

import torch

SPLITLORA_ADAMW = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weightDecay": 0.01}


def schedule_of(spec: dict):
    """The server's lr multiplier at (1-based) step t: linear warm-up then decay to 0, or constant."""
    if spec.get("kind") != "linear":
        return lambda t: 1.0
    warmup, total = spec["warmup"], spec["total"]

    def linear(t: int) -> float:
        if warmup > 0 and t < warmup:
            return t / warmup
        if total <= warmup:
            return 1.0
        return max(0.0, (total - t) / (total - warmup))

    return linear


class AdamW:
    def __init__(self, lr: float, schedule=None, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.01):
        self.lr, self.b1, self.b2, self.eps, self.wd = lr, beta1, beta2, eps, weight_decay
        self.schedule = schedule or (lambda t: 1.0)
        self.step = 0
        self.m: Dict[str, torch.Tensor] = {}
        self.v: Dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def apply(self, params: Dict[str, torch.Tensor], grads: Dict[str, torch.Tensor]) -> None:
        self.step += 1
        lr = self.lr * self.schedule(self.step)
        step_size = lr * math.sqrt(1 - self.b2 ** self.step) / (1 - self.b1 ** self.step)
        for name, p in params.items():
            g = grads.get(name)
            if g is None:
                raise ValueError(f'adamw: no gradient for "{name}"')
            m = self.m.setdefault(name, torch.zeros_like(p))
            v = self.v.setdefault(name, torch.zeros_like(p))
            m.mul_(self.b1).add_(g * (1 - self.b1))
            v.mul_(self.b2).add_(g.square() * (1 - self.b2))
            nxt = p - (m / (v.sqrt() + self.eps)) * step_size
            if self.wd > 0:
                nxt = nxt - nxt * (lr * self.wd)
            p.copy_(nxt)

    def export_state(self):
        return {"step": self.step, "m": dict(self.m), "v": dict(self.v)}

    def import_state(self, state: dict, device) -> None:
        self.step = int(state["step"])
        self.m = {k: t.to(device, torch.float32).clone() for k, t in state["m"].items()}
        self.v = {k: t.to(device, torch.float32).clone() for k, t in state["v"].items()}
