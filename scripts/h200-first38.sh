#!/usr/bin/env bash
# Issue 10 on the H200 after the launch-shape change (maps one-shot in 128 × 2 float4 chunks,
# a warp for every row, gelu_erf through erff), in device calls of at most 10 minutes:
#   OUT=… scripts/h200-first38.sh verify   verify, sweep and compute-sanitizer memcheck of every
#                                          kernel whose launch or code changed (≈ 5 min)
#   OUT=… scripts/h200-first38.sh bench-a  elementwise beside torch at 10^7 and 10^8
#   OUT=… scripts/h200-first38.sh bench-b  activations, quantization, dot_products
#   OUT=… scripts/h200-first38.sh bench-c  reductions and fused
#   OUT=… scripts/h200-first38.sh dequant  the dequantization in groups of eight: verify, sweep,
#                                          memcheck, quantization beside torch; and the 10^7
#                                          map experiment (scripts/map-variants.py --act7)
#   OUT=… scripts/h200-first38.sh next     what the fifth session's device time did not reach: ncu
#                                          of the kernels still below 92% without a profile, and
#                                          grad_clip_value and opt_sgd beside torch after the change
# The sixth session's change (32-bit indices in the maps, lanes per row in dot_products, the
# optimizers in the maps' launch shape), in two calls:
#   OUT=… scripts/h200-first38.sh check6   verify, sweep and memcheck of what changed, the 64-bit
#                                          map test, scripts/clock-check.py, and ncu of the
#                                          kernels below 92% (the `next` list and the new rows)
#   OUT=… scripts/h200-first38.sh bench6   elementwise, activations, quantization, dot_products
#                                          and the optimizers beside torch at 10^7 and 10^8
#   OUT=… scripts/h200-first38.sh ncu6     clock-check.py, ncu of the kernels below 92%, and the
#                                          elementwise bench (gpu-first38-a6.json)
#   OUT=… scripts/h200-first38.sh var6     reduce_var's shifted sums: verify, sweep, memcheck,
#                                          ncu, beside torch; and ncu of the 10^7 maps, ours and
#                                          torch's (clock-check.py --profile)
#   OUT=… scripts/h200-first38.sh arg6     argmax/argmin screening each float4: verify, sweep,
#                                          memcheck, ncu, beside torch; and an Nsight Systems
#                                          trace of the 10^7 bench (scripts/gap-check.py)
# From the repo root with dist/ from scripts/gpu-dist.sh; results in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
part=${1:?verify, bench-a, bench-b or bench-c}
OUT=${OUT:-/tmp/kroute-first38}
source scripts/device-lib.sh
# the kernels on Launch::Map or Launch::Rows, and gelu_erf
TOUCHED="--domain elementwise --domain activations --domain quantization --domain layout \
  --domain dot_products --domain softmax --domain normalization"
bench() { step 560 "$1" $K bench --impl cuda --peers torch-cuda --n 1e7 --n 1e8 --budget-ms 150 \
    --json "$OUT/gpu-first38-$1.json" "${@:2}"; }
# ncu of kernel $1 at 10^8 in kroute's bench, within $2 seconds; the sections after that, or
# these five.
ncu_k() {
    local k=$1 t=$2; shift 2
    local sections=("$@")
    [ ${#sections[@]} -eq 0 ] && sections=(--section LaunchStats --section Occupancy --section SpeedOfLight \
        --section MemoryWorkloadAnalysis --section WarpStateStats)
    step "$t" "ncu-$k" "$NCU" --clock-control none -k "regex:^$k\$" -c 1 "${sections[@]}" \
        $K bench --kernel "$k" --impl cuda --n 1e8 --budget-ms 5
}
# Two reductions kernels after a change ($1 a tag, $2 and $3 the kernels, $4 a reference kernel):
# verify the domain, sweep the two for $5 seconds, memcheck the first, time the three beside torch
# ($6 ms each) into gpu-$1.json, ncu of the first (sections after $6).
reductions_change() {
    local tag=$1 k1=$2 k2=$3 ref=$4 sweep_s=$5 budget=$6; shift 6
    step 60 verify $K verify --backend cuda --domain reductions --json "$OUT/verify-$tag.json"
    step $((sweep_s + 20)) sweep $K verify --sweep --backend cuda --kernel "$k1" --kernel "$k2" --seconds "$sweep_s" \
        --json "$OUT/sweep-$tag.json"
    step 60 memcheck compute-sanitizer --tool memcheck ./dist/cuda_verify "sanitize_reductions_$k1" --exact --test-threads=1
    step 120 bench $K bench --kernel "$k1" --kernel "$k2" --kernel "$ref" --impl cuda --peers torch-cuda \
        --n 1e7 --n 1e8 --budget-ms "$budget" --json "$OUT/gpu-$tag.json"
    ncu_k "$k1" 60 "$@"
}
{
case $part in
verify)
    step 200 verify $K verify --backend cuda $TOUCHED --json "$OUT/verify.json"
    step 60 verify-more $K verify --backend cuda --kernel window_apply --kernel grad_clip_value --json "$OUT/verify-more.json"
    step 130 sweep $K verify --sweep --backend cuda $TOUCHED --seconds 90 --json "$OUT/sweep.json"
    for t in elementwise_map_div elementwise_map_compare activations_map_gelu quantization_dequantize_i8_to_f16 \
             quantization_quantize_f16_to_i8 dot_products_cosine_similarity layout_repack_soa_to_aos \
             normalization_layer_norm; do
        step 60 "memcheck-$t" compute-sanitizer --tool memcheck ./dist/cuda_verify "sanitize_$t" --exact --test-threads=1
    done ;;
bench-a) bench a --domain elementwise ;;
bench-b) bench b --domain activations --domain quantization --domain dot_products ;;
bench-c) bench c --domain reductions --domain fused ;;
dequant)
    step 60 verify $K verify --backend cuda --domain quantization --json "$OUT/verify-q.json"
    step 60 sweep $K verify --sweep --backend cuda --kernel dequantize_i8_to_f16 --seconds 30 --json "$OUT/sweep-q.json"
    step 60 memcheck compute-sanitizer --tool memcheck ./dist/cuda_verify sanitize_quantization_dequantize_i8_to_f16 --exact --test-threads=1
    step 120 act7 python3 scripts/map-variants.py . --act7
    bench q --domain quantization ;;
