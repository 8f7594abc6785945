# Source me (bash): installs CUDA's NVRTC 13.0 from PyPI (the nvidia-cuda-nvrtc wheel) into a
# virtual environment and exports LD_LIBRARY_PATH so that cudarc's loader finds libnvrtc.so.13,
# for the test that compiles every .cu source on a machine without a GPU:
#   source scripts/ci-nvrtc.sh && cargo test --workspace --features cuda
# The kernels include no CUDA headers, so the runtime wheel (cuda_fp16.h) is not needed.
# Idempotent: a second source reuses the environment. Honours KROUTE_NVRTC_VENV.

_kr_venv="${KROUTE_NVRTC_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kroute/nvrtc-venv}"
if [ ! -x "$_kr_venv/bin/python" ]; then
    python3 -m venv "$_kr_venv" || { echo "ci-nvrtc: python3 -m venv failed" >&2; return 1 2>/dev/null || exit 1; }
fi
if ! ls "$_kr_venv"/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so.13 >/dev/null 2>&1; then
    "$_kr_venv/bin/python" -m pip install -q --disable-pip-version-check "nvidia-cuda-nvrtc==13.0.*" \
        || { echo "ci-nvrtc: pip install nvidia-cuda-nvrtc==13.0.* failed" >&2; return 1 2>/dev/null || exit 1; }
fi
_kr_lib=$(dirname "$(ls "$_kr_venv"/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so.13 | head -1)")
export LD_LIBRARY_PATH="$_kr_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "ci-nvrtc: NVRTC from $_kr_lib"
unset _kr_venv _kr_lib
