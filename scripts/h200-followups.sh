#!/usr/bin/env bash
# The H200 follow-ups of 12-02 (issues 11, 12, 14), in one device call of ≈ 2 minutes: our CUDA
# FFT and the cuFFT route at L = 2^26 beside torch's CUDA FFT (the bar not yet measured); the
# attention_flash sweep after the contraction fix (attention_sdpa's was clean); and route-check
# again for the kernels the router missed on the H200, with the interpolation fix, on the
# committed H200 profile. Run from the repo root with dist/ from scripts/gpu-dist.sh; results
# land in $OUT.
#   OUT=/some/dir scripts/h200-followups.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/kroute-followups}
source scripts/device-lib.sh
{
# L = 2^26 (N = 67,108,864): the f64 reference ≈ 15 s, torch's start ≈ 15 s.
step 80 fft-2e26 $K bench --kernel fft_radix2 --backend cuda --n 67108864 --peers torch-cuda \
    --budget-ms 300 --json "$OUT/fft-2e26.json"
step 35 flash-sweep $K verify --sweep --kernel attention_flash --backend cuda --seconds 12 \
    --json "$OUT/flash-sweep.json"
step 40 recheck $K route-check --profile docs/data/router-h200-profile.json --quick --budget-ms 20 \
    --max-n 3e6 --kernel matmul_batched --kernel conv1d --kernel fir_filter --kernel spectral_power \
    --json "$OUT/recheck.json"
echo; echo "== done $(date -u +%FT%TZ) status=$status"
exit $status   # the braces run in a subshell: its status is the pipeline's (pipefail)
} 2>&1 | tee "$OUT/log.txt"