next)
    for k in reduce_histogram map_reduce_masked_sum reduce_argmax reduce_var dot_batched dequantize_i8_to_f16; do
        ncu_k $k 90
    done
    step 200 opt $K bench --kernel grad_clip_value --kernel opt_sgd --impl cuda --peers torch-cuda --n 1e7 --n 1e8 \
        --budget-ms 150 --json "$OUT/gpu-opt-map.json" ;;
check6)
    CHANGED="--domain elementwise --domain activations --domain quantization --domain dot_products --domain optimizers"
    step 200 verify $K verify --backend cuda $CHANGED --json "$OUT/verify6.json"
    step 60 map64 ./dist/cuda_verify maps_keep_their_64_bit_path --exact --nocapture
    step 100 sweep $K verify --sweep --backend cuda $CHANGED --seconds 70 --json "$OUT/sweep6.json"
    for t in dot_products_cosine_similarity elementwise_map_div elementwise_map_compare activations_map_gelu \
             optimizers_opt_adamw optimizers_grad_clip_norm quantization_quantize_f16_to_i8; do
        step 60 "memcheck-$t" compute-sanitizer --tool memcheck ./dist/cuda_verify "sanitize_$t" --exact --test-threads=1
    done
    step 60 dot-memcheck compute-sanitizer --tool memcheck $K verify --backend cuda --domain dot_products --n 100003 --no-large
    step 60 clock python3 scripts/clock-check.py .
    for k in cosine_similarity dot_batched reduce_histogram map_reduce_masked_sum reduce_argmax reduce_var dequantize_i8_to_f16; do
        ncu_k $k 60
    done ;;
bench6)
    bench b6 --domain activations --domain quantization --domain dot_products
    bench opt6 --domain optimizers ;;
ncu6)
    step 60 clock python3 scripts/clock-check.py .
    for k in cosine_similarity dot_batched reduce_histogram map_reduce_masked_sum reduce_argmax reduce_var dequantize_i8_to_f16; do
        ncu_k $k 60
    done
    bench a6 --domain elementwise ;;
var6)
    reductions_change var6 reduce_var reduce_stddev reduce_sum 40 150
    step 90 ncu-maps7 "$NCU" --clock-control none --kernel-name-base demangled -k "regex:map_|silu|gelu|leaky|MulFunctor" \
        --section LaunchStats --section Occupancy --section SpeedOfLight \
        --metrics smsp__inst_executed.sum,dram__bytes_read.sum,dram__bytes_write.sum \
        python3 scripts/clock-check.py . 1e7 --profile ;;
arg6)
    reductions_change arg6 reduce_argmax reduce_argmin reduce_max 30 100 --section LaunchStats --section Occupancy \
        --section SpeedOfLight
    NSYS=$(command -v nsys || ls /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems*/*/bin/nsys \
        /opt/nvidia/nsight-systems*/bin/nsys 2>/dev/null | head -1)
    if [ -n "$NSYS" ]; then
        step 90 nsys "$NSYS" profile --trace=cuda --sample=none --cpuctxsw=none -o "$OUT/gap" -f true \
            $K bench --kernel map_leaky_relu --kernel map_silu --impl cuda --peers torch-cuda --n 1e7 --budget-ms 100
        step 60 nsys-stats "$NSYS" stats --report cuda_gpu_trace --format csv -o "$OUT/gap" "$OUT/gap.nsys-rep"
        step 20 gap python3 scripts/gap-check.py "$OUT/gap_cuda_gpu_trace.csv" map_leaky_relu leaky_relu_kernel map_silu silu_kernel
        rm -f "$OUT"/gap*.nsys-rep "$OUT"/gap*.sqlite "$OUT"/gap*.csv
    else
        echo "no nsys on this machine"
    fi ;;
esac
# The device call returns a few files only: every step's output in one file.
for f in "$OUT"/*.txt; do
    case $f in */log-*|*/env.txt|*/steps-*) ;; *) { echo "#### $(basename "$f")"; cat "$f"; } >> "$OUT/steps-$part.txt"; rm -f "$f" ;; esac
done
echo; echo "== done $(date -u +%FT%TZ) status=$status"
exit $status
} 2>&1 | tee "$OUT/log-$part.txt"
