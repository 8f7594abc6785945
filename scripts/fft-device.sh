#!/usr/bin/env bash
# fft on the GPU machine (issue 12): our cuda FFT and the cufft routes verified (default sizes,
# 10^8 left to the bench, and the sweep), compute-sanitizer memcheck on two fft kernels, and the benchmark at 10^7 and
# 10^8 against torch's CUDA FFT (which is cuFFT). Run from the repo root with the release binary
# at dist/kroute (scripts/gpu-dist.sh; carry dist); everything lands in $OUT.
#   OUT=/some/dir scripts/fft-device.sh
# Device time (≤ 5 minutes): each step runs under a timeout and the timeouts sum to 300 s.
# Expected ≈ 4.3 minutes, from the H200's earlier fft runs and this machine's f64 reference:
# verify (5 kernels × 2 implementations; the f64 reference FFT of 2^23 points ≈ 1 s per kernel
# on the host) ≈ 20 s; sweep ≈ 25 s of named cases (sizes to 2^20, 27 value transforms) + 15 s
# random; memcheck (two kernels × two implementations at 10^5 and 1000003 under the sanitizer)
# ≈ 40 s; bench 10^7 (torch start ≈ 15 s, then 5 kernels × (2 impls + torch) × 2 rounds ×
# 0.3 s plus verification) ≈ 45 s; bench 10^8 (the f64 reference of 2^26 points ≈ 15 s per
# kernel, .npy files of 512 MiB for torch) ≈ 100 s.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/kroute-fft-out}
source scripts/device-lib.sh

$K list --domain fft > "$OUT/list.txt" 2>&1; cat "$OUT/list.txt"
step 45 verify $K verify --domain fft --backend cuda --no-large --json "$OUT/verify.json"
step 55 sweep $K verify --sweep --domain fft --backend cuda --seconds 15 --json "$OUT/sweep.json"
# Two of our kernels (the c2c passes, and the rfft's half-length FFT plus separation pass) and
# one cuFFT route (its finishing pass) under memcheck.
step 50 memcheck compute-sanitizer --tool memcheck --error-exitcode 3 \
    $K verify --kernel fft_radix2 --kernel spectral_power --impl cuda --impl cufft --n 100000 --no-large
step 50 bench-1e7 $K bench --domain fft --backend cuda --n 10000000 --peers torch-cuda --budget-ms 300 \
    --json "$OUT/bench-1e7.json"
step 100 bench-1e8 $K bench --domain fft --backend cuda --n 100000000 --peers torch-cuda --budget-ms 300 \
    --json "$OUT/bench-1e8.json"
echo; echo "== done $(date -u +%FT%TZ) status=$status"
exit $status
