"""The integer seeds and dropout streams of packages/model/src/lora.ts and server-compute.ts, bit for bit.

JavaScript's Math.imul and `^` work on int32 and `>>> 0` on uint32; these helpers reproduce them
with Python ints, and keep_mask does the same mixing on int64 tensors (every product < 2**63).
"""
import torch

M32 = 0xFFFFFFFF


def to_int32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x >= (1 << 31) else x


def imul(a: int, b: int) -> int:
    return to_int32(to_int32(a) * to_int32(b))


def site_seed(seed: int, block: int, site: str) -> int:
    """lora.ts siteSeed: the stream of one (step seed, block, module input)."""
    h = to_int32(to_int32(seed) ^ to_int32(0x9E3779B9)) + block * 0x85EBCA6B
    for ch in site:
        h = imul(to_int32(h) ^ ord(ch), 0x01000193)
    return (h & M32) % 2147483647


def top_dropout_seed(run_seed: int, forward: int) -> int:
    """server-compute.ts topDropoutSeed: the U-shaped server's seed of the n-th client forward."""
    return ((imul(run_seed + 1, 0x9E3779B1) + imul(forward, 0x85EBCA6B)) & M32) % 2147483647


def step_seed(run_seed: int, server_steps: int) -> int:
    """server-compute.ts: the SplitLoRA server step's dropout seed."""
    return (run_seed * 1_000_003 + server_steps) % 2147483647


def _mix32_int(x: int) -> int:
    x &= M32
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & M32
    x ^= x >> 15
    x = (x * 0x735A2D97) & M32
    return x ^ (x >> 15)


def _mix32(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & M32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & M32
    return x ^ (x >> 15)


def keep_mask(seed: int, p: float, start: int, rows: int, cols: int, device) -> torch.Tensor:
    """lora.ts dropoutKeepBits as a bool [rows, cols]: elements [start, start + rows·cols) of stream `seed`."""
    if start + rows * cols > (1 << 32):
        raise ValueError("dropout stream index beyond 2^32")
    k = _mix32_int(seed ^ 0x5F356495)
    threshold = int(p * 4294967296)  # floor: p ≥ 0
    idx = torch.arange(start, start + rows * cols, dtype=torch.int64, device=device)
    h = _mix32(_mix32((idx + k) & M32) ^ k)
    return (h >= threshold).view(rows, cols)
