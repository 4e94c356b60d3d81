"""The integer seeds and dropout streams of packages/model/src/lora.ts and server-compute.ts, bit for bit.

JavaScript's Math.imul and `^` work on int32 and `>>> 0` on uint32; these helpers reproduce them
with Python ints; keep_mask does the same mixing on tensors (int64 for the row keys, int32 with
wrapping products for the elements).
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


def _mix32_rows(x: torch.Tensor) -> torch.Tensor:
    """mix on int64 values < 2**32 (the per-row keys: few, so exactness is cheap)."""
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & M32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & M32
    return x ^ (x >> 15)


def _mix32_inplace(x: torch.Tensor) -> torch.Tensor:
    """mix in place on int32 tensors that hold uint32 bits: products wrap mod 2**32 as Math.imul's
    do, and the right shifts are masked to be logical (int32 >> sign-extends)."""
    x.bitwise_xor_((x >> 16) & 0xFFFF)
    x.mul_(0x21F0AAAD)
    x.bitwise_xor_((x >> 15) & 0x1FFFF)
    x.mul_(0x735A2D97)
    x.bitwise_xor_((x >> 15) & 0x1FFFF)
    return x


def keep_mask(seed: int, p: float, start_row: int, rows: int, cols: int, device) -> torch.Tensor:
    """lora.ts dropoutKeepBits as a bool [rows, cols]: rows [start_row, start_row + rows) of stream `seed`."""
    k = _mix32_int(seed ^ 0x5F356495)
    r = torch.arange(start_row, start_row + rows, dtype=torch.int64, device=device)
    row_key = _mix32_rows(_mix32_rows((r + k) & M32) ^ k)
    row_key = torch.where(row_key >= (1 << 31), row_key - (1 << 32), row_key).to(torch.int32)
    h = row_key.view(rows, 1) + torch.arange(cols, dtype=torch.int32, device=device).view(1, cols)
    _mix32_inplace(h)
    # Unsigned h >= threshold, in int32: flip both sides' sign bit.
    h.bitwise_xor_(-(1 << 31))
    return h >= int(p * 4294967296) - (1 << 31)
