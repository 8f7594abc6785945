#!/usr/bin/env bash
# The cuda backend on a GPU machine (the lent H200), from binaries built elsewhere by
# scripts/gpu-dist.sh (dist/ carried along). Writes logs and JSON under $OUT.
#   scripts/gpu-check.sh smoke   probe, verify a few kernels, one short bench, tool checks
#   scripts/gpu-check.sh check | bench   one part of full
#   scripts/gpu-check.sh sweep   kroute verify --sweep on the cuda implementations
#                                (SWEEP_SECONDS of random cases, default 150) and the defect tests
#   scripts/gpu-check.sh ab      A/B timing: dist/kroute-before (an older build) against
#                                dist/kroute, alternating, ROUNDS times, on AB_KERNELS
#   scripts/gpu-check.sh peers   every peer idiom (numpy, torch CPU/CUDA, CuPy, JAX) verified
#                                on every kernel (bench --repeats 0), then a short timed run
#   scripts/gpu-check.sh report-gpu | report-cpu | report-sizes
#                                the runs behind docs/report-h200 (bench --peers; see there)
#   scripts/gpu-check.sh full    verify all (10^8 included), compute-sanitizer memcheck and
#                                racecheck on one kernel per domain, probe, bench at 1e7 and 1e8
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
    exit $status
fi

# The peers' inputs and outputs go through .npy files: in memory where /dev/shm has room.
if [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt 16000000 ] 2>/dev/null; then export TMPDIR=/dev/shm; fi
GPU_PEERS=torch-cuda,cupy,jax-cuda
CPU_PEERS=numpy,torch-cpu,torch-cpu-1t,jax-cpu
if [ "$mode" = peers ]; then
    step $K bench --peers $GPU_PEERS,$CPU_PEERS --repeats 0 --impl cuda --n 100003 --json "$OUT/peers-verify.json"
    step $K bench --peers $GPU_PEERS,$CPU_PEERS --kernel map_add --kernel reduce_sum --kernel map_reduce_abs_sum \
        --impl simd --impl parallel --impl cuda --n 1e6 --budget-ms 100 --json "$OUT/peers-smoke.json"
fi
# docs/report-h200: the GPU with its peers at 1e7 and 1e8 (kroute's parallel CPU rows alongside,
# for the CPU/GPU comparison); the 16-core CPU with its peers at 1e7; kroute alone at small sizes
# for the crossovers. KERNELS="--domain …" and PART=-a split a run to fit the device's 10-minute
# calls. `kroute report sizes.json gpu*.json cpu*.json -o docs/report-h200` merges them.
if [ "$mode" = report-gpu ]; then
    step $K bench --impl parallel --impl cuda --peers $GPU_PEERS ${SIZES:---n 1e7 --n 1e8} \
        --budget-ms "${BUDGET_MS:-400}" --json "$OUT/gpu${PART:-}.json" ${KERNELS:-}
fi
if [ "$mode" = report-cpu ]; then
    step $K bench --impl simd --impl parallel --peers $CPU_PEERS --n 1e7 \
        --budget-ms "${BUDGET_MS:-300}" --json "$OUT/cpu${PART:-}.json" ${KERNELS:-}
fi
if [ "$mode" = report-sizes ]; then
    step $K bench --impl simd --impl parallel --impl cuda --n 1e3 --n 1e4 --n 1e5 --n 1e6 \
        --budget-ms "${BUDGET_MS:-150}" --json "$OUT/sizes.json" ${KERNELS:-}
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
echo "== done, status $status"
exit $status
