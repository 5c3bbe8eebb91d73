#!/usr/bin/env bash
# The CUDA checks in one go, for a machine with an NVIDIA GPU (run from the repository root):
# the CUDA-marked tests, `--device auto` picking the GPU, and the compute benchmark on CUDA
# (PIL stays on the CPU). Logs go to $OUT (default ./gpu-check).
#     bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO GPU')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== CUDA tests"
timeout 300 python3 -m pytest -q -m cuda -p no:cacheprovider 2>&1 | tee "$OUT/cuda_tests.log" | tail -5

echo "== --device auto on this machine"
python3 -m nssr_cli upscale examples/photo.png -s 2 -o "$OUT/auto.png" --overwrite -v --json \
    >"$OUT/auto.json" 2>"$OUT/auto.err"; echo "exit $?"; cat "$OUT/auto.json" "$OUT/auto.err" | head -20

echo "== compute on CUDA vs PIL on the CPU"
timeout 240 python3 benchmarks/speed.py --device cuda --cases compute --repeat 5 \
    --json "$OUT/speed_cuda.json" 2>&1 | tee "$OUT/speed_cuda.log"
echo "== 100 MP output on CUDA, ×2"
timeout 120 python3 benchmarks/speed.py --device cuda --cases compute --scales 2 --fractional \
    --megapixels 100 --no-reference --repeat 3 2>&1 | tee "$OUT/speed_cuda_100mp.log"
