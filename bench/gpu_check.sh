#!/usr/bin/env bash
# Throughput of 1, 2 and 4 raysweep trials packed on one GPU (gpus_per_trial 1, 0.5, 0.25),
# then bf16 / fp16 against fp32 and torch.compile against eager in raysweep's loop, then (with
# 2 GPUs or more) one trial on 1 GPU against the same trial as 2 DDP workers x 1 GPU.
# Run from anywhere on a machine with an NVIDIA GPU and a CUDA build of torch in .venv:
#     bash bench/gpu_check.sh            # about 3-4 minutes, capped at 290 s + 200 s
# Prints tables and writes bench/results/gpu.json and precision_cuda.json. Exits 1 with a
# message if there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "error: no NVIDIA GPU found (nvidia-smi missing or failing); run this on a GPU machine" >&2
    exit 1
fi
nvidia-smi -L
timeout 290 "$PY" -m bench.gpu_check "$@"
timeout 200 "$PY" -m bench.gpu_precision
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
    exec timeout 300 "$PY" -m bench.gpu_ddp   # writes bench/results/gpu_ddp.json
fi
echo "one GPU only: the 1-GPU against 2-worker comparison (bench.gpu_ddp) needs 2" >&2
