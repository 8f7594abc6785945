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
        step 90 "ncu-$k" "$NCU" --clock-control none -k "regex:^$k\$" -c 1 --section LaunchStats --section Occupancy \
            --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
            $K bench --kernel $k --impl cuda --n 1e8 --budget-ms 5
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
        step 60 "ncu-$k" "$NCU" --clock-control none -k "regex:^$k\$" -c 1 --section LaunchStats --section Occupancy \
            --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
            $K bench --kernel $k --impl cuda --n 1e8 --budget-ms 5
    done ;;
bench6)
    bench b6 --domain activations --domain quantization --domain dot_products
    bench opt6 --domain optimizers ;;
ncu6)
    step 60 clock python3 scripts/clock-check.py .
    for k in cosine_similarity dot_batched reduce_histogram map_reduce_masked_sum reduce_argmax reduce_var dequantize_i8_to_f16; do
        step 60 "ncu-$k" "$NCU" --clock-control none -k "regex:^$k\$" -c 1 --section LaunchStats --section Occupancy \
            --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
            $K bench --kernel $k --impl cuda --n 1e8 --budget-ms 5
    done
    bench a6 --domain elementwise ;;
var6)
    step 60 verify $K verify --backend cuda --domain reductions --json "$OUT/verify-var6.json"
    step 60 sweep $K verify --sweep --backend cuda --kernel reduce_var --kernel reduce_stddev --seconds 40 \
        --json "$OUT/sweep-var6.json"
    step 60 memcheck compute-sanitizer --tool memcheck ./dist/cuda_verify sanitize_reductions_reduce_var --exact --test-threads=1
    step 120 bench $K bench --kernel reduce_var --kernel reduce_stddev --kernel reduce_sum --impl cuda --peers torch-cuda \
        --n 1e7 --n 1e8 --budget-ms 150 --json "$OUT/gpu-var6.json"
    step 60 ncu-var "$NCU" --clock-control none -k "regex:^reduce_var\$" -c 1 --section LaunchStats --section Occupancy \
        --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
        $K bench --kernel reduce_var --impl cuda --n 1e8 --budget-ms 5
    step 90 ncu-maps7 "$NCU" --clock-control none --kernel-name-base demangled -k "regex:map_|silu|gelu|leaky|MulFunctor" \
        --section LaunchStats --section Occupancy --section SpeedOfLight \
        --metrics smsp__inst_executed.sum,dram__bytes_read.sum,dram__bytes_write.sum \
        python3 scripts/clock-check.py . 1e7 --profile ;;
arg6)
    step 60 verify $K verify --backend cuda --domain reductions --json "$OUT/verify-arg6.json"
    step 50 sweep $K verify --sweep --backend cuda --kernel reduce_argmax --kernel reduce_argmin --seconds 30 \
        --json "$OUT/sweep-arg6.json"
    step 40 memcheck compute-sanitizer --tool memcheck ./dist/cuda_verify sanitize_reductions_reduce_argmax --exact --test-threads=1
    step 100 bench $K bench --kernel reduce_argmax --kernel reduce_argmin --kernel reduce_max --impl cuda --peers torch-cuda \
        --n 1e7 --n 1e8 --budget-ms 100 --json "$OUT/gpu-arg6.json"
    step 40 ncu-argmax "$NCU" --clock-control none -k "regex:^reduce_argmax\$" -c 1 --section LaunchStats --section Occupancy \
        --section SpeedOfLight $K bench --kernel reduce_argmax --impl cuda --n 1e8 --budget-ms 5
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
