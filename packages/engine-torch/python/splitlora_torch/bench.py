"""Server-step speed of the torch engine against the plain PyTorch loop, Python only.

`python3 -m splitlora_torch.bench --device cuda` runs on a machine with torch and no Node (the
GPU pack): GPT-2 S and M server parts at a quarter cut, B×T = 8×128 with a half-prompt mask, 1, 4
and 8 batched clients, random weights. Each setup times the engine's ServerPart (the math
serve.py runs, without the pipes) and reference.py's plain loop side by side, and the last stdout
line is one JSON object. FLOPs follow apps/lab/src/cost-model.ts (matmuls only, frozen weights need
input gradients only).
"""
import argparse
import json
import os
import statistics
import time

import torch

from .model import lora_names
from .reference import make as make_reference, step as reference_step
from .server_part import ServerPart

PRESETS = {
    "gpt2": {"vocabSize": 50257, "nPositions": 1024, "nEmbd": 768, "nLayer": 12, "nHead": 12, "layerNormEps": 1e-5},
    "gpt2-medium": {"vocabSize": 50257, "nPositions": 1024, "nEmbd": 1024, "nLayer": 24, "nHead": 16, "layerNormEps": 1e-5},
    "nano": {"vocabSize": 50257, "nPositions": 128, "nEmbd": 48, "nLayer": 3, "nHead": 3, "layerNormEps": 1e-5},
}


def step_flops(cfg, blocks, n_tokens, seq_len, head_rows, r=4, lora_targets=2):
    d, V = cfg["nEmbd"], cfg["vocabSize"]
    linear, attention = 24 * n_tokens * d * d, 4 * n_tokens * seq_len * d
    lora = lora_targets * 2 * n_tokens * r * (d + d)
    head = 2 * head_rows * d * V
    return blocks * (linear + attention + lora) + head + blocks * (linear + 2 * attention + 2 * lora) + head


def random_weights(cfg, first, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    d, V = cfg["nEmbd"], cfg["vocabSize"]
    w = {"wte.weight": torch.randn(V, d, generator=g) * 0.02, "ln_f.weight": torch.ones(d), "ln_f.bias": torch.zeros(d)}
    for i in range(first, cfg["nLayer"]):
        for name, shape in {"attn.c_attn": (d, 3 * d), "attn.c_proj": (d, d), "mlp.c_fc": (d, 4 * d), "mlp.c_proj": (4 * d, d)}.items():
            w[f"h.{i}.{name}.weight"] = torch.randn(*shape, generator=g) * 0.02
            w[f"h.{i}.{name}.bias"] = torch.zeros(shape[1])
        for ln in ("ln_1", "ln_2"):
            w[f"h.{i}.{ln}.weight"], w[f"h.{i}.{ln}.bias"] = torch.ones(d), torch.zeros(d)
    return {k: v.to(device) for k, v in w.items()}


def init_adapter(cfg, first, r=4):
    d = cfg["nEmbd"]
    out = {}
    for name in lora_names(first, cfg["nLayer"], ["q", "v"]):
        out[name] = torch.empty(d, r).uniform_(-1 / d ** 0.5, 1 / d ** 0.5) if name.endswith("A") else torch.zeros(r, d)
    return out


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, steps, warmup):
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def client_group(cfg, n, B, T, seed):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(T) >= T // 2).float().repeat(B)
    return [{"clientId": f"c{c}", "acts": torch.randn(B, T, cfg["nEmbd"], generator=g), "targets": torch.randint(0, cfg["vocabSize"], (B * T,), generator=g), "mask": mask.clone()} for c in range(n)]


def run_setup(preset, cut, n, B, T, device, steps, warmup):
    cfg = PRESETS[preset]
    blocks = cfg["nLayer"] - cut
    weights = random_weights(cfg, cut, device)
    spec = {"config": cfg, "cut": cut, "lora": {"r": 4, "alpha": 32, "dropout": 0.1, "targets": ["q", "v"]}, "seed": 1, "lr": 2e-4,
            "schedule": {"kind": "linear", "warmup": 500, "total": 10_000}, "smoothing": 0.1,
            "initAdapter": {k: {"shape": list(v.shape), "data": v} for k, v in init_adapter(cfg, cut).items()}}
    part = ServerPart(spec, weights, device, lambda rec: rec["data"].reshape(rec["shape"]))
    group = client_group(cfg, n, B, T, seed=n)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    engine_s = timed(lambda: part.step(group), device, steps, warmup)
    engine_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    del part

    # The plain loop on the same rows: n·B sequences, weights mask/Σmask/n per client as the engine uses.
    ref, opt = make_reference(cfg["nEmbd"], cfg["nHead"], blocks, cfg["vocabSize"], device)
    acts = torch.cat([g["acts"] for g in group]).to(device)
    targets = torch.cat([g["targets"] for g in group]).to(device)
    w = torch.cat([g["mask"] / g["mask"].sum() / n for g in group]).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    plain_s = timed(lambda: reference_step(ref, opt, acts, targets, w), device, steps, warmup)
    plain_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    del ref, opt, weights

    tokens = n * B * T
    flops = step_flops(cfg, blocks, tokens, T, head_rows=n * B * (T - T // 2))
    return {"preset": preset, "cut": cut, "blocks": blocks, "clients": n, "batch": B, "seqLen": T,
            "engineStepMs": engine_s * 1000, "plainStepMs": plain_s * 1000, "engineOverPlain": engine_s / plain_s,
            "engineTokensPerSec": tokens / engine_s, "plainTokensPerSec": tokens / plain_s,
            "engineGflops": flops / engine_s / 1e9, "plainGflops": flops / plain_s / 1e9,
            "enginePeakMB": None if engine_peak is None else engine_peak / 2 ** 20, "plainPeakMB": None if plain_peak is None else plain_peak / 2 ** 20}


def rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="splitlora_torch.bench")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--presets", default="gpt2,gpt2-medium")
    ap.add_argument("--clients", default="1,4,8")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0: every core)")
    ap.add_argument("--whole", action="store_true", help="also the whole model (cut 0: every block and the head)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on CUDA (off by default: fp32 as the tfjs engine)")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    setups = []
    for preset in args.presets.split(","):
        cfg = PRESETS[preset]
        cuts = [max(1, cfg["nLayer"] // 4)] + ([0] if args.whole else [])
        for cut in cuts:
            for n in (int(x) for x in args.clients.split(",")):
                r = run_setup(preset, cut, n, args.batch, args.seq_len, device, args.steps, args.warmup)
                setups.append(r)
                print(f"{preset} cut {cut} ×{n} clients: engine {r['engineStepMs']:.0f} ms/step ({r['engineTokensPerSec']:.0f} tok/s, {r['engineGflops']:.0f} GFLOP/s), "
                      f"plain loop {r['plainStepMs']:.0f} ms; engine/plain {r['engineOverPlain']:.2f}", flush=True)
    out = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "torch": torch.__version__,
           "threads": threads, "tf32": bool(args.tf32 and device.type == "cuda"), "peakRssMB": rss_mb(), "setups": setups}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
