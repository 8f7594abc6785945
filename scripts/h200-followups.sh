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
mkdir -p "$OUT"
K=./dist/kroute
export PYTHONUNBUFFERED=1 KROUTE_CACHE_DIR=/tmp/kroute-cache

# NVRTC and cuFFT: the CUDA toolkit's, else the pip wheels' (torch ships both).
sites=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
for want in libnvrtc.so.13 'libcufft.so.1[0-9]*'; do
    if ! ldconfig -p 2>/dev/null | grep -q "${want%%\**}"; then
        lib=$(ls /usr/local/cuda/lib64/$want /usr/local/cuda/targets/x86_64-linux/lib/$want \
            $(for s in $sites; do echo "$s/nvidia/cu13/lib/$want $s/nvidia/cufft/lib/$want"; done) 2>/dev/null | head -1)
        [ -n "$lib" ] && export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
done
{ echo "== $(date -u +%FT%TZ)"; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv; } 2>&1 | tee "$OUT/log.txt"
status=0
step() {
    local t=$1 name=$2; shift 2
    echo; echo "== $name: $*"
    timeout "$t" "$@" > "$OUT/$name.txt" 2>&1
    local rc=$?
    tail -30 "$OUT/$name.txt"
    [ $rc -ne 0 ] && { echo "!! rc=$rc: $name"; status=1; }
    return 0
}
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
} 2>&1 | tee -a "$OUT/log.txt"
exit $status
