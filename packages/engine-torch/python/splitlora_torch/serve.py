"""The torch engine's process: `python3 -m splitlora_torch.serve [--device D] [--threads N]`.

Reads requests from stdin and writes replies to stdout (wire.py frames); everything else it
prints goes to stderr. Requests are served one at a time, in order, as the tfjs worker does.
Messages (apps/server/src/compute/messages.ts, plus `weight`, which sends one frozen tensor):
  → {id, req: {op, ...}}
  ← {kind: 'ready', backend, device, deviceName, threads, torch} | {kind: 'start-failed', error}
  ← {kind: 'reply', id, ok: true, result} | {kind: 'reply', id, ok: false, error, fatal}
A fatal error (CUDA out of memory, a lost device) is answered, then the process exits, so that
the server starts a fresh one and restores the run from its restore point.
"""
import argparse
import os
import sys
import traceback

from . import MIN_TORCH


def _start_failed(out, write_frame, message):
    write_frame(out, {"kind": "start-failed", "error": message})
    sys.exit(1)


def is_fatal(e: BaseException) -> bool:
    text = str(e)
    return isinstance(e, MemoryError) or "out of memory" in text or "CUDA error" in text or "device-side assert" in text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="splitlora_torch.serve")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: every core)")
    ap.add_argument("--allow-faults", action="store_true", help="accept fault requests (tests only)")
    args = ap.parse_args(argv)

    # Frames own fd 1; anything else written to stdout (a library's print) lands on stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer

    from .wire import read_frame, record_of, tensor_of, write_frame
    import torch

    version = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2] if x.isdigit())
    if version < MIN_TORCH:
        _start_failed(out, write_frame, f"torch {torch.__version__} is too old: the engine needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]}")
    if args.device == "cuda" and not torch.cuda.is_available():
        why = "this torch was built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        _start_failed(out, write_frame, f"--device cuda: CUDA is not available ({why}); use --device cpu or auto")
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    threads = args.threads if args.threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.set_grad_enabled(True)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"

    from .model import ServerPartModel
    from .server_part import ServerPart

    weights = {}
    parts = {}
    full = {}

    def part(key):
        p = parts.get(key)
        if p is None:
            raise ValueError(f'torch engine: no server part "{key}" is open here')
        return p

    def host(t):
        return {"shape": list(t.shape), "data": t}

    def step_group(group):
        return [{"clientId": g["clientId"], "acts": tensor_of(g["acts"]),
                 "targets": torch.from_numpy(g["targets"].astype("int64")), "mask": torch.from_numpy(g["mask"])} for g in group]

    def memory():
        tensors = list(weights.values())
        for p in parts.values():
            tensors += list(p.model.params.values()) + list(p.opt.m.values()) + list(p.opt.v.values())
        rss = None
        try:
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        return {"backend": f"torch-{device.type}", "numTensors": len(tensors), "numBytes": sum(t.numel() * t.element_size() for t in tensors),
                "wasmHeapBytes": None, "rssBytes": rss,
                "cudaPeakBytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None}

    def handle(req):
        op = req["op"]
        if op == "weight":
            weights[req["name"]] = tensor_of(req, device)
            return None
        if op == "open":
            spec = req["spec"]
            parts[req["key"]] = ServerPart(spec, weights, device, tensor_of)
            return None
        if op == "open-full":
            # The whole model with one adapter, for held-out NLL (evaluation); it never trains.
            model = ServerPartModel(req["config"], weights, 0, req["lora"], device)
            model.load_adapter({k: tensor_of(v) for k, v in req["adapter"].items()})
            full[req["key"]] = model
            return None
        if op == "nll":
            b = req["batch"]
            model = full.get(req["key"])
            if model is None:
                raise ValueError(f'torch engine: no whole model "{req["key"]}" is open here')
            ids = torch.from_numpy(b["ids"].astype("int64")).view(b["batch"], b["seqLen"]).to(device)
            nll, count = model.nll(ids, torch.from_numpy(b["targets"].astype("int64")).to(device), torch.from_numpy(b["mask"]).to(device))
            return {"nll": nll, "count": count}
        if op == "step":
            r = part(req["key"]).step(step_group(req["group"]))
            return {"replies": [{"loss": x["loss"], "grad": host(x["grad"])} for x in r["replies"]], "busyMs": r["busyMs"]}
        if op == "forward-top":
            group = [{"clientId": g["clientId"], "step": g["step"], "acts": tensor_of(g["acts"])} for g in req["group"]]
            r = part(req["key"]).forward_top(group)
            return {"replies": [{"top": host(x["top"])} for x in r["replies"]], "busyMs": r["busyMs"]}
        if op == "backward-top":
            group = [{"clientId": g["clientId"], "step": g["step"], "grad": tensor_of(g["grad"])} for g in req["group"]]
            r = part(req["key"]).backward_top(group)
            return {"replies": [None if x is None else {"grad": host(x["grad"])} for x in r["replies"]], "busyMs": r["busyMs"]}
        if op == "drop-held":
            part(req["key"]).drop_held(req.get("clientId"))
            return None
        if op == "snapshot":
            s = part(req["key"]).snapshot()
            rec = lambda d: {k: record_of(t) for k, t in d.items()}
            return {"adapter": rec(s["adapter"]), "optimizer": {"step": s["optimizer"]["step"], "m": rec(s["optimizer"]["m"]), "v": rec(s["optimizer"]["v"])}, "stats": s["stats"]}
        if op == "restore":
            part(req["key"]).restore(req["snapshot"], tensor_of)
            return None
        if op == "close":
            parts.pop(req["key"], None)
            full.pop(req["key"], None)
            return None
        if op == "memory":
            return memory()
        if op == "fault":
            if not args.allow_faults:
                raise ValueError("torch engine: fault requests are for tests only")
            if req["kind"] == "exit":
                os._exit(3)
            raise RuntimeError("CUDA error: fault injected by a test")
        raise ValueError(f'torch engine: the "{op}" request is not served here (evaluation and client files run on tfjs)')

    write_frame(out, {"kind": "ready", "backend": f"torch-{device.type}", "device": device.type, "deviceName": device_name,
                      "threads": threads, "torch": torch.__version__})
    while True:
        env = read_frame(inp)
        if env is None:
            return  # the server closed our stdin: it is gone or closing us
        try:
            result = handle(env["req"])
            write_frame(out, {"kind": "reply", "id": env["id"], "ok": True, "result": result})
        except Exception as e:  # every error answers its request; fatal ones also end the process
            fatal = is_fatal(e)
            if not isinstance(e, ValueError):
                traceback.print_exc(file=sys.stderr)
            write_frame(out, {"kind": "reply", "id": env["id"], "ok": False, "error": str(e) or type(e).__name__, "fatal": fatal})
            if fatal:
                os._exit(70)


if __name__ == "__main__":
    main()
