"""Frames on the child's pipes: a 4-byte little-endian length, then one msgpack value.

Typed arrays travel as msgpackr's typed-array extension (type 0x74: one byte naming the array
type, then its raw little-endian bytes), which is what the Node side's Packr({moreTypes}) writes
and reads. No floats ever go through JSON or msgpack float encoding.
"""
import struct
import sys

import msgpack
import numpy as np
import torch

EXT_TYPED_ARRAY = 0x74
# msgpackr's typed-array codes (Int8Array = 0 … Float64Array = 8).
CODE_TO_DTYPE = {0: np.int8, 1: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32, 7: np.float32, 8: np.float64}
DTYPE_TO_CODE = {np.dtype(v): k for k, v in CODE_TO_DTYPE.items()}
TORCH_TO_CODE = {torch.float32: 7, torch.int32: 5, torch.uint8: 1, torch.float64: 8}


def _ext_hook(code, data):
    if code == 0:  # msgpackr writes JavaScript's undefined as fixext 1 of type 0
        return None
    if code != EXT_TYPED_ARRAY:
        return msgpack.ExtType(code, data)
    return np.frombuffer(data, dtype=CODE_TO_DTYPE[data[0]], offset=1).copy()


def _default(obj):
    if isinstance(obj, torch.Tensor):
        t = obj.detach().contiguous().cpu()
        return msgpack.ExtType(EXT_TYPED_ARRAY, bytes([TORCH_TO_CODE[t.dtype]]) + t.numpy().tobytes())
    if isinstance(obj, np.ndarray):
        return msgpack.ExtType(EXT_TYPED_ARRAY, bytes([DTYPE_TO_CODE[obj.dtype]]) + np.ascontiguousarray(obj).tobytes())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    raise TypeError(f"cannot send a {type(obj).__name__}")


def read_frame(stream):
    """The next message, or None at the end of the stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    body = stream.read(n)
    if len(body) < n:
        return None
    return msgpack.unpackb(body, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def write_frame(stream, message) -> None:
    body = msgpack.packb(message, default=_default, use_bin_type=True)
    stream.write(struct.pack("<I", len(body)))
    stream.write(body)
    stream.flush()


def tensor_of(rec, device=None) -> torch.Tensor:
    """{shape, data} (a TensorRecord entry) → a float32 tensor."""
    t = torch.from_numpy(np.asarray(rec["data"], dtype=np.float32)).view(*rec["shape"]) if rec["shape"] else torch.from_numpy(np.asarray(rec["data"], dtype=np.float32)).view(())
    return t if device is None else t.to(device)


def record_of(t: torch.Tensor) -> dict:
    """A float32 tensor → {shape, data}."""
    return {"shape": list(t.shape), "data": t.detach().float().contiguous().cpu()}


def host_error(message: str) -> None:
    sys.stderr.write(message.rstrip() + "\n")
    sys.stderr.flush()
