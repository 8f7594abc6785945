# Issue 10: why kroute's bench and the CuPy experiment disagree by about 1 µs on the same 10^7
# map (12-02: silu 21.9 against 20.8 µs; torch 21.0 against 20.6). Every clock below puts CUDA
# events around one launch after a flush that reads 4× the L2; they differ in the flush kernel
# (kroute's kr_l2_flush on resident blocks of 512, CuPy's sum, torch's sum: the peer server's)
# and in whether the host waits after every sample or queues batches of 25 (kroute's bench and
# the peer server queue). Each subject is timed under each clock, twice in alternating order.
#   python3 scripts/clock-check.py .      (GPU machine, repo root; CuPy and torch)
#   ncu … python3 scripts/clock-check.py . 1e7 --profile   one launch each of kroute's maps with
#                                          the largest 10^7 gaps and torch's, on kroute's
#                                          activation inputs (normal(0, 3)), for ncu
# Subjects: the shipped map_silu and map_add on kroute's launch (blocks of 128, eight elements a
# thread) on CuPy arrays and on torch tensors, torch's F.silu and add with out=, and kr_tiny
# (one thread adding 1: the clock's floor).
import sys
import cupy as cp
import torch

root = sys.argv[1] if len(sys.argv) > 1 else "."
N = int(float(sys.argv[2])) if len(sys.argv) > 2 else 10_000_000
PROFILE = "--profile" in sys.argv
OPTS = ("--std=c++17", "--ftz=false", "--prec-div=true", "--prec-sqrt=true", "--fmad=true", "-arch=sm_90")
prelude = open(f"{root}/crates/kroute/src/backend/cuda/prelude.cuh").read()
read = lambda p: open(f"{root}/crates/kroute/src/{p}").read()
util = cp.RawModule(code=prelude + read("backend/cuda/util.cu"), options=OPTS)
act = cp.RawModule(code=prelude + read("ops/activations/activations.cu"), options=OPTS)
elt = cp.RawModule(code=prelude + read("ops/elementwise/elementwise.cu"), options=OPTS)
dev = cp.cuda.Device()
SMS, L2 = dev.attributes["MultiProcessorCount"], dev.attributes["L2CacheSize"]
print(f"device {torch.cuda.get_device_name()}  SMs {SMS}  L2 {L2 >> 20} MiB  n {N:.0e}", flush=True)

# The flushes: kroute's (backend/cuda/driver/timing.rs: a buffer 4× the L2 set to 1, read by
# kr_l2_flush on min(blocks for the work, SMs × resident blocks of 512)), CuPy's and torch's sum.
fbytes = 4 * max(L2, 8 << 20)
kbuf = cp.empty(fbytes // 4, dtype=cp.float32); kbuf.fill(1)
sink = cp.zeros(4, dtype=cp.uint32)
kflush = util.get_function("kr_l2_flush")
# RawModule.get_function gives a RawKernel; its driver function is .kernel (CuPy ≥ 13).
per_sm = cp.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(getattr(kflush, "kernel", kflush).ptr, 512, 0)
n16 = fbytes // 16
kgrid = min((n16 + 511) // 512, SMS * per_sm)
tbuf = torch.ones(fbytes // 4, dtype=torch.float32, device="cuda")
tsink = torch.empty((), dtype=torch.float32, device="cuda")
FLUSH = {
    "kr_l2_flush": lambda: kflush((kgrid,), (512,), (kbuf, cp.uint64(n16), sink)),
    "cupy sum": lambda: kbuf.sum(),
    "torch sum": lambda: torch.sum(tbuf, dim=0, out=tsink),
}

# Subjects.
x = cp.random.standard_normal(N, dtype=cp.float32); y = cp.random.standard_normal(N, dtype=cp.float32)
z = cp.empty_like(x)
tx = torch.as_tensor(x, device="cuda").clone(); ty = torch.as_tensor(y, device="cuda").clone()
tz = torch.empty_like(tx)
silu, add, tiny = act.get_function("map_silu"), elt.get_function("map_add"), util.get_function("kr_tiny")
grid = ((N + 1023) // 1024,)
SUBJ = {
    "kroute map_silu (cupy arrays)": lambda: silu(grid, (128,), (x, z, cp.uint64(N))),
    "kroute map_silu (torch tensors)": lambda: silu(grid, (128,), (tx.data_ptr(), tz.data_ptr(), cp.uint64(N))),
    "torch silu(out=)": lambda: torch._C._nn.silu(tx, out=tz),
    "kroute map_add (cupy arrays)": lambda: add(grid, (128,), (x, y, z, cp.uint64(N))),
    "torch add(out=)": lambda: torch.add(tx, ty, out=tz),
    "kr_tiny (floor)": lambda: tiny((1,), (32,), (sink,)),
}

if PROFILE:
    xs = (3 * x).astype(cp.float32); txs = torch.as_tensor(xs, device="cuda").clone()
    mul = elt.get_function("map_mul")
    runs = [
        lambda: act.get_function("map_silu")(grid, (128,), (xs, z, cp.uint64(N))),
        lambda: torch._C._nn.silu(txs, out=tz),
        lambda: act.get_function("map_gelu")(grid, (128,), (xs, z, cp.uint64(N))),
        lambda: torch._C._nn.gelu(txs, approximate="tanh", out=tz),
        lambda: act.get_function("map_gelu_erf")(grid, (128,), (xs, z, cp.uint64(N))),
        lambda: torch._C._nn.gelu(txs, out=tz),
        lambda: act.get_function("map_leaky_relu")(grid, (128,), (xs, z, cp.uint64(N), cp.float32(0.01))),
        lambda: torch._C._nn.leaky_relu(txs, 0.01, out=tz),
        lambda: mul(grid, (128,), (x, y, z, cp.uint64(N))),
        lambda: torch.mul(tx, ty, out=tz),
    ]
    for r in runs:
        r()
    dev.synchronize()
    print("profiled: silu, gelu (tanh), gelu_erf, leaky_relu, mul; kroute's then torch's")
    sys.exit(0)

# One stream for all: torch's current stream is CuPy's null stream here (both default).
def sample(call, flush, batch, reps=100):
    ev = [(cp.cuda.Event(), cp.cuda.Event()) for _ in range(batch)]
    times = []
    while len(times) < reps:
        for e0, e1 in ev:
            flush(); e0.record(); call(); e1.record()
        ev[-1][1].synchronize()
        times += [cp.cuda.get_elapsed_time(e0, e1) * 1e3 for e0, e1 in ev]
    times.sort()
    return times[len(times) // 2], times[len(times) // 10]

for call in SUBJ.values():
    call()
dev.synchronize()
clocks = [(f, b) for f in FLUSH for b in (1, 25)]
print(f"\nmedian µs (p10) under each clock; two rounds in alternating order", flush=True)
print(f"{'subject':34s}" + "".join(f"{f + (' sync' if b == 1 else ' x25'):>24s}" for f, b in clocks))
rows = {s: [[] for _ in clocks] for s in SUBJ}
for rnd in range(2):
    order = list(enumerate(clocks)) if rnd == 0 else list(reversed(list(enumerate(clocks))))
    for ci, (f, b) in order:
        for s, call in SUBJ.items():
            rows[s][ci].append(sample(call, FLUSH[f], b))
for s in SUBJ:
    print(f"{s:34s}" + "".join(
        f"{sum(m for m, _ in r) / len(r):14.2f} ({min(p for _, p in r):5.2f})  " for r in rows[s]), flush=True)
