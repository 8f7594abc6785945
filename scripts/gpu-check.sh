#!/usr/bin/env bash
# The cuda backend on a GPU machine (the lent H200), from binaries built elsewhere by
# scripts/gpu-dist.sh (dist/ carried along). Writes logs and JSON under $OUT.
#   scripts/gpu-check.sh smoke   probe, verify a few kernels, one short bench, tool checks
#   scripts/gpu-check.sh check | bench | torch   one part of full
#   scripts/gpu-check.sh sweep   kroute verify --sweep on the cuda implementations
#                                (SWEEP_SECONDS of random cases, default 150) and the defect tests
#   scripts/gpu-check.sh ab      A/B timing: dist/kroute-before (an older build) against
#                                dist/kroute, alternating, ROUNDS times, on AB_KERNELS
#   scripts/gpu-check.sh full    verify all 38 (10^8 included), compute-sanitizer memcheck and
#                                racecheck on one kernel per domain, probe, bench at 1e7 and
#                                1e8, and the torch peer on the same shapes
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full}
OUT=${OUT:-/tmp/kroute-gpu-out}
mkdir -p "$OUT"
K=./dist/kroute
export PYTHONUNBUFFERED=1 KROUTE_CACHE_DIR=/tmp/kroute-cache

# NVRTC: the CUDA toolkit's, else the pip wheel's (torch ships one).
if ! ldconfig -p 2>/dev/null | grep -q 'libnvrtc.so.13'; then
    lib=$(ls /usr/local/cuda/lib64/libnvrtc.so.13 /usr/local/cuda/targets/x86_64-linux/lib/libnvrtc.so.13 \
        $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null | tr ' ' '\n' | sed 's|$|/nvidia/cu13/lib/libnvrtc.so.13|') \
        2>/dev/null | head -1)
    [ -n "$lib" ] && export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "== $(date -u +%FT%TZ) mode=$mode LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt"
status=0
step() { echo; echo "== $*"; "$@"; local rc=$?; [ $rc -ne 0 ] && { echo "!! rc=$rc: $*"; status=1; }; return 0; }

if [ "$mode" = smoke ]; then
    step ./dist/cuda_compile --nocapture
    step $K probe
    step $K verify --backend cuda --n 1000000 --no-large
    step $K bench --backend cuda --kernel map_add --kernel reduce_sum --kernel reduce_histogram --n 1e7 --budget-ms 300 --json "$OUT/smoke-bench.json"
    step timeout 120 compute-sanitizer --tool memcheck ./dist/cuda_verify sanitize_reductions_reduce_argmax --test-threads=1
    step python3 peers/torch_cuda.py --kroute $K --n 1e6 --kernel map_add --kernel reduce_histogram --kernel quantize_f16_to_i8 --json "$OUT/smoke-torch.json"
    exit $status
fi

if [ "$mode" = full ] || [ "$mode" = check ]; then
    $K probe --json > "$OUT/probe.json" || status=1
    python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["gpus"], indent=1))' "$OUT/probe.json"
    step $K verify --backend cuda --json "$OUT/verify-cuda.json"
    step ./dist/cuda_verify --skip every_cuda_kernel --test-threads=1
    for tool in memcheck racecheck; do
        echo; echo "== compute-sanitizer --tool $tool (one kernel per domain and more)"
        compute-sanitizer --tool $tool --error-exitcode 3 ./dist/cuda_verify sanitize_ --test-threads=1 \
            > "$OUT/sanitizer-$tool.txt" 2>&1
        rc=$?
        grep -E "^test |ERROR SUMMARY|RACECHECK SUMMARY|test result" "$OUT/sanitizer-$tool.txt"
        [ $rc -ne 0 ] && { echo "!! $tool rc=$rc"; tail -40 "$OUT/sanitizer-$tool.txt"; status=1; }
    done
fi
if [ "$mode" = sweep ]; then
    step $K verify --sweep --backend cuda --seconds "${SWEEP_SECONDS:-150}" --json "$OUT/sweep-cuda.json"
    step ./dist/defects --test-threads=1
fi
if [ "$mode" = ab ]; then
    ks=""
    for k in ${AB_KERNELS:-reduce_sum}; do ks="$ks --kernel $k"; done
    for round in $(seq 1 "${ROUNDS:-2}"); do
        for b in kroute-before kroute; do
            step ./dist/$b bench --backend cuda $ks --n 1e7 --n 1e8 --budget-ms "${AB_BUDGET_MS:-500}" \
                --json "$OUT/ab-$b-$round.json"
        done
    done
fi
if [ "$mode" = full ] || [ "$mode" = bench ]; then
    [ -f "$OUT/probe.json" ] || $K probe --json > "$OUT/probe.json"
    step $K bench --backend cuda --n 1e7 --n 1e8 --json "$OUT/bench-cuda.json"
fi
if [ "$mode" = full ] || [ "$mode" = torch ]; then
    [ -f "$OUT/probe.json" ] || $K probe --json > "$OUT/probe.json"
    step python3 peers/torch_cuda.py --kroute $K --n 1e7 --n 1e8 --probe "$OUT/probe.json" --json "$OUT/torch-cuda.json"
fi
echo "== done, status $status"
exit $status
