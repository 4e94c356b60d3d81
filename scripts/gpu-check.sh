#!/usr/bin/env bash
# The GPU machine's checks in one call (it has Python with torch and CUDA, Vulkan through the
# carried loader, and no Node): first the torch engine's server steps against the plain PyTorch loop
# (Python only, from this repository's packages/engine-torch), then the tfjs/Dawn pack of
# `npm run bench:gpu:pack` when it was carried. Results go to $OUT (the device tool brings it back).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/splitlora-gpu-out}"
mkdir -p "$OUT"
nvidia-smi -L || true

echo "== torch engine vs plain PyTorch loop (GPT-2 S and M, 8x128, 1/4/8 clients, fp32) =="
PYTHONPATH=packages/engine-torch/python timeout 240 python3 -m splitlora_torch.bench --device cuda \
  --presets gpt2,gpt2-medium --clients 1,4,8 --whole --steps 10 --warmup 3 | tee "$OUT/torch-bench.log"
tail -n 1 "$OUT/torch-bench.log" > "$OUT/torch-bench.json"

if [ -d .gpu-pack ]; then
  echo "== tfjs on Dawn/Vulkan (bench:gpu pack) =="
  if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
  SPLITLORA_GPU_OUT="$OUT" bash .gpu-pack/run.sh --budget "${DAWN_BUDGET:-330}"
fi
