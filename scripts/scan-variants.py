# The scans' next step (issue 13): variants of the decoupled look-back scan of scans.cu — tile
# size, block size, and acquire/release flags instead of __threadfence — on the u32 and f32
# inclusive scans at 10^8, each checked against cp.cumsum and timed with CUDA events beside
# torch.cumsum. Runs on the GPU machine (CuPy, torch): `python3 scripts/scan-variants.py .`
# from the repo root. Not yet run: the session that wrote it ran out of device time.
import re, sys, time
import numpy as np, cupy as cp
root = sys.argv[1] if len(sys.argv) > 1 else "."
prelude = open(f"{root}/crates/kroute/src/backend/cuda/prelude.cuh").read()
base = open(f"{root}/crates/kroute/src/ops/scans/scans.cu").read()

ACQ_PUB = '''__device__ __forceinline__ void kr_publish(KrTiles t, u64 tile, u32 epoch, u32 kind, u64 bits) {
    u64* slot = kind == KR_INC ? t.inclusives : t.aggregates;
    ((volatile u64*)slot)[tile] = bits;
    const u32 f = (epoch << 2) | kind;
    asm volatile("st.release.gpu.global.u32 [%0], %1;" :: "l"(t.flags + tile), "r"(f) : "memory");
}'''
def variant(ipt, threads, acqrel):
    s = base.replace("#define KR_IPT 16", f"#define KR_IPT {ipt}").replace("(256 * KR_IPT)", f"({threads} * KR_IPT)")
    s = s.replace("__shared__ A sh[8];", f"__shared__ A sh[{threads // 32}];").replace("__shared__ u32 sh[8];", f"__shared__ u32 sh[{threads // 32}];")
    s = s.replace("for (int w = 0; w < 8; w++)", f"for (int w = 0; w < {threads // 32}; w++)")
    s = s.replace("__launch_bounds__(256)", f"__launch_bounds__({threads})")
    if acqrel:
        s = re.sub(r"__device__ __forceinline__ void kr_publish\(.*?\n}\n", ACQ_PUB + "\n", s, flags=re.S)
        s = s.replace('''            do {
                f = ((volatile u32*)t.flags)[idx];
            } while ((f >> 2) != epoch);
            __threadfence();''', '''            do {
                asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(f) : "l"(t.flags + idx) : "memory");
            } while ((f >> 2) != epoch);''')
    return prelude + "\n" + s

def run(name, src, threads, ipt, x, y, kernel="scan_inclusive", ref=None):
    mod = cp.RawModule(code=src, options=("-arch=sm_90", "--fmad=true"))
    k = mod.get_function(kernel)
    n = x.size; tile = threads * ipt; tiles = (n + tile - 1) // tile
    attrs = k.attributes
    per_sm = min(2048 // threads, 65536 // max(1, attrs["num_regs"] * threads), 32)
    grid = min(tiles, per_sm * 132)
    cap = tiles + tiles % 2
    state = cp.zeros(256 + cap * 20, dtype=cp.uint8)
    epoch = [0]
    def call():
        epoch[0] += 1
        k((grid,), (threads,), (x, y, cp.uint64(n), state, cp.uint32(epoch[0]), cp.uint64(tiles), cp.uint64(cap)))
    call(); cp.cuda.Device().synchronize()
    ok = ref is None or bool(ref(y))
    s, e = cp.cuda.Event(), cp.cuda.Event()
    ts = []
    for _ in range(30):
        s.record(); call(); e.record(); e.synchronize(); ts.append(cp.cuda.get_elapsed_time(s, e) * 1e-3)
    med = float(np.median(ts))
    print(f"{name:<34} regs {attrs['num_regs']:>3} blocks/SM {per_sm:>2} grid {grid:>6}  median {med*1e6:8.1f} us  {8*n/med/1e12:5.2f} TB/s  {'ok' if ok else 'WRONG'}", flush=True)

n = 100_000_000
x = cp.random.randint(0, 2**32, size=n, dtype=cp.uint64).astype(cp.uint32)
y = cp.empty_like(x)
want = cp.cumsum(x, dtype=cp.uint32)
ref = lambda y: cp.array_equal(y, want)
try:
    import torch
    xt = torch.as_tensor(x.view(cp.int32), device="cuda")
    yt = torch.empty_like(xt)
    torch.cumsum(xt, 0, out=yt); torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ts = []
    for _ in range(30):
        s.record(); torch.cumsum(xt, 0, out=yt); e.record(); e.synchronize(); ts.append(s.elapsed_time(e) * 1e-3)
    med = float(np.median(ts)); print(f"{'torch.cumsum int32':<34} median {med*1e6:8.1f} us  {8*n/med/1e12:5.2f} TB/s", flush=True)
except Exception as ex:
    print("torch:", ex)
for threads, ipt, acq in [(256, 16, False), (256, 16, True), (256, 8, True), (256, 24, True), (256, 32, True),
                          (128, 16, True), (128, 32, True), (512, 16, True), (512, 8, True), (384, 16, True)]:
    try:
        run(f"u32 t{threads} ipt{ipt} {'acqrel' if acq else 'fence'}", variant(ipt, threads, acq), threads, ipt, x, y, ref=ref)
    except Exception as ex:
        print(f"t{threads} ipt{ipt} acq{acq}: {type(ex).__name__}: {str(ex)[:300]}", flush=True)
xf = cp.random.standard_normal(n, dtype=cp.float32) + 1
yf = cp.empty_like(xf)
for threads, ipt, acq in [(256, 16, False), (256, 16, True), (256, 24, True), (128, 32, True)]:
    try:
        run(f"f32 t{threads} ipt{ipt} {'acqrel' if acq else 'fence'}", variant(ipt, threads, acq), threads, ipt, xf, yf, kernel="scan_inclusive_f32")
    except Exception as ex:
        print(f"f32 t{threads} ipt{ipt}: {type(ex).__name__}: {str(ex)[:300]}", flush=True)
