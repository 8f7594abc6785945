# The scans' tuning experiment (issue 13): variants of scans.cu's decoupled look-back scan — block
# size and chunks per tile — on the u32 and f32
# inclusive scans and the two compactions at 10^8, each checked against CuPy and timed with CUDA
# events beside torch. `python3 scripts/scan-variants.py . [OLD_SCANS_CU]` on the GPU machine
# (CuPy, torch) from the repo root; OLD_SCANS_CU, if given, is timed too (the u32 scan only:
# an earlier version of the file with KR_IPT 16, for a before/after in the same run).
# Round 1 (12-02, the striped layout with split flag/value status): 4 chunks with __threadfence
# 475 µs, with release/acquire flags 425, 8 chunks 367 (torch.cumsum 330); old layout 533.
# Round 2 (packed status for 32-bit values): u32 256 × 8 311 µs, 128 × 8 288, 128 × 16 281;
# f32 256 × 8 431 (torch 339); compact_if 128 × 8 358, compact_mask 128 × 8 329 (torch 796, 684).
import re, sys
import os
import numpy as np, cupy as cp
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_events import timed
root = sys.argv[1] if len(sys.argv) > 1 else "."
prelude = open(f"{root}/crates/kroute/src/backend/cuda/prelude.cuh").read()
base = open(f"{root}/crates/kroute/src/ops/scans/scans.cu").read()

def variant(threads, chunks, src=base):
    """Every kernel group (u32 scans, f32 scan, compaction) at `threads` × `chunks`."""
    for group in ("U32", "F32", "COMPACT"):
        src = re.sub(rf"#define KR_{group}_THREADS \d+", f"#define KR_{group}_THREADS {threads}", src)
        src = re.sub(rf"#define KR_{group}_CHUNKS \d+", f"#define KR_{group}_CHUNKS {chunks}", src)
    return prelude + "\n" + src


def run(name, src, threads, tile, args, n, bytes_, kernel, check):
    mod = cp.RawModule(code=src, options=("-arch=sm_90", "--fmad=true"))
    k = mod.get_function(kernel)
    tiles = (n + tile - 1) // tile
    a = k.attributes
    per_sm = min(2048 // threads, 65536 // max(1, a["num_regs"] * threads), 32, (227 * 1024) // (a["shared_size_bytes"] + 1024))
    grid = min(tiles, per_sm * 132)
    cap = tiles + tiles % 2
    state = cp.zeros(256 + cap * 28, dtype=cp.uint8)
    epoch = [0]
    def call():
        epoch[0] += 1
        k((grid,), (threads,), (*args, cp.uint64(n), state, cp.uint32(epoch[0]), cp.uint64(tiles), cp.uint64(cap)))
    med, lo, hi = timed(call)
    ok = check()
    print(f"{name:<36} regs {a['num_regs']:>3} blocks/SM {per_sm:>2}  median {med*1e6:7.1f} us [{lo*1e6:.1f}, {hi*1e6:.1f}]  {bytes_/med/1e12:5.2f} TB/s  {'ok' if ok else 'WRONG'}", flush=True)

def torch_time(name, f, bytes_):
    try:
        import torch
        ts = []
        f(); torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(30):
            s.record(); f(); e.record(); e.synchronize(); ts.append(s.elapsed_time(e) * 1e-3)
        med = float(np.median(ts))
        print(f"{name:<36} median {med*1e6:7.1f} us [{min(ts)*1e6:.1f}, {max(ts)*1e6:.1f}]  {bytes_/med/1e12:5.2f} TB/s", flush=True)
    except Exception as ex:
        print(name, "torch:", ex)

def attempt(label, f):
    try:
        f()
    except Exception as ex:
        print(f"{label}: {type(ex).__name__}: {str(ex)[:300]}", flush=True)

n = 100_000_000
x = cp.random.randint(0, 2**32, size=n, dtype=cp.uint64).astype(cp.uint32)
y = cp.empty_like(x)
want = cp.cumsum(x, dtype=cp.uint32)
import torch
xt = torch.as_tensor(x.view(cp.int32), device="cuda"); yt = torch.empty_like(xt)
torch_time("torch.cumsum int32", lambda: torch.cumsum(xt, 0, out=yt), 8 * n)
if len(sys.argv) > 2:
    old = prelude + "\n" + open(sys.argv[2]).read()
    attempt("old", lambda: run("u32 old (t256 ipt16 fence)", old, 256, 4096, (x, y), n, 8 * n, "scan_inclusive", lambda: bool(cp.array_equal(y, want))))
for threads, chunks in [(256, 8), (256, 4), (256, 6), (256, 12), (128, 8), (128, 16), (512, 4)]:
    name = f"u32 t{threads} c{chunks}"
    attempt(name, lambda: run(name, variant(threads, chunks), threads, threads * 4 * chunks, (x, y), n, 8 * n, "scan_inclusive", lambda: bool(cp.array_equal(y, want))))
xf = cp.random.standard_normal(n, dtype=cp.float32) + 1
yf = cp.empty_like(xf)
wantf = cp.cumsum(xf.astype(cp.float64)).astype(cp.float32)
xft = torch.as_tensor(xf, device="cuda"); yft = torch.empty_like(xft)
torch_time("torch.cumsum f32", lambda: torch.cumsum(xft, 0, out=yft), 8 * n)
for threads, chunks in [(256, 8), (256, 4), (128, 8), (128, 16)]:
    name = f"f32 t{threads} c{chunks}"
    attempt(name, lambda: run(name, variant(threads, chunks), threads, threads * 4 * chunks, (xf, yf), n, 8 * n, "scan_inclusive_f32",
                              lambda: bool(cp.allclose(yf, wantf, rtol=1e-4, atol=1e-2))))
# compaction: x > 0 on normal data, and a bernoulli(0.5) mask
xc = cp.random.standard_normal(n, dtype=cp.float32)
m = (cp.random.random(n) < 0.5).astype(cp.uint8)
vals = cp.empty_like(xc); cnt = cp.zeros(1, dtype=cp.uint64)
keep_if = xc[xc > 0]; keep_m = xc[m != 0]
xct = torch.as_tensor(xc, device="cuda"); mt = torch.as_tensor(m, device="cuda").bool()
torch_time("torch x[x > 0]", lambda: xct[xct > 0], 4 * n + 4 * keep_if.size)
torch_time("torch masked_select", lambda: torch.masked_select(xct, mt), 5 * n + 4 * keep_m.size)
def ok_c(want):
    c = int(cnt.get()[0])
    return c == want.size and bool(cp.array_equal(vals[:c].view(cp.uint32), want.view(cp.uint32)))
for threads, chunks in [(256, 4), (256, 2), (256, 8), (128, 8), (512, 2)]:
    tag = f"t{threads} c{chunks}"
    src = variant(threads, chunks)
    attempt(tag, lambda: run("compact_if " + tag, src, threads, threads * 4 * chunks, (xc, vals, cnt), n, 4 * n + 4 * keep_if.size, "compact_if", lambda: ok_c(keep_if)))
    attempt(tag, lambda: run("compact_mask " + tag, src, threads, threads * 4 * chunks, (xc, m, vals, cnt), n, 5 * n + 4 * keep_m.size, "compact_mask", lambda: ok_c(keep_m)))
