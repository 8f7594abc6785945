# The stencils' tuning experiment (issue 13): simulation.cu's heat step, 9-point 2-D stencil and
# 7-point 3-D stencil at 10^8 cells with SIM_STRIP (rows or planes per thread) at 4, 8 and 16,
# each checked against the shipped strip and timed with CUDA events beside a device copy of the
# same bytes. `python3 scripts/stencil-variants.py .` on the GPU machine (CuPy) from the repo
# root. With --profile it launches the shipped heat step and 3-D stencil once each, for
# `ncu --clock-control none -k regex:'heat|stencil' python3 scripts/stencil-variants.py . --profile`.
# An earlier round (12-02) also tried the left/right neighbours by warp shuffle instead of L1
# loads: slower at every strip (415 vs 365 µs at 16 rows).
import re, sys
import os
import numpy as np, cupy as cp
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_events import timed
root = sys.argv[1] if len(sys.argv) > 1 else "."
prelude = open(f"{root}/crates/kroute/src/backend/cuda/prelude.cuh").read()
base = open(f"{root}/crates/kroute/src/ops/simulation/simulation.cu").read()
shipped = int(re.search(r"#define SIM_STRIP (\d+)", base).group(1))
COPY = r'''
extern "C" __global__ void copy4(const float4* __restrict__ x, float4* __restrict__ y, u64 n4) {
    for (u64 i = kr_tid(); i < n4; i += kr_nthreads()) y[i] = x[i];
}
'''


def show(name, t, bytes_, ok=True):
    med, lo, hi = t
    print(f"{name:<30} median {med*1e6:7.1f} us [{lo*1e6:.1f}, {hi*1e6:.1f}]  {bytes_/med/1e12:5.2f} TB/s  {'ok' if ok else 'WRONG'}", flush=True)

def module(strip):
    src = prelude + "\n" + base.replace(f"#define SIM_STRIP {shipped}", f"#define SIM_STRIP {strip}") + COPY
    return cp.RawModule(code=src, options=("-arch=sm_90", "--fmad=true"))

g = 10_000
n = g * g
u = cp.random.standard_normal(n, dtype=cp.float32)
g3 = 464; n3 = g3 ** 3; u3 = u[:n3]; tk, tj = (g3 + 31) // 32, (g3 + 7) // 8
w = [np.float32(v) for v in (0.05, 0.1, 0.05, 0.1, 0.4, 0.1, 0.05, 0.1, 0.05)]
def launches(mod, strip, dst):
    grid2 = (g * ((g + strip - 1) // strip) + 255) // 256
    heat, s2, s3 = (mod.get_function(k) for k in ("sim_heat_equation", "sim_stencil_2d", "sim_stencil_3d"))
    return {
        "heat": (lambda: heat((grid2,), (256,), (u, dst["heat"], cp.uint64(n), np.float32(0.2), cp.uint64(1), cp.uint64(g), u, dst["heat"])), 8 * n),
        "stencil_2d": (lambda: s2((grid2,), (256,), (u, dst["stencil_2d"], cp.uint64(n), *w, cp.uint64(g))), 8 * n),
        "stencil_3d": (lambda: s3((tk * tj * ((g3 + strip - 1) // strip),), (256,),
                                  (u3, dst["stencil_3d"], cp.uint64(n3), np.float32(0.1), cp.uint64(g3), cp.uint64(tk), cp.uint64(tj))), 8 * n3),
    }
want = {"heat": cp.empty_like(u), "stencil_2d": cp.empty_like(u), "stencil_3d": cp.empty_like(u3)}
if "--profile" in sys.argv:
    runs = launches(module(shipped), shipped, want)
    runs["heat"][0](); runs["stencil_3d"][0](); cp.cuda.Device().synchronize()
    sys.exit(0)
mod = module(shipped)
out = cp.empty_like(u)
show("copy4 (8 B per cell)", timed(lambda: mod.get_function("copy4")((132 * 8,), (256,), (u, out, cp.uint64(n // 4)))), 8 * n)
show("cupy copy (memcpy d2d)", timed(lambda: cp.copyto(out, u)), 8 * n)
for name, (call, b) in launches(mod, shipped, want).items():
    show(f"{name} strip {shipped} (shipped)", timed(call), b)
for strip in (4, 16):
    got = {k: cp.zeros_like(v) for k, v in want.items()}
    for name, (call, b) in launches(module(strip), strip, got).items():
        t = timed(call)
        show(f"{name} strip {strip}", t, b, bool(cp.array_equal(got[name], want[name])))
