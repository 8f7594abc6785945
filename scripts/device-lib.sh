# Sourced by the device scripts (scripts/fft-device.sh, h200-*.sh) on the GPU machine, from the
# repo root with $OUT set: finds the CUDA libraries kroute loads at run time (NVRTC, cuFFT,
# cuBLAS: the CUDA toolkit's, else the pip wheels' that torch ships), records the GPU's clocks
# in $OUT/env.txt, finds ncu ($NCU), and defines `step SECONDS NAME COMMAND…`, which runs one
# step under a timeout into $OUT/NAME.txt, shows its tail and sets status=1 when it fails.
mkdir -p "$OUT"
K=./dist/kroute
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
export PYTHONUNBUFFERED=1 KROUTE_CACHE_DIR=/tmp/kroute-cache
_sites=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
for _want in libnvrtc.so.13 'libcufft.so.1[0-9]*' 'libcublas.so.1[0-9]*'; do
    if ! ldconfig -p 2>/dev/null | grep -q "${_want%%\**}"; then
        _lib=$(ls /usr/local/cuda/lib64/$_want /usr/local/cuda/targets/x86_64-linux/lib/$_want \
            $(for s in $_sites; do echo "$s/nvidia/cu13/lib/$_want $s/nvidia/cufft/lib/$_want $s/nvidia/cublas/lib/$_want"; done) \
            2>/dev/null | head -1)
        [ -n "$_lib" ] && export LD_LIBRARY_PATH="$(dirname "$_lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
done
{ echo "== $(date -u +%FT%TZ) LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv; } 2>&1 | tee "$OUT/env.txt"
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
