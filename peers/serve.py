#!/usr/bin/env python3
"""The peers of `kroute bench --peers`: numpy, PyTorch (CPU, all threads and one), PyTorch CUDA,
CuPy and JAX (CPU and GPU), each where installed, computing kroute's kernels as their users write
them.

kroute starts this process and talks to it one JSON object per line (requests on stdin, replies
on stdout; anything for people goes to stderr). For each kernel kroute writes its own benchmark
inputs as .npy files and asks every library to run every idiom it has for that kernel once, into
poisoned outputs where the library takes `out=`; the outputs come back as .npy files and kroute
verifies them against its f64 reference with the kernel's tolerance — the same check its own
implementations pass. Only verified idioms are timed, and kroute alternates its own timing with
the peers' (kroute, peers, peers, kroute, …) so both see the same machine.

An idiom is the natural call, into `out=` where the API has it, otherwise the allocating call
alone (its result is the output: never an extra copy). `kind` is "call" (one library call, or a
jit-compiled expression) or "chain" (several calls, each a pass over memory: the unfused form of
a fused kernel). The fastest verified idiom is the library's peer; kroute keeps the others.

  {"op": "hello", "libraries": [names]}
      -> {"libraries": {name: {"version", "device", "threads", "timing"} or {"error": why}}}
  {"op": "run", "kernel", "n", "params": {k: v}, "inputs": [paths], "outputs": [{"dtype", "shape"}],
   "dir": folder for the outputs}
      -> {"idioms": [{"library", "idiom", "kind", "threads", "outputs": [paths] or null, "error"}]}
  {"op": "time", "ids": [indices into the last run's idioms], "budget_s", "rotate_bytes",
   "device_rotate_bytes"}
      -> {"times": [{"min_s", "median_s", "p90_s", "samples", "rotation_sets"} or {"error": why}]}
  {"op": "quit"}

`python3 peers/serve.py --list` prints what is installed here.
"""
import json
import os
import sys
import time
import traceback

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX must not take 75% of the GPU
import numpy as np

CALL, CHAIN = "call", "chain"
F32 = np.float32
# torch's optimizers (and clip_grad's dummy parameters) of the current run, made once per state
# tensor; each holds its tensors, so none is freed or its address reused until `release`.
OPTIMIZERS = {}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# numpy and CuPy: one table, written against the array module `xp`.


def cached_window(hann, multiply):
    """window_apply as a user writes it: the window made once per frame length, then one
    multiply into the output per call."""
    cache = {}

    def windowed(i, o, p):
        m = i[0].shape[1]
        if m not in cache:
            cache[m] = hann(m)
        multiply(i[0], cache[m], out=o[0])
    return windowed


def philox4x32_words(xp, seed, stream, n):
    """Words 0..n of Philox4x32-10 stream `stream` for `seed` (docs/kernels/KERNELS.md §2), one
    array lane per block: word k is word k % 4 of the block on counter (k // 4, stream, 0)."""
    blocks = (n + 3) // 4
    j = xp.arange(blocks, dtype=xp.uint64)
    c0, c1 = (j & 0xFFFFFFFF).astype(xp.uint32), (j >> 32).astype(xp.uint32)
    c2, c3 = xp.full(blocks, stream, dtype=xp.uint32), xp.zeros(blocks, dtype=xp.uint32)
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    m0, m1 = xp.uint64(0xD2511F53), xp.uint64(0xCD9E8D57)
    for _ in range(10):
        p0, p1 = c0.astype(xp.uint64) * m0, c2.astype(xp.uint64) * m1
        c0, c1, c2, c3 = ((p1 >> 32).astype(xp.uint32) ^ c1 ^ xp.uint32(k0), p1.astype(xp.uint32),
                          (p0 >> 32).astype(xp.uint32) ^ c3 ^ xp.uint32(k1), p0.astype(xp.uint32))
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return xp.stack([c0, c1, c2, c3], axis=1).reshape(-1)[:n]


# sorting: helpers for the xp (numpy, CuPy) and torch tables.
def sort_topk_k(n, p):
    """topk_select's k: the default 100 means min(100, N); an explicit k is used as given."""
    k = int(p["k"])
    return min(100, n) if k == 100 else k


def sort_percentiles(p):
    return [p["q%d" % j] for j in range(5)]


def xp_sort_kv(xp, k, v):
    i = xp.argsort(k, kind="stable")
    return [k[i], v[i]]


def xp_topk_partition(xp, x, k):
    # The entry's timed numpy form: argpartition, then order the k by (value desc, index asc).
    q = xp.argpartition(x, -k)[-k:]
    i = q[xp.lexsort(xp.stack([q, -x[q]]))]
    return [x[i], i]


def xp_topk_stable(xp, x, k):
    i = xp.argsort(-x, kind="stable")[:k]
    return [x[i], i]


def torch_sort_kv(torch, k, v):
    s, i = torch.sort(k, stable=True)
    # No uint32 gather on every backend: the int32 view moves the same bits.
    return [s, v.view(torch.int32)[i].view(torch.uint32)]


def torch_median(torch, x):
    # numpy's median: the mean of the two middle order statistics in f64, rounded once.
    n = x.shape[0]
    a = torch.kthvalue(x, (n + 1) // 2).values
    b = torch.kthvalue(x, n // 2 + 1).values
    return [((a.double() + b.double()) / 2).float()]


def torch_median_sort(torch, x):
    # One sort, the two middle order statistics' mean in f64 (kthvalue is a full pass per call
    # on CUDA and far slower; torch.median returns the lower middle alone).
    n = x.shape[0]
    s = torch.sort(x).values
    return [((s[(n - 1) // 2].double() + s[n // 2].double()) / 2).float()]


def torch_percentile_sort(torch, x, p):
    # One sort, numpy's linear interpolation in f64 on the device for every q at once.
    n = x.shape[0]
    s = torch.sort(x).values
    lo, hi, g = [], [], []
    for q in sort_percentiles(p):
        h = (n - 1) * (q / 100)
        l = min(int(np.floor(h)), n - 1)
        lo.append(l)
        hi.append(min(l + 1, n - 1))
        g.append(h - np.floor(h))
    a = s[torch.tensor(lo, device=x.device)].double()
    b = s[torch.tensor(hi, device=x.device)].double()
    g = torch.tensor(g, dtype=torch.float64, device=x.device)
    return [torch.where(g >= 0.5, b - (b - a) * (1 - g), a + (b - a) * g).float()]


def torch_percentile(torch, x, p):
    q = torch.tensor([v / 100 for v in sort_percentiles(p)], dtype=x.dtype, device=x.device)
    return [torch.quantile(x, q)]


def torch_percentile_kth(torch, x, p):
    # The entry's route past 2^24 elements: kthvalue per needed order statistic, numpy's lerp
    # in f64 (torch.quantile lerps in f32, which the exact class refuses).
    n, out = x.shape[0], []
    for q in sort_percentiles(p):
        h = (n - 1) * (q / 100)
        lo = min(int(np.floor(h)), n - 1)
        hi, g = min(lo + 1, n - 1), h - np.floor(h)
        a = torch.kthvalue(x, lo + 1).values.double()
        b = torch.kthvalue(x, hi + 1).values.double()
        out.append(b - (b - a) * (1 - g) if g >= 0.5 else a + (b - a) * g)
    return [torch.stack(out).float()]


def xp_table(xp, special, scipy=None):
    """kernel -> [(idiom, kind, fn(i, o, p), alloc(i) or None)]. With alloc None the idiom
    allocates and returns its outputs. `scipy` is scipy (or cupyx.scipy) with its sparse and
    linalg modules loaded, or None."""
    f = lambda v: F32(v)
    z1 = lambda i: [xp.empty_like(i[0])]
    zt = lambda i: [xp.empty(i[0].shape[::-1], dtype=i[0].dtype)]  # the transposed shape
    rows = lambda i: [xp.empty(i[0].shape[0], dtype=xp.float32)]
    s2pi, isq2 = F32(np.sqrt(2.0 / np.pi)), F32(1.0 / np.sqrt(2.0))

    def gelu_chain(x, y):
        xp.multiply(x, x, out=y)
        xp.multiply(y, x, out=y)
        xp.multiply(y, F32(0.044715), out=y)
        xp.add(y, x, out=y)
        xp.multiply(y, s2pi, out=y)
        xp.tanh(y, out=y)
        xp.add(y, F32(1), out=y)
        xp.multiply(y, x, out=y)
        xp.multiply(y, F32(0.5), out=y)

    def sigmoid_chain(x, y, num):
        xp.negative(x, out=y)
        xp.exp(y, out=y)
        xp.add(y, F32(1), out=y)
        xp.divide(num, y, out=y)

    def elu_chain(x, y, a):
        xp.expm1(x, out=y)
        xp.multiply(y, a, out=y)
        xp.copyto(y, x, where=x > 0)

    def mish_chain(x, y):
        xp.logaddexp(F32(0), x, out=y)
        xp.tanh(y, out=y)
        xp.multiply(y, x, out=y)

    def histogram(x, p):
        # torch.histc's f32 formula (the entry's definition), then one bincount.
        bins, lo, hi = int(p["bins"]), f(p["lo"]), f(p["hi"])
        q = ((x - lo) * F32(bins)) / (hi - lo)
        b = xp.minimum(xp.floor(q), F32(bins - 1))
        keep = (x >= lo) & (x <= hi)
        return [xp.bincount(b[keep].astype(xp.int64), minlength=bins)]

    def quant_i8(x):
        s = xp.abs(x).max(1).astype(xp.float32) / F32(127)
        q = xp.clip(xp.nan_to_num(xp.rint(x.astype(xp.float32) / s[:, None]), nan=0.0), -127, 127).astype(xp.int8)
        return [q, s]

    def cosine(a, b, eps, dot):
        d = dot(a, b)
        na = xp.maximum(xp.sqrt(dot(a, a)), F32(eps))
        nb = xp.maximum(xp.sqrt(dot(b, b)), F32(eps))
        return [d / (na * nb)]

    def hann(m):
        return xp.asarray(np.hanning(m).astype(np.float32))

    def compacted(v):
        # The kept values and their count (`v.size`, what a caller reads).
        return [v, np.uint64(v.size)]

    zu = lambda i: [xp.empty(i[0].shape, dtype=xp.uint32)]
    einsum_rows = lambda a, b: xp.einsum("ij,ij->i", a, b)
    t = {
        "map_add": [("add(out=)", CALL, lambda i, o, p: xp.add(i[0], i[1], out=o[0]), z1)],
        "map_mul": [("multiply(out=)", CALL, lambda i, o, p: xp.multiply(i[0], i[1], out=o[0]), z1)],
        "map_div": [("divide(out=)", CALL, lambda i, o, p: xp.divide(i[0], i[1], out=o[0]), z1)],
        "map_fma": [("multiply, add (out=)", CHAIN, lambda i, o, p: (xp.multiply(i[0], i[1], out=o[0]), xp.add(o[0], i[2], out=o[0])), z1)],
        "map_exp": [("exp(out=)", CALL, lambda i, o, p: xp.exp(i[0], out=o[0]), z1)],
        "map_log": [("log(out=)", CALL, lambda i, o, p: xp.log(i[0], out=o[0]), z1)],
        "map_tanh": [("tanh(out=)", CALL, lambda i, o, p: xp.tanh(i[0], out=o[0]), z1)],
        "map_sigmoid": [("negative, exp, add, divide (out=)", CHAIN, lambda i, o, p: sigmoid_chain(i[0], o[0], F32(1)), z1)],
        "map_softplus": [("logaddexp(0, x, out=)", CALL, lambda i, o, p: xp.logaddexp(F32(0), i[0], out=o[0]), z1)],
        "map_clamp": [("clip(out=)", CALL, lambda i, o, p: xp.clip(i[0], f(p["lo"]), f(p["hi"]), out=o[0]), z1),
                      ("minimum(maximum(out=), out=)", CHAIN, lambda i, o, p: xp.minimum(xp.maximum(i[0], f(p["lo"]), out=o[0]), f(p["hi"]), out=o[0]), z1)],
        "map_abs": [("abs(out=)", CALL, lambda i, o, p: xp.abs(i[0], out=o[0]), z1)],
        "map_compare": [("greater(out=bool view)", CALL, lambda i, o, p: xp.greater(i[0], i[1], out=o[0].view(xp.bool_)),
                         lambda i: [xp.empty(i[0].shape, dtype=xp.uint8)])],
        "map_relu": [("maximum(x, 0, out=)", CALL, lambda i, o, p: xp.maximum(i[0], F32(0), out=o[0]), z1)],
        "map_leaky_relu": [("where(x > 0, x, αx)", CHAIN, lambda i, o, p: [xp.where(i[0] > 0, i[0], f(p["alpha"]) * i[0])], None),
                           # max(x, αx) is leaky relu for 0 ≤ α ≤ 1 (the default 0.01).
                           ("maximum(x, αx, out=)", CHAIN, lambda i, o, p: xp.maximum(i[0], xp.multiply(i[0], f(p["alpha"]), out=o[0]), out=o[0]), z1)],
        "map_elu": [("where(x > 0, x, α·expm1(x))", CHAIN, lambda i, o, p: [xp.where(i[0] > 0, i[0], f(p["alpha"]) * xp.expm1(i[0]))], None),
                    ("expm1, multiply, copyto(where=) (out=)", CHAIN, lambda i, o, p: elu_chain(i[0], o[0], f(p["alpha"])), z1)],
        "map_gelu": [("0.5x(1 + tanh(…)) expression", CHAIN, lambda i, o, p: [F32(0.5) * i[0] * (F32(1) + xp.tanh(s2pi * (i[0] + F32(0.044715) * i[0] * i[0] * i[0])))], None),
                     ("ufunc chain (out=)", CHAIN, lambda i, o, p: gelu_chain(i[0], o[0]), z1)],
        "map_silu": [("x / (1 + exp(-x))", CHAIN, lambda i, o, p: [i[0] / (F32(1) + xp.exp(-i[0]))], None),
                     ("negative, exp, add, divide (out=)", CHAIN, lambda i, o, p: sigmoid_chain(i[0], o[0], i[0]), z1)],
        "map_mish": [("x * tanh(logaddexp(0, x))", CHAIN, lambda i, o, p: [i[0] * xp.tanh(xp.logaddexp(F32(0), i[0]))], None),
                     ("logaddexp, tanh, multiply (out=)", CHAIN, lambda i, o, p: mish_chain(i[0], o[0]), z1)],
        "reduce_sum": [("sum", CALL, lambda i, o, p: [xp.sum(i[0])], None)],
        "reduce_mean": [("mean", CALL, lambda i, o, p: [xp.mean(i[0])], None)],
        "reduce_min": [("min", CALL, lambda i, o, p: [xp.min(i[0])], None)],
        "reduce_max": [("max", CALL, lambda i, o, p: [xp.max(i[0])], None)],
        "reduce_argmax": [("argmax", CALL, lambda i, o, p: [xp.argmax(i[0])], None)],
        "reduce_argmin": [("argmin", CALL, lambda i, o, p: [xp.argmin(i[0])], None)],
        "reduce_l2": [("linalg.norm", CALL, lambda i, o, p: [xp.linalg.norm(i[0])], None),
                      ("sqrt(dot(x, x))", CHAIN, lambda i, o, p: [xp.sqrt(xp.dot(i[0], i[0]))], None)],
        "reduce_var": [("var", CALL, lambda i, o, p: [xp.var(i[0])], None)],
        "reduce_stddev": [("std", CALL, lambda i, o, p: [xp.std(i[0])], None)],
        "reduce_histogram": [("histc formula + bincount", CHAIN, lambda i, o, p: histogram(i[0], p), None),
                             ("histogram(bins, range)", CALL, lambda i, o, p: [xp.histogram(i[0], bins=int(p["bins"]), range=(p["lo"], p["hi"]))[0]], None)],
        # correlation: inputs (x, w), (x, y) or X [R, 64] (kernels/correlation.md). np.cov and
        # np.corrcoef compute in f64: their result is cast to f32 (a scalar, or 64×64).
        "reduce_weighted_sum": [("dot(w, x)", CALL, lambda i, o, p: [xp.dot(i[1], i[0])], None)],
        "reduce_weighted_mean": [("average(x, weights=w)", CALL, lambda i, o, p: [xp.average(i[0], weights=i[1])], None)],
        "reduce_covariance": [("cov(x, y)[0, 1]", CALL, lambda i, o, p: [xp.cov(i[0], i[1])[0, 1].astype(F32)], None)],
        "reduce_correlation": [("corrcoef(x, y)[0, 1]", CALL, lambda i, o, p: [xp.corrcoef(i[0], i[1])[0, 1].astype(F32)], None)],
        "reduce_covariance_matrix": [("cov(X, rowvar=False)", CALL, lambda i, o, p: [xp.cov(i[0], rowvar=False).astype(F32)], None)],
        "reduce_pearson_pairwise": [("corrcoef(X, rowvar=False)", CALL, lambda i, o, p: [xp.corrcoef(i[0], rowvar=False).astype(F32)], None)],
        "map_reduce_abs_sum": [("sum(abs(x))", CHAIN, lambda i, o, p: [xp.sum(xp.abs(i[0]))], None),
                               ("linalg.norm(x, 1)", CALL, lambda i, o, p: [xp.linalg.norm(i[0], 1)], None)],
        "map_reduce_square_sum": [("sum(x * x)", CHAIN, lambda i, o, p: [xp.sum(i[0] * i[0])], None),
                                  ("dot(x, x)", CALL, lambda i, o, p: [xp.dot(i[0], i[0])], None),
                                  ("vdot(x, x)", CALL, lambda i, o, p: [xp.vdot(i[0], i[0])], None)],
        "map_reduce_masked_sum": [("sum(x, where=mask)", CALL, lambda i, o, p: [xp.sum(i[0], where=i[1].view(xp.bool_))], None),
                                  ("sum(x[mask])", CHAIN, lambda i, o, p: [xp.sum(i[0][i[1].view(xp.bool_)])], None)],
        "map_reduce_threshold_count": [("count_nonzero(x > t)", CHAIN, lambda i, o, p: [xp.count_nonzero(i[0] > f(p["t"]))], None)],
        "dot_batched": [("einsum(out=)", CALL, lambda i, o, p: xp.einsum("ij,ij->i", i[0], i[1], out=o[0]), rows),
                        ("(a * b).sum(1)", CHAIN, lambda i, o, p: xp.sum(xp.multiply(i[0], i[1]), axis=1, out=o[0]), rows)],
        "cosine_similarity": [("einsum dots", CHAIN, lambda i, o, p: cosine(i[0], i[1], p["eps"], einsum_rows), None)],
        "quantize_f32_to_f16": [("copyto(f16 out)", CALL, lambda i, o, p: xp.copyto(o[0], i[0], casting="same_kind"),
                                 lambda i: [xp.empty(i[0].shape, dtype=xp.float16)]),
                                ("x.astype(f16)", CALL, lambda i, o, p: [i[0].astype(xp.float16)], None)],
        "quantize_f16_to_i8": [("abs-max, rint, clip", CHAIN, lambda i, o, p: quant_i8(i[0]), None)],
        "dequantize_i8_to_f16": [("(q.astype(f32) * s).astype(f16)", CHAIN, lambda i, o, p: [(i[0].astype(xp.float32) * i[1][:, None]).astype(xp.float16)], None),
                                 # One ufunc computing in f32 and rounding into the f16 output.
                                 ("multiply(q, s, dtype=f32, out=f16)", CALL, lambda i, o, p: xp.multiply(i[0], i[1][:, None], out=o[0], dtype=xp.float32, casting="unsafe"),
                                  lambda i: [xp.empty(i[0].shape, dtype=xp.float16)])],
        "transpose_2d": [("ascontiguousarray(a.T)", CALL, lambda i, o, p: [xp.ascontiguousarray(i[0].T)], None),
                         ("copyto(out, a.T)", CALL, lambda i, o, p: xp.copyto(o[0], i[0].T), z1)],
        "repack_aos_to_soa": [("ascontiguousarray(aos.T)", CALL, lambda i, o, p: [xp.ascontiguousarray(i[0].T)], None),
                              ("copyto(out, aos.T)", CALL, lambda i, o, p: xp.copyto(o[0], i[0].T), zt)],
        "repack_soa_to_aos": [("ascontiguousarray(soa.T)", CALL, lambda i, o, p: [xp.ascontiguousarray(i[0].T)], None),
                              ("copyto(out, soa.T)", CALL, lambda i, o, p: xp.copyto(o[0], i[0].T), zt)],
        "scan_inclusive": [("cumsum(dtype=uint32)", CALL, lambda i, o, p: [xp.cumsum(i[0], dtype=xp.uint32)], None),
                           ("cumsum(dtype=uint32, out=)", CALL, lambda i, o, p: xp.cumsum(i[0], dtype=xp.uint32, out=o[0]), zu)],
        "scan_exclusive": [("cumsum(out=); out -= x", CHAIN, lambda i, o, p: (xp.cumsum(i[0], dtype=xp.uint32, out=o[0]), xp.subtract(o[0], i[0], out=o[0])), zu)],
        "scan_inclusive_f32": [("cumsum", CALL, lambda i, o, p: [xp.cumsum(i[0])], None),
                               ("cumsum(dtype=f64).astype(f32)", CHAIN, lambda i, o, p: [xp.cumsum(i[0], dtype=xp.float64).astype(xp.float32)], None)],
        "compact_if": [("x[x > 0]", CALL, lambda i, o, p: compacted(i[0][i[0] > 0]), None)],
        "compact_mask": [("x[mask.view(bool)]", CALL, lambda i, o, p: compacted(i[0][i[1].view(xp.bool_)]), None)],
        "window_apply": [("multiply(x, w, out=) (window made once)", CALL, cached_window(hann, xp.multiply), z1),
                         ("x * hanning(M)", CHAIN, lambda i, o, p: [i[0] * hann(i[0].shape[1])], None)],
    }
    # prng: the contract's Philox4x32-10 stream written with the library's array ops (numpy's own
    # Philox is Philox4x64, CuPy's is cuRAND's layout: neither gives these bits).
    n_of = lambda i: i[0].shape[0]  # the size-only input: shape (n, 0)
    seed_of = lambda p: int(p["seed"])

    def unit(w):
        return (w >> 8).astype(xp.float64) * 2.0 ** -24

    def box_muller(n, seed):
        w = philox4x32_words(xp, seed, 0, n + n % 2)
        u1 = ((w[0::2] >> 8).astype(xp.float64) + 1.0) * 2.0 ** -24
        r, t = xp.sqrt(-2.0 * xp.log(u1)), 2.0 * np.pi * unit(w[1::2])
        return xp.stack([r * xp.cos(t), r * xp.sin(t)], axis=1).reshape(-1)[:n].astype(xp.float32)

    t["prng_philox"] = [("philox4x32_words", CHAIN, lambda i, o, p: [philox4x32_words(xp, seed_of(p), 0, n_of(i))], None)]
    t["prng_uniform_f32"] = [("a + (b - a) * unit(words), f64 then f32", CHAIN, lambda i, o, p: [
        (p["a"] + (p["b"] - p["a"]) * unit(philox4x32_words(xp, seed_of(p), 0, n_of(i)))).astype(xp.float32)], None)]
    t["prng_normal_f32"] = [("Box-Muller on word pairs, f64 then f32", CHAIN, lambda i, o, p: [box_muller(n_of(i), seed_of(p))], None)]
    t["prng_dropout_mask"] = [("(words >> 8) < ceil(keep * 2^24)", CHAIN, lambda i, o, p: [
        ((philox4x32_words(xp, seed_of(p), 0, n_of(i)) >> 8) < int(np.ceil(p["keep"] * 2 ** 24))).astype(xp.uint8)], None)]
    # simulation: the entries' slicing, all in f32 (f32 parameters, F32 constants); the
    # integrators step in place on copies; Monte Carlo on the contract's Philox samples.
    def sim_heat(u, r, steps):
        for _ in range(steps):
            v = u.copy()
            c = u[1:-1, 1:-1]
            v[1:-1, 1:-1] = c + r * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - F32(4) * c)
            u = v
        return u

    def sim_wave(up, u, c2):
        v = u.copy()
        c = u[1:-1, 1:-1]
        v[1:-1, 1:-1] = F32(2) * c - up[1:-1, 1:-1] + c2 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - F32(4) * c)
        return v

    def sim_stencil_2d(u, p):
        w = [f(p["w%d" % k]) for k in range(9)]
        g = u.shape[0]
        v = u.copy()
        if g > 2:
            v[1:-1, 1:-1] = sum(w[3 * (a + 1) + (b + 1)] * u[1 + a:g - 1 + a, 1 + b:g - 1 + b] for a in (-1, 0, 1) for b in (-1, 0, 1))
        return v

    def sim_stencil_3d(u, r):
        v = u.copy()
        c = u[1:-1, 1:-1, 1:-1]
        v[1:-1, 1:-1, 1:-1] = c + r * (u[:-2, 1:-1, 1:-1] + u[2:, 1:-1, 1:-1] + u[1:-1, :-2, 1:-1] + u[1:-1, 2:, 1:-1]
                                       + u[1:-1, 1:-1, :-2] + u[1:-1, 1:-1, 2:] - F32(6) * c)
        return v

    def sim_rk4(x, v, h, steps):
        w2, h2, h6 = F32(1), h / F32(2), h / F32(6)
        for _ in range(steps):
            k1x, k1v = v, -w2 * x
            k2x, k2v = v + h2 * k1v, -w2 * (x + h2 * k1x)
            k3x, k3v = v + h2 * k2v, -w2 * (x + h2 * k2x)
            k4x, k4v = v + h * k3v, -w2 * (x + h * k3x)
            x, v = x + h6 * (k1x + F32(2) * k2x + F32(2) * k3x + k4x), v + h6 * (k1v + F32(2) * k2v + F32(2) * k3v + k4v)
        return [x, v]

    def sim_verlet(x, v, h, steps):
        w2 = F32(1)
        for _ in range(steps):
            a = -w2 * x
            x_new = x + h * v + (h * h / F32(2)) * a
            a_new = -w2 * x_new
            v = v + (h / F32(2)) * (a + a_new)
            x = x_new
        return [x, v]

    def sim_monte_carlo(n, seed):
        x = ((philox4x32_words(xp, seed, 0, n) >> 8).astype(xp.float32) * F32(2.0 ** -24))
        return [xp.mean(F32(4) / (F32(1) + x * x), dtype=xp.float64).astype(xp.float32)]

    t["sim_heat_equation"] = [("slicing per step (f32)", CHAIN, lambda i, o, p: [sim_heat(i[0], f(p["r"]), int(p["steps"]))], None)]
    t["sim_wave_equation"] = [("slicing (f32)", CHAIN, lambda i, o, p: [sim_wave(i[0], i[1], f(p["c2"]))], None)]
    t["sim_stencil_2d"] = [("sum of 9 shifted slices (f32)", CHAIN, lambda i, o, p: [sim_stencil_2d(i[0], p)], None)]
    t["sim_stencil_3d"] = [("slicing (f32)", CHAIN, lambda i, o, p: [sim_stencil_3d(i[0], f(p["r"]))], None)]
    t["integrate_rk4"] = [("RK4 stages per step (f32 arrays)", CHAIN, lambda i, o, p: sim_rk4(i[0], i[1], f(p["dt"]), int(p["steps"])), None)]
    t["integrate_verlet"] = [("velocity Verlet per step (f32 arrays)", CHAIN, lambda i, o, p: sim_verlet(i[0], i[1], f(p["dt"]), int(p["steps"])), None)]
    t["monte_carlo_integrate"] = [("Philox4x32 words, mean(4/(1+x*x), dtype=f64)", CHAIN, lambda i, o, p: sim_monte_carlo(n_of(i), seed_of(p)), None)]
    # sorting: sorts, stable key-value sort, top-k and order statistics (docs/kernels/sorting.md).
    t["sort_radix"] = [("sort", CALL, lambda i, o, p: [xp.sort(i[0])], None)]
    t["sort_bitonic"] = [("sort", CALL, lambda i, o, p: [xp.sort(i[0])], None)]
    t["sort_bitonic_kv"] = [("argsort(kind='stable'); (k[i], v[i])", CHAIN, lambda i, o, p: xp_sort_kv(xp, i[0], i[1]), None)]
    t["topk_select"] = [("argpartition(x, -k)[-k:], lexsort((p, -x[p]))", CHAIN, lambda i, o, p: xp_topk_partition(xp, i[0], sort_topk_k(i[0].shape[0], p)), None),
                        ("argsort(-x, kind='stable')[:k]", CHAIN, lambda i, o, p: xp_topk_stable(xp, i[0], sort_topk_k(i[0].shape[0], p)), None)]
    t["median_select"] = [("median", CALL, lambda i, o, p: [xp.median(i[0])], None)]
    t["percentile_select"] = [("percentile(x, q).astype(f32)", CALL, lambda i, o, p: [xp.percentile(i[0], sort_percentiles(p)).astype(xp.float32)], None)]
    # softmax and normalization (docs/kernels/softmax.md, normalization.md): the entries' idioms.
    def xp_softmax(x):
        e = xp.exp(x - x.max(axis=1, keepdims=True))
        return [e / e.sum(axis=1, keepdims=True)]

    def xp_log_softmax(x):
        m = x.max(axis=1, keepdims=True)
        return [x - m - xp.log(xp.exp(x - m).sum(axis=1, keepdims=True))]

    def xp_layer_norm(x, g, b, eps):
        m, v = x.mean(1, keepdims=True), x.var(1, keepdims=True)
        return [(x - m) / xp.sqrt(v + F32(eps)) * g + b]

    def xp_batch_norm(x, g, b, eps, transpose):
        if transpose:  # reduce contiguous rows: pairwise sums (the passing variant)
            xt = xp.ascontiguousarray(x.T)
            m, v = xt.mean(1), xt.var(1)
        else:  # a strided axis: numpy reduces it row by row in f32 (fails at 10^7, as the entry says)
            m, v = x.mean(0), x.var(0)
        return [(x - m) / xp.sqrt(v + F32(eps)) * g + b, m, v]

    def xp_group_norm(x, g, b, groups, eps):
        xg = x.reshape(x.shape[0], groups, -1)
        m, v = xg.mean(-1, keepdims=True), xg.var(-1, keepdims=True)
        return [((xg - m) / xp.sqrt(v + F32(eps))).reshape(x.shape) * g[:, None] + b[:, None]]

    t["softmax_stable"] = [("exp(x - max), / sum", CHAIN, lambda i, o, p: xp_softmax(i[0]), None)]
    t["softmax_online"] = [("exp(x - max), / sum", CHAIN, lambda i, o, p: xp_softmax(i[0]), None)]
    t["log_softmax"] = [("x - max - log(sum(exp(x - max)))", CHAIN, lambda i, o, p: xp_log_softmax(i[0]), None)]
    t["layer_norm"] = [("mean, var, (x - m)/sqrt(v + eps)*g + b", CHAIN, lambda i, o, p: xp_layer_norm(i[0], i[1], i[2], p["eps"]), None)]
    t["rms_norm"] = [("x / sqrt(mean(x*x) + eps) * g", CHAIN, lambda i, o, p: [i[0] / xp.sqrt((i[0] * i[0]).mean(1, keepdims=True) + F32(p["eps"])) * i[1]], None)]
    t["batch_norm"] = [("mean(0), var(0), normalise", CHAIN, lambda i, o, p: xp_batch_norm(i[0], i[1], i[2], p["eps"], False), None),
                       ("x.T contiguous, mean(1), var(1), normalise", CHAIN, lambda i, o, p: xp_batch_norm(i[0], i[1], i[2], p["eps"], True), None)]
    t["group_norm"] = [("reshape (B, G, -1), mean, var, normalise, per-channel affine", CHAIN,
                        lambda i, o, p: xp_group_norm(i[0], i[1], i[2], int(p["groups"]), p["eps"]), None)]
    # attention (docs/kernels/attention.md): the entry's idioms. The scale is an f32 scalar (an
    # np.float64 one would promote the scores, the softmax and @ V to f64 under NEP 50).
    def xp_attention(q, k, v, p):
        rep = 32 // int(p["kv_heads"])
        if rep > 1:
            k, v = xp.repeat(k, rep, axis=1), xp.repeat(v, rep, axis=1)
        s = (q @ k.swapaxes(-1, -2)) * F32(1.0 / 128 ** 0.5)
        if int(p["causal"]):
            n = q.shape[2]
            s = s + xp.triu(xp.full((n, n), -xp.inf, xp.float32), 1)
        e = xp.exp(s - s.max(axis=-1, keepdims=True))
        return [(e / e.sum(axis=-1, keepdims=True)) @ v]

    # RoPE's cos/sin tables, built once per base in f64 and rounded to f32 (untimed).
    rope_tables = {}

    def xp_rope(x, base):
        if base not in rope_tables:
            th = base ** (-2.0 * np.arange(64) / 128)
            ang = np.arange(4096)[:, None] * th
            rope_tables[base] = (xp.asarray(np.cos(ang).astype(np.float32)), xp.asarray(np.sin(ang).astype(np.float32)))
        tc, ts = rope_tables[base]
        pos = xp.arange(x.shape[0]) % 4096
        c, s = tc[pos], ts[pos]
        x1, x2 = x[:, :64], x[:, 64:]
        return [xp.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=1)]

    def xp_alibi(x):
        n = x.shape[1]
        m = 2.0 ** (-8.0 * xp.arange(1, 33) / 32)
        d = xp.arange(n)[:, None] - xp.arange(n)[None, :]
        bias = xp.where(d >= 0, -m[:, None, None] * d, -xp.inf).astype(xp.float32)
        return [x + bias]

    t["attention_sdpa"] = [("repeat K/V, softmax(Q @ K^T * f32 scale) @ V", CHAIN, lambda i, o, p: xp_attention(i[0], i[1], i[2], p), None)]
    t["attention_flash"] = [("repeat K/V, softmax(Q @ K^T * f32 scale) @ V", CHAIN, lambda i, o, p: xp_attention(i[0], i[1], i[2], p), None)]
    t["rope_apply"] = [("f64-built cos/sin tables, gather, concatenate", CHAIN, lambda i, o, p: xp_rope(i[0], p["base"]), None)]
    t["alibi_bias"] = [("where(d >= 0, -m * d, -inf).astype(f32), scores + bias", CHAIN, lambda i, o, p: xp_alibi(i[0]), None)]
    # loss (docs/kernels/loss.md): the entries' idioms.
    def xp_cross_entropy(x, y):
        m = x.max(1, keepdims=True)
        lse = m[:, 0] + xp.log(xp.exp(x - m).sum(1))
        return [xp.mean(lse - x[xp.arange(x.shape[0]), y])]

    def xp_huber(p, t, delta):
        d = xp.abs(p - t)
        return [xp.mean(xp.where(d < delta, F32(0.5) * d * d, delta * (d - F32(0.5) * delta)))]

    def xp_bce(p, y):
        lp, l1 = xp.maximum(xp.log(p), F32(-100)), xp.maximum(xp.log1p(-p), F32(-100))
        return [xp.mean(-(y * lp + (F32(1) - y) * l1))]

    def xp_kl(lq, p):
        xlogx = xp.where(p > 0, p * xp.log(xp.where(p > 0, p, F32(1))), F32(0))
        return [xp.sum(xlogx - p * lq) / F32(lq.shape[0])]

    t["loss_mse"] = [("mean((p - t) ** 2)", CHAIN, lambda i, o, p: [xp.mean((i[0] - i[1]) ** 2)], None)]
    t["loss_mae"] = [("mean(abs(p - t))", CHAIN, lambda i, o, p: [xp.mean(xp.abs(i[0] - i[1]))], None)]
    t["loss_huber"] = [("where(|d| < δ, d²/2, δ(|d| − δ/2)).mean()", CHAIN, lambda i, o, p: xp_huber(i[0], i[1], F32(p["delta"])), None)]
    t["loss_cross_entropy"] = [("max, log(sum(exp(x - max))), mean(lse - x[r, y])", CHAIN, lambda i, o, p: xp_cross_entropy(i[0], i[1]), None)]
    t["loss_bce"] = [("mean(-(y·max(log p, -100) + (1 - y)·max(log1p(-p), -100)))", CHAIN, lambda i, o, p: xp_bce(i[0], i[1]), None)]
    t["loss_kl_div"] = [("sum(xlogy(p, p) - p·lq) / R", CHAIN, lambda i, o, p: xp_kl(i[0], i[1]), None)]

    # fft (docs/kernels/fft.md): the f32[2L] input viewed in place as complex64[L], the result
    # viewed back as interleaved f32 (no copies). numpy 2.x computes in single precision only
    # when the normalisation factor is a float32: norm='forward' times float32(L) (exact, L a
    # power of two); its ifft's 1/L already is one. CuPy (cuFFT) is called as written.
    if xp is np:
        xp_fft = lambda x: np.fft.fft(x, norm="forward") * F32(x.shape[0])
        xp_rfft = lambda x: np.fft.rfft(x, norm="forward") * F32(x.shape[0])
        fft_names = ("fft(x, norm='forward') * float32(L)", "rfft(x, norm='forward') * float32(L)")
    else:
        xp_fft, xp_rfft = xp.fft.fft, xp.fft.rfft
        fft_names = ("fft(x)", "rfft(x)")
    c64 = lambda x: x.view(xp.complex64)
    t["fft_radix2"] = [(fft_names[0], CALL, lambda i, o, p: [xp_fft(c64(i[0])).view(xp.float32)], None)]
    t["fft_radix4"] = [(fft_names[0], CALL, lambda i, o, p: [xp_fft(c64(i[0])).view(xp.float32)], None)]
    t["ifft"] = [("ifft(X)", CALL, lambda i, o, p: [xp.fft.ifft(c64(i[0])).view(xp.float32)], None)]
    t["fft_real"] = [(fft_names[1], CALL, lambda i, o, p: [xp_rfft(i[0]).view(xp.float32)], None)]
    t["spectral_power"] = [("abs(%s)**2" % fft_names[1], CHAIN, lambda i, o, p: [xp.abs(xp_rfft(i[0])) ** 2], None)]

    # signal's FIR kernels (docs/kernels/signal.md): x f32[N], h f32[K]. np.correlate(x, h,
    # 'same') is the centred correlation for odd K and N ≥ K (for N < K numpy swaps its
    # arguments and returns K values: such a run fails verification, as the entry says);
    # scipy.signal.correlate's 'same' returns the N defined outputs at any N.
    if xp is np:
        t["conv1d"] = [("correlate(x, h, 'same')", CALL, lambda i, o, p: [np.correlate(i[0], i[1], "same")], None)]
        t["fft_conv1d"] = [("correlate(x, h, 'same') (direct)", CALL, lambda i, o, p: [np.correlate(i[0], i[1], "same")], None)]
        t["fir_filter"] = [("convolve(x, h)[:N]", CALL, lambda i, o, p: [np.convolve(i[0], i[1])[:i[0].size]], None)]
        if scipy is not None:
            sig = scipy.signal
            t["conv1d"].append(("signal.correlate(x, h, 'same')", CALL, lambda i, o, p: [sig.correlate(i[0], i[1], mode="same")], None))
            t["fft_conv1d"] += [
                ("signal.oaconvolve(x, h[::-1], 'same')", CALL, lambda i, o, p: [sig.oaconvolve(i[0], i[1][::-1], mode="same")], None),
                ("signal.correlate(x, h, 'same', method='fft')", CALL, lambda i, o, p: [sig.correlate(i[0], i[1], mode="same", method="fft")], None)]
            # a = [1] as float32: an f64 `a` would make lfilter filter in float64.
            t["fir_filter"].append(("signal.lfilter(h, ones(1, f32), x)", CALL, lambda i, o, p: [sig.lfilter(i[1], np.ones(1, np.float32), i[0])], None))

    # signal's lag kernels (docs/kernels/signal.md): one dot per lag with the `k < N` guards
    # (x[:N-k] counts from the end for k > N), and the FFT routes in f64 (F ≥ N + L − 1: no
    # wrap-around), whose lags with no terms are set to exactly 0 (the FFT leaves ~1e-17 there).
    def xp_autocorr_dots(x, lags):
        n = x.shape[0]
        zero = xp.zeros((), dtype=xp.float32)
        return [xp.stack([xp.dot(x[:n - k], x[k:]) if k < n else zero for k in range(lags)]).astype(xp.float32)]

    def xp_crosscorr_dots(x, y, lags):
        n = x.shape[0]
        zero = xp.zeros((), dtype=xp.float32)
        return [xp.stack([xp.dot(x[max(0, -k):n - max(0, k)], y[max(0, k):n + min(0, k)]) if abs(k) < n else zero
                          for k in range(-lags, lags + 1)]).astype(xp.float32)]

    def xp_autocorr_fft(x, lags):
        n = x.shape[0]
        f = max(1, n + lags - 1)
        r = xp.fft.irfft(xp.abs(xp.fft.rfft(x.astype(xp.float64), f)) ** 2, f)[:lags]
        r = xp.concatenate([r, xp.zeros(max(0, lags - r.shape[0]))])
        r[min(n, lags):] = 0.0
        return [r.astype(xp.float32)]

    def sp_crosscorr_fft(x, y, lags):
        import scipy.signal  # noqa: F401 (loaded on the verification call, never timed)
        n = x.shape[0]
        if n == 0:
            return [xp.zeros(2 * lags + 1, dtype=xp.float32)]
        c = scipy.signal.correlate(y.astype(xp.float64), x.astype(xp.float64), mode="full", method="fft")
        c = xp.pad(c, lags - n + 1) if n <= lags else c[n - 1 - lags:n + lags]
        return [c.astype(xp.float32)]

    t["autocorrelation"] = [("[dot(x[:N-k], x[k:]) if k < N else 0 for k < L]", CHAIN,
                             lambda i, o, p: xp_autocorr_dots(i[0], int(p["max_lag"])), None),
                            ("irfft(abs(rfft(x.astype(f64), F))**2, F)[:L], F = N + L − 1", CHAIN,
                             lambda i, o, p: xp_autocorr_fft(i[0], int(p["max_lag"])), None)]
    t["cross_correlation"] = [("[dot(x[..], y[..]) if |k| < N else 0 for k in −L … L]", CHAIN,
                               lambda i, o, p: xp_crosscorr_dots(i[0], i[1], int(p["max_lag"])), None)]
    if xp is np and scipy is not None:
        t["cross_correlation"].append(("scipy.signal.correlate(y, x, 'full', method='fft') (f64), pad or slice", CHAIN,
                                       lambda i, o, p: sp_crosscorr_fft(i[0], i[1], int(p["max_lag"])), None))

    # optimizers (docs/kernels/optimizers.md): in place, as the entries write them, on copies of
    # the state made once per input set (`state`); each call takes one more step from there.
    def state(*idx, total=False):
        def alloc(i):
            o = [i[k].copy() for k in idx]
            if total:
                o.append(xp.empty((), dtype=xp.float32))
            return o
        alloc.state = True
        return alloc

    def xp_sgd(g, w, p):
        w -= F32(p["lr"]) * g

    def xp_momentum(g, w, buf, p):
        buf *= F32(p["momentum"])
        buf += g
        w -= F32(p["lr"]) * buf

    def xp_adam(g, w, m, v, p, decay):
        lr, b1, b2, t = p["lr"], p["beta1"], p["beta2"], p["t"]
        # Constants formed in f64 from Python floats and rounded once (never 1 - b2 on an f32).
        step, sbc2 = F32(lr / (1 - b1 ** t)), F32(np.sqrt(1 - b2 ** t))
        if decay:
            w *= F32(1 - lr * p["weight_decay"])
        m[...] = F32(b1) * m + F32(1 - b1) * g
        v[...] = F32(b2) * v + F32(1 - b2) * (g * g)
        w -= step * m / (xp.sqrt(v) / sbc2 + F32(p["eps"]))

    def xp_clip_norm(g, tot_out, c):
        tot = xp.sqrt(xp.sum(g.astype(xp.float64) ** 2)).astype(xp.float32)
        g *= xp.minimum(F32(1), F32(c) / (tot + F32(1e-6)))
        tot_out[...] = tot

    t["opt_sgd"] = [("p -= lr * g (in place)", CHAIN, lambda i, o, p: xp_sgd(i[1], o[0], p), state(0)),
                    ("subtract(p, lr * g, out=)", CHAIN, lambda i, o, p: xp.subtract(i[0], F32(p["lr"]) * i[1], out=o[0]), z1)]
    t["opt_sgd_momentum"] = [("buf *= μ; buf += g; p -= lr * buf (in place)", CHAIN, lambda i, o, p: xp_momentum(i[1], o[0], o[1], p), state(0, 2))]
    t["opt_adam"] = [("m, v, p updated in place", CHAIN, lambda i, o, p: xp_adam(i[1], o[0], o[1], o[2], p, False), state(0, 2, 3))]
    t["opt_adamw"] = [("p *= 1 - lr·λ; m, v, p updated in place", CHAIN, lambda i, o, p: xp_adam(i[1], o[0], o[1], o[2], p, True), state(0, 2, 3))]
    t["grad_clip_norm"] = [("sqrt(sum(g.astype(f64)**2)); g *= minimum(1, c/(tot + 1e-6))", CHAIN,
                            lambda i, o, p: xp_clip_norm(o[0], o[1], p["max_norm"]), state(0, total=True))]
    t["grad_clip_value"] = [("clip(g, -c, c, out=)", CALL, lambda i, o, p: xp.clip(i[0], -F32(p["clip_value"]), F32(p["clip_value"]), out=o[0]), z1)]
    # linalg (docs/kernels/linalg.md): the entries' idioms; scipy's where the entry names it.
    def spmv_csr_matrix(rp, col, val, x):
        # int32 views of the u32 indices (no copy; every value < 2^31), as scipy keeps them.
        m = scipy.sparse.csr_matrix((val, col.view(xp.int32), rp.view(xp.int32)), shape=(rp.size - 1, x.size))
        return [m @ x]

    t["matmul_batched"] = [("matmul(A, Bm, out=)", CALL, lambda i, o, p: xp.matmul(i[0], i[1], out=o[0]), z1)]
    t["matvec"] = [("matmul(A, x, out=) (A @ x)", CALL, lambda i, o, p: xp.matmul(i[0], i[1], out=o[0]), rows)]
    t["outer_product"] = [("outer(x, y, out=)", CALL, lambda i, o, p: xp.outer(i[0], i[1], out=o[0]),
                           lambda i: [xp.empty((i[0].size, i[1].size), dtype=xp.float32)])]
    def spmv_reduceat(rp, col, val, x):
        # reduceat over the non-empty rows' starts only: an empty row's start would yield the
        # next element instead of 0, and a trailing one (start = nnz) is out of range.
        y = xp.zeros(rp.size - 1, dtype=xp.float32)
        full = xp.diff(rp) > 0
        if val.size:
            y[full] = xp.add.reduceat(val * x[col], rp[:-1][full])
        return [y]

    t["spmv_csr"] = [("add.reduceat(val * x[col], row_ptr[:-1]) over the non-empty rows", CHAIN,
                      lambda i, o, p: spmv_reduceat(*i), None)]
    if scipy is not None:
        t["spmv_csr"].append(("sparse.csr_matrix((val, col, row_ptr)) @ x", CALL, lambda i, o, p: spmv_csr_matrix(*i), None))
        t["triangular_solve"] = [("linalg.solve_triangular(L, b, lower=True)", CALL,
                                  lambda i, o, p: [scipy.linalg.solve_triangular(i[0], i[1], lower=True, check_finite=False)], None)]
    # fused_custom (docs/kernels/fused_custom.md): the unfused chains of the entries' Peers lines.
    def xp_ln_dropout(x, res, g, b, mask, p):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        y = (g * (x - mu) / xp.sqrt(var + F32(p["eps"])) + b) * F32(1 / p["keep"])
        return [res + xp.where(mask != 0, y, F32(0))]

    def xp_scan_compact(x, t):
        idx = xp.flatnonzero(x > F32(t))
        return [np.uint64(idx.size), x[idx], idx]

    def xp_adam_clip(g, w, m, v, tot_out, p):
        tot = xp.sqrt(xp.sum(g.astype(xp.float64) ** 2))
        gc = g * F32(xp.minimum(1.0, p["max_norm"] / (tot + 1e-6)))
        xp_adam(gc, w, m, v, p, False)
        tot_out[...] = tot

    def xp_softmax_ce(x, t):
        r = xp.arange(x.shape[0])
        m = x.max(1, keepdims=True)
        e = xp.exp(x - m)
        s = e.sum(1, keepdims=True)
        lse = m + xp.log(s)
        loss = (lse[:, 0] - x[r, t]).mean()
        grad = e / s
        grad[r, t] -= F32(1)
        grad /= F32(x.shape[0])
        return [loss, grad]

    def xp_softmax_v(s, v):
        e = xp.exp(s - s.max(-1, keepdims=True))
        return [(e / e.sum(-1, keepdims=True)) @ v]

    rope_cache = {}

    def rope_cs(base, s, d):
        # Built once per (base, S, D), untimed: angles and cos/sin in float64, rounded once.
        key = (base, s, d)
        if key not in rope_cache:
            ang = np.outer(np.arange(s), base ** (-np.arange(0, d, 2) / d))
            rope_cache[key] = (xp.asarray(np.cos(ang).astype(np.float32)), xp.asarray(np.sin(ang).astype(np.float32)))
        return rope_cache[key]

    def xp_rope_attention(q, k, v, base):
        s, d = q.shape[-2], q.shape[-1]
        cos, sin = rope_cs(base, s, d)

        def rot(u):
            u1, u2 = u[..., :d // 2], u[..., d // 2:]
            return xp.concatenate([u1 * cos - u2 * sin, u1 * sin + u2 * cos], axis=-1)

        sc = xp.where(xp.tri(s, dtype=bool), (rot(q) @ xp.swapaxes(rot(k), -1, -2)) * F32(1 / np.sqrt(d)), F32(-np.inf))
        e = xp.exp(sc - sc.max(-1, keepdims=True))
        return [(e / e.sum(-1, keepdims=True)) @ v]

    t["fused_layernorm_dropout_residual"] = [("mean, var, normalise, where(mask, ·/keep, 0) + res", CHAIN,
                                              lambda i, o, p: xp_ln_dropout(*i, p), None)]
    t["fused_scan_compact"] = [("flatnonzero(x > t), x[idx]", CHAIN, lambda i, o, p: xp_scan_compact(i[0], p["threshold"]), None)]
    t["fused_adam_clip_update"] = [("f64 norm, g * coef, Adam in place", CHAIN,
                                    lambda i, o, p: xp_adam_clip(i[1], o[0], o[1], o[2], o[3], p), state(0, 2, 3, total=True))]
    t["fused_softmax_cross_entropy"] = [("max, exp, sum, lse, mean(lse - x[r, t]); e/S - onehot, /R", CHAIN,
                                         lambda i, o, p: xp_softmax_ce(i[0], i[1]), None)]
    t["fused_attention_softmax_v"] = [("exp(s - max) / sum @ V", CHAIN, lambda i, o, p: xp_softmax_v(i[0], i[1]), None)]
    t["fused_rope_attention_mask"] = [("rotate q, k; where(tri, q·kᵀ/√D, -inf); softmax @ V", CHAIN,
                                       lambda i, o, p: xp_rope_attention(i[0], i[1], i[2], p["rope_base"]), None)]
    vecdot = getattr(xp, "vecdot", None)  # numpy >= 2.0
    if vecdot is not None:
        t["dot_batched"].append(("vecdot(out=)", CALL, lambda i, o, p: vecdot(i[0], i[1], out=o[0]), rows))
        t["cosine_similarity"].append(("vecdot dots", CHAIN, lambda i, o, p: cosine(i[0], i[1], p["eps"], vecdot), None))
    if special is not None:
        t["map_gelu_erf"] = [("0.5x(1 + erf(x/√2))", CHAIN, lambda i, o, p: [F32(0.5) * i[0] * (F32(1) + special.erf(i[0] * isq2))], None)]
        t["map_sigmoid"].append(("special.expit(out=)", CALL, lambda i, o, p: special.expit(i[0], out=o[0]), z1))
    return t


# ---------------------------------------------------------------------------------------------
# PyTorch (CPU and CUDA): one table, for tensors on `dev`.


def torch_table(torch, dev):
    import torch.nn.functional as Fn
    nn = torch._C._nn
    like = lambda i: [torch.empty_like(i[0])]

    def torch_autocorr_dots(x, lags):
        n, zero = x.shape[0], torch.zeros((), dtype=torch.float32, device=dev)
        return torch.stack([torch.dot(x[:n - k], x[k:]) if k < n else zero for k in range(lags)])

    def torch_crosscorr_dots(x, y, lags):
        n, zero = x.shape[0], torch.zeros((), dtype=torch.float32, device=dev)
        return torch.stack([torch.dot(x[max(0, -k):n - max(0, k)], y[max(0, k):n + min(0, k)]) if abs(k) < n else zero
                            for k in range(-lags, lags + 1)])
    flipped = lambda i: [torch.empty(tuple(i[0].shape[::-1]), dtype=i[0].dtype, device=dev)]
    scalar = lambda dt: (lambda i: [torch.empty((), dtype=dt, device=dev)])
    rows = lambda i: [torch.empty(i[0].shape[0], dtype=torch.float32, device=dev)]
    # A tensor 127, not the Python number: torch turns division by a Python scalar into a
    # multiplication by its reciprocal, not the correctly rounded quotient the entry defines.
    c127 = torch.tensor(127.0, dtype=torch.float32, device=dev)

    # linalg's contract forbids TF32: torch's defaults since 1.12, set explicitly here.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    # signal's conv peers (F.conv1d): cuDNN convolves in TF32 by default, which fails the
    # entries' sum(1e-5); set once here, outside every timed call.
    torch.backends.cudnn.allow_tf32 = False

    def conv_same(x, h):
        k = h.shape[0]
        return Fn.conv1d(x.view(1, 1, -1), h.view(1, 1, -1), padding=(k - 1) // 2).view(-1)

    def fir(x, h):
        k = h.shape[0]
        return Fn.conv1d(Fn.pad(x.view(1, 1, -1), (k - 1, 0)), h.flip(0).view(1, 1, -1)).view(-1)

    def torch_spmv(rp, col, val, x):
        # int32 views of the u32 indices (no copy; every value < 2^31): crow and col must share a dtype.
        a = torch.sparse_csr_tensor(rp.view(torch.int32), col.view(torch.int32), val, size=(rp.numel() - 1, x.numel()))
        return a @ x

    def quant_i8(x):
        s = x.abs().amax(1).float() / c127
        q = torch.nan_to_num(torch.round(x.float() / s[:, None]), nan=0.0).clamp(-127, 127).to(torch.int8)
        return [q, s]

    def hann(m):
        return torch.hann_window(m, periodic=False, dtype=torch.float64, device=dev).float()

    def exclusive_i32(x):
        w = x.view(torch.int32)
        return (torch.cumsum(w, 0, dtype=torch.int32) - w).view(torch.uint32)

    def exclusive_i64(x):
        w = x.to(torch.int64)
        return (torch.cumsum(w, 0) - w) & 0xFFFFFFFF

    def compacted(v):
        # The kept values and their count (`numel()`: on CUDA the boolean index has already
        # synchronised to size its result).
        return [v, v.numel()]

    # simulation helpers (float32 tensors; a Python float times a float32 tensor stays float32).
    def sim_heat(u, r, steps):
        for _ in range(steps):
            v = u.clone()
            c = u[1:-1, 1:-1]
            v[1:-1, 1:-1] = c + r * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * c)
            u = v
        return u

    def sim_wave(up, u, c2):
        v = u.clone()
        c = u[1:-1, 1:-1]
        v[1:-1, 1:-1] = 2 * c - up[1:-1, 1:-1] + c2 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * c)
        return v

    def sim_weights(p):
        return [F32(p["w%d" % k]).item() for k in range(9)]

    def sim_stencil_2d(u, p):
        w, g = sim_weights(p), u.shape[0]
        v = u.clone()
        if g > 2:
            v[1:-1, 1:-1] = sum(w[3 * (a + 1) + (b + 1)] * u[1 + a:g - 1 + a, 1 + b:g - 1 + b] for a in (-1, 0, 1) for b in (-1, 0, 1))
        return v

    def sim_conv2d(u, p):
        torch.backends.cudnn.allow_tf32 = False
        v = u.clone()
        if u.shape[0] > 2:
            w = torch.tensor(sim_weights(p), dtype=torch.float32, device=dev).view(1, 1, 3, 3)
            v[1:-1, 1:-1] = Fn.conv2d(u[None, None], w)[0, 0]
        return v

    def sim_stencil_3d(u, r):
        v = u.clone()
        c = u[1:-1, 1:-1, 1:-1]
        v[1:-1, 1:-1, 1:-1] = c + r * (u[:-2, 1:-1, 1:-1] + u[2:, 1:-1, 1:-1] + u[1:-1, :-2, 1:-1] + u[1:-1, 2:, 1:-1]
                                       + u[1:-1, 1:-1, :-2] + u[1:-1, 1:-1, 2:] - 6 * c)
        return v

    def sim_rk4(x, v, h, steps):
        h2, h6 = F32(h / F32(2)).item(), F32(h / F32(6)).item()
        for _ in range(steps):
            k1x, k1v = v, -x
            k2x, k2v = v + h2 * k1v, -(x + h2 * k1x)
            k3x, k3v = v + h2 * k2v, -(x + h2 * k2x)
            k4x, k4v = v + h * k3v, -(x + h * k3x)
            x, v = x + h6 * (k1x + 2 * k2x + 2 * k3x + k4x), v + h6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        return [x, v]

    def sim_verlet(x, v, h, steps):
        hh, h2 = F32(F32(h) * F32(h) / F32(2)).item(), F32(h / F32(2)).item()
        for _ in range(steps):
            a = -x
            x_new = x + h * v + hh * a
            v = v + h2 * (a - x_new)
            x = x_new
        return [x, v]

    def sim_philox_words(n, seed):
        # int64 lanes: a 32×32-bit product wraps past 2^63, but its bits mod 2^64 are right, and
        # the masks take the high and low words.
        blocks = (n + 3) // 4
        m32 = 0xFFFFFFFF
        c0 = torch.arange(blocks, dtype=torch.int64, device=dev) & m32
        c1 = torch.arange(blocks, dtype=torch.int64, device=dev) >> 32
        c2, c3 = torch.zeros_like(c0), torch.zeros_like(c0)
        k0, k1 = seed & m32, (seed >> 32) & m32
        for _ in range(10):
            p0, p1 = c0 * 0xD2511F53, c2 * 0xCD9E8D57
            c0, c1, c2, c3 = ((p1 >> 32) & m32) ^ c1 ^ k0, p1 & m32, ((p0 >> 32) & m32) ^ c3 ^ k1, p0 & m32
            k0, k1 = (k0 + 0x9E3779B9) & m32, (k1 + 0xBB67AE85) & m32
        return torch.stack([c0, c1, c2, c3], dim=1).reshape(-1)[:n]

    def torch_sdpa(i, p):
        # TF32 (10-bit mantissa) fails the entry's norm(1e-5).
        torch.backends.cuda.matmul.allow_tf32 = False
        q, k, v = i
        kv, causal = int(p["kv_heads"]), bool(int(p["causal"]))
        if kv == 32:
            return Fn.scaled_dot_product_attention(q, k, v, is_causal=causal)
        try:  # torch >= 2.5
            return Fn.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        except TypeError:
            rep = 32 // kv
            return Fn.scaled_dot_product_attention(q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1), is_causal=causal)

    rope_tables = {}

    def torch_rope(x, base):
        if base not in rope_tables:
            th = base ** (-2.0 * torch.arange(64, dtype=torch.float64) / 128)
            ang = torch.arange(4096, dtype=torch.float64)[:, None] * th
            rope_tables[base] = (torch.cos(ang).float().to(dev), torch.sin(ang).float().to(dev))
        tc, ts = rope_tables[base]
        pos = torch.arange(x.shape[0], device=dev) % 4096
        c, s = tc[pos], ts[pos]
        x1, x2 = x[:, :64], x[:, 64:]
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)

    def torch_alibi(x):
        n = x.shape[1]
        m = torch.exp2(-8.0 * torch.arange(1, 33, dtype=torch.float64) / 32).float().to(dev)
        d = (torch.arange(n, device=dev)[:, None] - torch.arange(n, device=dev)[None, :]).float()
        return x + torch.where(d >= 0, -m[:, None, None] * d, float("-inf"))

    def torch_batch_norm(x, g, b, eps):
        y = Fn.batch_norm(x, None, None, g, b, training=True, eps=eps)
        v, m = torch.var_mean(x, dim=0, correction=0)
        return [y, m, v]

    def sim_monte_carlo(n, seed):
        x = (sim_philox_words(n, seed) >> 8).to(torch.float32) * 2.0 ** -24
        return [(4 / (1 + x * x)).mean(dtype=torch.float64).float()]

    # optimizers: torch.optim steps in place on copies of the state made once per input set
    # (`state`); the optimizer is made once per parameter tensor, its state preset as the entries
    # say (Adam: step 9 before the call, on the device for fused=True).
    def state(*idx, total=False):
        def alloc(i):
            o = [i[k].clone() for k in idx]
            if total:
                o.append(torch.empty((), dtype=torch.float32, device=dev))
            return o
        alloc.state = True
        return alloc

    made = OPTIMIZERS

    def optim_step(kind, i, o, p, fused):
        opt = optimizer(kind, o, p, fused)
        o[0].grad = i[1]
        opt.step()

    def optimizer(kind, o, p, fused):
        w = o[0]
        key = (kind, fused, w.data_ptr())
        opt = made.get(key)
        if opt is None:
            extra = {"fused": True} if fused else {}
            if kind in ("sgd", "momentum"):
                mom = {"momentum": p["momentum"]} if kind == "momentum" else {}
                opt = torch.optim.SGD([w], lr=p["lr"], **mom, **extra)
                if kind == "momentum":
                    opt.state[w]["momentum_buffer"] = o[1]
            else:
                cls, wd = (torch.optim.AdamW, {"weight_decay": p["weight_decay"]}) if kind == "adamw" else (torch.optim.Adam, {})
                opt = cls([w], lr=p["lr"], betas=(p["beta1"], p["beta2"]), eps=p["eps"], **wd, **extra)
                step = torch.tensor(p["t"] - 1, dtype=torch.float32, device=dev if fused else "cpu")
                opt.state[w] = {"step": step, "exp_avg": o[1], "exp_avg_sq": o[2]}
            made[key] = opt
        return opt

    def grad_holder(g):
        # clip_grad_*_ clip the .grad of parameters: a dummy parameter holding g as its grad.
        key = ("holder", g.data_ptr())
        if key not in made:
            made[key] = torch.empty_like(g)
        made[key].grad = g
        return [made[key]]

    def clip_norm(o, c):
        o[1].copy_(torch.nn.utils.clip_grad_norm_(grad_holder(o[0]), c))

    def optim_idioms(kind, idx):
        base = {"sgd": "SGD", "momentum": "SGD(momentum)", "adam": "Adam", "adamw": "AdamW"}[kind]
        v = [(f"torch.optim.{base}.step()", CALL, lambda i, o, p: optim_step(kind, i, o, p, False), state(*idx))]
        if dev.type == "cuda":
            v.append((f"torch.optim.{base}(fused=True).step()", CALL, lambda i, o, p: optim_step(kind, i, o, p, True), state(*idx)))
        return v

    def int64_targets(y):
        return y.view(torch.int64) if y.dtype == torch.uint64 else y.to(torch.int64)

    def torch_fft_idioms(name):
        f = getattr(torch.fft, name)
        name = "torch.fft." + name
        c64 = lambda x: torch.view_as_complex(x.view(-1, 2))
        return [(name + "(x, out=)", CALL, lambda i, o, p: f(c64(i[0]), out=c64(o[0])), like),
                (name + "(x)", CALL, lambda i, o, p: [torch.view_as_real(f(c64(i[0]))).view(-1)], None)]
    # fused_custom: the unfused eager chains of the entries' Peers lines (TF32 off for the matmuls).
    def ln_dropout(x, res, g, b, mask, p):
        y = Fn.layer_norm(x, (x.shape[-1],), g, b, eps=p["eps"]) * (1 / p["keep"])
        return [res + torch.where(mask.bool(), y, 0.0)]

    def scan_compact(x, t):
        idx = torch.nonzero(x > t).squeeze(1)
        return [idx.numel(), x[idx], idx]

    def adam_clip(i, o, p, fused):
        opt = optimizer("adam", o, p, fused)
        o[0].grad = i[1].clone()  # clip_grad_norm_ scales the grad in place
        o[3].copy_(torch.nn.utils.clip_grad_norm_([o[0]], p["max_norm"]))
        opt.step()

    def adam_clip_idioms():
        name = "g.clone(); clip_grad_norm_; Adam{}.step()"
        v = [(name.format(""), CHAIN, lambda i, o, p: adam_clip(i, o, p, False), state(0, 2, 3, total=True))]
        if dev.type == "cuda":
            v.append((name.format("(fused=True)"), CHAIN, lambda i, o, p: adam_clip(i, o, p, True), state(0, 2, 3, total=True)))
        return v

    def softmax_ce(x, t):
        xl = x.clone().requires_grad_()
        loss = Fn.cross_entropy(xl, int64_targets(t))
        loss.backward()
        return [loss.detach(), xl.grad]

    def no_tf32():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def softmax_v(s, v):
        no_tf32()
        return [torch.softmax(s, dim=-1) @ v]

    rope_cache = {}

    def rope_attention(q, k, v, base):
        no_tf32()
        s, d = q.shape[-2], q.shape[-1]
        key = (base, s, d)
        if key not in rope_cache:  # built once, untimed: float64 angles, rounded once
            ang = np.outer(np.arange(s), base ** (-np.arange(0, d, 2) / d))
            rope_cache[key] = tuple(torch.from_numpy(f(ang).astype(np.float32)).to(dev) for f in (np.cos, np.sin))
        cos, sin = rope_cache[key]

        def rot(u):
            u1, u2 = u[..., :d // 2], u[..., d // 2:]
            return torch.cat([u1 * cos - u2 * sin, u1 * sin + u2 * cos], dim=-1)

        return [Fn.scaled_dot_product_attention(rot(q), rot(k), v, is_causal=True)]

    return {
        "map_add": [("torch.add(out=)", CALL, lambda i, o, p: torch.add(i[0], i[1], out=o[0]), like)],
        "map_mul": [("torch.mul(out=)", CALL, lambda i, o, p: torch.mul(i[0], i[1], out=o[0]), like)],
        "map_div": [("torch.div(out=)", CALL, lambda i, o, p: torch.div(i[0], i[1], out=o[0]), like)],
        "map_fma": [("torch.addcmul(z, x, y, out=)", CALL, lambda i, o, p: torch.addcmul(i[2], i[0], i[1], out=o[0]), like),
                    ("mul, add (out=)", CHAIN, lambda i, o, p: (torch.mul(i[0], i[1], out=o[0]), torch.add(o[0], i[2], out=o[0])), like)],
        "map_exp": [("torch.exp(out=)", CALL, lambda i, o, p: torch.exp(i[0], out=o[0]), like)],
        "map_log": [("torch.log(out=)", CALL, lambda i, o, p: torch.log(i[0], out=o[0]), like)],
        "map_tanh": [("torch.tanh(out=)", CALL, lambda i, o, p: torch.tanh(i[0], out=o[0]), like)],
        "map_sigmoid": [("torch.sigmoid(out=)", CALL, lambda i, o, p: torch.sigmoid(i[0], out=o[0]), like)],
        "map_softplus": [("softplus(out=)", CALL, lambda i, o, p: nn.softplus(i[0], 1, 20, out=o[0]), like),
                         ("F.softplus", CALL, lambda i, o, p: [Fn.softplus(i[0])], None)],
        "map_clamp": [("torch.clamp(out=)", CALL, lambda i, o, p: torch.clamp(i[0], p["lo"], p["hi"], out=o[0]), like)],
        "map_abs": [("torch.abs(out=)", CALL, lambda i, o, p: torch.abs(i[0], out=o[0]), like)],
        "map_compare": [("torch.gt(out=bool)", CALL, lambda i, o, p: torch.gt(i[0], i[1], out=o[0]),
                         lambda i: [torch.empty(i[0].shape, dtype=torch.bool, device=dev)])],
        "map_relu": [("torch.clamp_min(x, 0, out=)", CALL, lambda i, o, p: torch.clamp_min(i[0], 0, out=o[0]), like),
                     ("torch.relu", CALL, lambda i, o, p: [torch.relu(i[0])], None)],
        "map_leaky_relu": [("leaky_relu(out=)", CALL, lambda i, o, p: nn.leaky_relu(i[0], p["alpha"], out=o[0]), like),
                           ("F.leaky_relu", CALL, lambda i, o, p: [Fn.leaky_relu(i[0], p["alpha"])], None)],
        "map_elu": [("elu(out=)", CALL, lambda i, o, p: nn.elu(i[0], p["alpha"], 1, 1, out=o[0]), like),
                    ("F.elu", CALL, lambda i, o, p: [Fn.elu(i[0], p["alpha"])], None)],
        "map_gelu": [("gelu(tanh, out=)", CALL, lambda i, o, p: nn.gelu(i[0], approximate="tanh", out=o[0]), like),
                     ("F.gelu(tanh)", CALL, lambda i, o, p: [Fn.gelu(i[0], approximate="tanh")], None)],
        "map_gelu_erf": [("gelu(out=)", CALL, lambda i, o, p: nn.gelu(i[0], out=o[0]), like),
                         ("F.gelu", CALL, lambda i, o, p: [Fn.gelu(i[0])], None)],
        "map_silu": [("silu(out=)", CALL, lambda i, o, p: nn.silu(i[0], out=o[0]), like),
                     ("F.silu", CALL, lambda i, o, p: [Fn.silu(i[0])], None)],
        "map_mish": [("mish(out=)", CALL, lambda i, o, p: nn.mish(i[0], out=o[0]), like),
                     ("F.mish", CALL, lambda i, o, p: [Fn.mish(i[0])], None)],
        "reduce_sum": [("torch.sum(out=)", CALL, lambda i, o, p: torch.sum(i[0], dim=0, out=o[0]), scalar(torch.float32)),
                       ("torch.sum", CALL, lambda i, o, p: [torch.sum(i[0])], None)],
        "reduce_mean": [("torch.mean(out=)", CALL, lambda i, o, p: torch.mean(i[0], dim=0, out=o[0]), scalar(torch.float32)),
                        ("torch.mean", CALL, lambda i, o, p: [torch.mean(i[0])], None)],
        "reduce_min": [("torch.amin(out=)", CALL, lambda i, o, p: torch.amin(i[0], dim=0, out=o[0]), scalar(torch.float32)),
                       ("torch.min", CALL, lambda i, o, p: [torch.min(i[0])], None)],
        "reduce_max": [("torch.amax(out=)", CALL, lambda i, o, p: torch.amax(i[0], dim=0, out=o[0]), scalar(torch.float32)),
                       ("torch.max", CALL, lambda i, o, p: [torch.max(i[0])], None)],
        "reduce_argmax": [("torch.argmax", CALL, lambda i, o, p: [torch.argmax(i[0])], None)],
        "reduce_argmin": [("torch.argmin", CALL, lambda i, o, p: [torch.argmin(i[0])], None)],
        "reduce_l2": [("linalg.vector_norm(out=)", CALL, lambda i, o, p: torch.linalg.vector_norm(i[0], out=o[0]), scalar(torch.float32)),
                      ("linalg.vector_norm", CALL, lambda i, o, p: [torch.linalg.vector_norm(i[0])], None)],
        "reduce_var": [("torch.var(correction=0)", CALL, lambda i, o, p: [torch.var(i[0], correction=0)], None),
                       ("torch.var(dim=0, correction=0, out=)", CALL, lambda i, o, p: torch.var(i[0], 0, correction=0, out=o[0]), scalar(torch.float32))],
        "reduce_stddev": [("torch.std(correction=0)", CALL, lambda i, o, p: [torch.std(i[0], correction=0)], None),
                          ("torch.std(dim=0, correction=0, out=)", CALL, lambda i, o, p: torch.std(i[0], 0, correction=0, out=o[0]), scalar(torch.float32))],
        "reduce_histogram": [("torch.histc(out=)", CALL, lambda i, o, p: torch.histc(i[0], int(p["bins"]), p["lo"], p["hi"], out=o[0]),
                              lambda i: [torch.empty(256, dtype=torch.float32, device=dev)])],
        "reduce_weighted_sum": [("torch.dot(w, x)", CALL, lambda i, o, p: [torch.dot(i[1], i[0])], None),
                                ("torch.dot(w, x, out=)", CALL, lambda i, o, p: torch.dot(i[1], i[0], out=o[0]), scalar(torch.float32))],
        "reduce_weighted_mean": [("(w * x).sum() / w.sum()", CHAIN, lambda i, o, p: [(i[1] * i[0]).sum() / i[1].sum()], None)],
        "reduce_covariance": [("torch.cov(torch.stack([x, y]))[0, 1]", CALL, lambda i, o, p: [torch.cov(torch.stack([i[0], i[1]]))[0, 1]], None)],
        "reduce_correlation": [("torch.corrcoef(torch.stack([x, y]))[0, 1]", CALL, lambda i, o, p: [torch.corrcoef(torch.stack([i[0], i[1]]))[0, 1]], None)],
        "reduce_covariance_matrix": [("torch.cov(X.T)", CALL, lambda i, o, p: [torch.cov(i[0].T)], None)],
        "reduce_pearson_pairwise": [("torch.corrcoef(X.T)", CALL, lambda i, o, p: [torch.corrcoef(i[0].T)], None)],
        "map_reduce_abs_sum": [("sum(abs(x))", CHAIN, lambda i, o, p: [torch.sum(torch.abs(i[0]))], None),
                               ("linalg.vector_norm(x, 1)", CALL, lambda i, o, p: [torch.linalg.vector_norm(i[0], 1)], None)],
        "map_reduce_square_sum": [("sum(x * x)", CHAIN, lambda i, o, p: [torch.sum(i[0] * i[0])], None),
                                  ("torch.dot(x, x)", CALL, lambda i, o, p: [torch.dot(i[0], i[0])], None)],
        "map_reduce_masked_sum": [("(x * m).sum()", CHAIN, lambda i, o, p: [(i[0] * i[1]).sum()], None),
                                  ("where(m.bool(), x, 0).sum()", CHAIN, lambda i, o, p: [torch.where(i[1].bool(), i[0], 0).sum()], None)],
        "map_reduce_threshold_count": [("count_nonzero(x > t)", CHAIN, lambda i, o, p: [torch.count_nonzero(i[0] > p["t"])], None),
                                       ("(x > t).sum()", CHAIN, lambda i, o, p: [(i[0] > p["t"]).sum()], None)],
        "dot_batched": [("linalg.vecdot(out=)", CALL, lambda i, o, p: torch.linalg.vecdot(i[0], i[1], out=o[0]), rows),
                        ("(a * b).sum(-1)", CHAIN, lambda i, o, p: [torch.sum(i[0] * i[1], dim=-1)], None),
                        ("bmm(a[:, None], b[:, :, None])", CALL, lambda i, o, p: [torch.bmm(i[0][:, None, :], i[1][:, :, None]).view(-1)], None)],
        "cosine_similarity": [("F.cosine_similarity", CALL, lambda i, o, p: [Fn.cosine_similarity(i[0], i[1], dim=-1, eps=p["eps"])], None)],
        "quantize_f32_to_f16": [("f16 out.copy_(x)", CALL, lambda i, o, p: o[0].copy_(i[0]),
                                 lambda i: [torch.empty(i[0].shape, dtype=torch.float16, device=dev)]),
                                ("x.half()", CALL, lambda i, o, p: [i[0].half()], None)],
        "quantize_f16_to_i8": [("abs-max, round, clamp", CHAIN, lambda i, o, p: quant_i8(i[0]), None)],
        "dequantize_i8_to_f16": [("torch.mul(q, s, out=f16)", CALL, lambda i, o, p: torch.mul(i[0], i[1][:, None], out=o[0]),
                                  lambda i: [torch.empty(i[0].shape, dtype=torch.float16, device=dev)]),
                                 ("(q.float() * s).half()", CHAIN, lambda i, o, p: [(i[0].float() * i[1][:, None]).half()], None)],
        "transpose_2d": [("a.T.contiguous()", CALL, lambda i, o, p: [i[0].T.contiguous()], None),
                         ("out.copy_(a.T)", CALL, lambda i, o, p: o[0].copy_(i[0].T), like)],
        "repack_aos_to_soa": [("aos.T.contiguous()", CALL, lambda i, o, p: [i[0].T.contiguous()], None),
                              ("out.copy_(aos.T)", CALL, lambda i, o, p: o[0].copy_(i[0].T), flipped)],
        "repack_soa_to_aos": [("soa.T.contiguous()", CALL, lambda i, o, p: [i[0].T.contiguous()], None),
                              ("out.copy_(soa.T)", CALL, lambda i, o, p: o[0].copy_(i[0].T), flipped)],
        # torch has no uint32 cumsum: the int32 view wraps the same bits (two's complement), and
        # int64 then a mask is the variant that cannot overflow.
        "scan_inclusive": [("cumsum(x.view(int32), dtype=int32)", CALL, lambda i, o, p: [torch.cumsum(i[0].view(torch.int32), 0, dtype=torch.int32).view(torch.uint32)], None),
                           ("cumsum(x.to(int64)) & 0xFFFFFFFF", CHAIN, lambda i, o, p: [torch.cumsum(i[0].to(torch.int64), 0) & 0xFFFFFFFF], None)],
        "scan_exclusive": [("cumsum(int32 view) - x", CHAIN, lambda i, o, p: [exclusive_i32(i[0])], None),
                           ("(cumsum(int64) - x) & 0xFFFFFFFF", CHAIN, lambda i, o, p: [exclusive_i64(i[0])], None)],
        "scan_inclusive_f32": [("torch.cumsum(x, 0, out=)", CALL, lambda i, o, p: torch.cumsum(i[0], 0, out=o[0]), like),
                               ("cumsum(x, dtype=f64).float()", CHAIN, lambda i, o, p: [torch.cumsum(i[0], 0, dtype=torch.float64).float()], None)],
        "compact_if": [("x[x > 0]", CALL, lambda i, o, p: compacted(i[0][i[0] > 0]), None)],
        "compact_mask": [("x[mask.bool()]", CALL, lambda i, o, p: compacted(i[0][i[1].bool()]), None),
                         ("masked_select(x, mask.bool())", CALL, lambda i, o, p: compacted(torch.masked_select(i[0], i[1].bool())), None)],
        "conv1d": [("F.conv1d(x, h, padding=(K-1)/2)", CALL, lambda i, o, p: [conv_same(i[0], i[1])], None)],
        "fft_conv1d": [("F.conv1d(x, h, padding=(K-1)/2)", CALL, lambda i, o, p: [conv_same(i[0], i[1])], None)],
        "fir_filter": [("F.conv1d(F.pad(x, (K-1, 0)), h.flip(0))", CHAIN, lambda i, o, p: [fir(i[0], i[1])], None)],
        "window_apply": [("torch.mul(x, w, out=) (window made once)", CALL, cached_window(hann, torch.mul), like),
                         ("x * hann_window(M, f64).float()", CHAIN, lambda i, o, p: [i[0] * hann(i[0].shape[1])], None)],
        # sorting: sorts, stable key-value sort, top-k and order statistics (docs/kernels/sorting.md).
        "sort_radix": [("torch.sort(x).values", CALL, lambda i, o, p: [torch.sort(i[0]).values], None)],
        "sort_bitonic": [("torch.sort(x).values", CALL, lambda i, o, p: [torch.sort(i[0]).values], None)],
        "sort_bitonic_kv": [("torch.sort(k, stable=True); (s, v[i])", CHAIN, lambda i, o, p: torch_sort_kv(torch, i[0], i[1]), None)],
        "topk_select": [("torch.topk(x, k, sorted=True)", CALL, lambda i, o, p: list(torch.topk(i[0], sort_topk_k(i[0].shape[0], p), largest=True, sorted=True)), None)],
        "median_select": [("two kthvalue, mean in f64", CHAIN, lambda i, o, p: torch_median(torch, i[0]), None),
                          ("torch.sort, mean of the middle two in f64", CHAIN, lambda i, o, p: torch_median_sort(torch, i[0]), None)],
        "percentile_select": [("kthvalue per order statistic, lerp in f64", CHAIN, lambda i, o, p: torch_percentile_kth(torch, i[0], p), None),
                              ("torch.sort, lerp in f64", CHAIN, lambda i, o, p: torch_percentile_sort(torch, i[0], p), None),
                              ("torch.quantile(x, q)", CALL, lambda i, o, p: torch_percentile(torch, i[0], p), None)],
        # simulation: the entries' slicing on float32 tensors (f32 parameters as Python floats
        # rounded to f32 first, constants exact); Monte Carlo on the contract's Philox samples.
        "sim_heat_equation": [("slicing per step (float32)", CHAIN, lambda i, o, p: [sim_heat(i[0], F32(p["r"]).item(), int(p["steps"]))], None)],
        "sim_wave_equation": [("slicing (float32)", CHAIN, lambda i, o, p: [sim_wave(i[0], i[1], F32(p["c2"]).item())], None)],
        "sim_stencil_2d": [("sum of 9 shifted slices (float32)", CHAIN, lambda i, o, p: [sim_stencil_2d(i[0], p)], None),
                           ("F.conv2d on the interior (no TF32)", CALL, lambda i, o, p: [sim_conv2d(i[0], p)], None)],
        "sim_stencil_3d": [("slicing (float32)", CHAIN, lambda i, o, p: [sim_stencil_3d(i[0], F32(p["r"]).item())], None)],
        "integrate_rk4": [("RK4 stages per step (float32)", CHAIN, lambda i, o, p: sim_rk4(i[0], i[1], F32(p["dt"]).item(), int(p["steps"])), None)],
        "integrate_verlet": [("velocity Verlet per step (float32)", CHAIN, lambda i, o, p: sim_verlet(i[0], i[1], F32(p["dt"]).item(), int(p["steps"])), None)],
        "monte_carlo_integrate": [("Philox4x32 words, (4/(1+x*x)).mean(dtype=f64)", CHAIN, lambda i, o, p: sim_monte_carlo(i[0].shape[0], int(p["seed"])), None)],
        # softmax and normalization: the fused library calls (batch_norm in training mode; its
        # statistics from var_mean, since F.batch_norm does not return them).
        "softmax_stable": [("torch.softmax(x, -1)", CALL, lambda i, o, p: [torch.softmax(i[0], dim=-1)], None)],
        "softmax_online": [("torch.softmax(x, -1)", CALL, lambda i, o, p: [torch.softmax(i[0], dim=-1)], None)],
        "log_softmax": [("torch.log_softmax(x, -1)", CALL, lambda i, o, p: [torch.log_softmax(i[0], dim=-1)], None)],
        "layer_norm": [("F.layer_norm", CALL, lambda i, o, p: [Fn.layer_norm(i[0], (i[0].shape[-1],), i[1], i[2], eps=p["eps"])], None)],
        "rms_norm": [("F.rms_norm", CALL, lambda i, o, p: [Fn.rms_norm(i[0], (i[0].shape[-1],), i[1], eps=p["eps"])], None)]
                    if hasattr(Fn, "rms_norm") else [],
        "batch_norm": [("F.batch_norm(training=True) + var_mean(correction=0)", CHAIN, lambda i, o, p: torch_batch_norm(i[0], i[1], i[2], p["eps"]), None)],
        "group_norm": [("F.group_norm", CALL, lambda i, o, p: [Fn.group_norm(i[0], int(p["groups"]), i[1], i[2], eps=p["eps"])], None)],
        # attention: SDPA with TF32 off (torch picks its backend: the f32 memory-efficient
        # kernel on CUDA); RoPE tables built in f64 once per base; ALiBi as the entry writes it.
        "attention_sdpa": [("F.scaled_dot_product_attention", CALL, lambda i, o, p: [torch_sdpa(i, p)], None)],
        "attention_flash": [("F.scaled_dot_product_attention", CALL, lambda i, o, p: [torch_sdpa(i, p)], None)],
        "rope_apply": [("f64-built tables, torch.cat([x1*c - x2*s, x2*c + x1*s])", CHAIN, lambda i, o, p: [torch_rope(i[0], p["base"])], None)],
        "alibi_bias": [("scores + where(d >= 0, -m*d, -inf)", CHAIN, lambda i, o, p: [torch_alibi(i[0])], None)],
        # loss: the torch.nn.functional calls (class indices as int64, which cross_entropy needs).
        "loss_mse": [("F.mse_loss", CALL, lambda i, o, p: [Fn.mse_loss(i[0], i[1])], None)],
        "loss_mae": [("F.l1_loss", CALL, lambda i, o, p: [Fn.l1_loss(i[0], i[1])], None)],
        "loss_huber": [("F.huber_loss", CALL, lambda i, o, p: [Fn.huber_loss(i[0], i[1], delta=p["delta"])], None)],
        "loss_cross_entropy": [("F.cross_entropy(x, y.int64)", CALL, lambda i, o, p: [Fn.cross_entropy(i[0], int64_targets(i[1]))], None)],
        "loss_bce": [("F.binary_cross_entropy", CALL, lambda i, o, p: [Fn.binary_cross_entropy(i[0], i[1])], None)],
        "loss_kl_div": [("F.kl_div(reduction='batchmean')", CALL, lambda i, o, p: [Fn.kl_div(i[0], i[1], reduction="batchmean")], None)],
        # fft: the f32[2L] input viewed as complex64 (view_as_complex), the result viewed back
        # as interleaved f32; out= writes into a complex view of the poisoned output.
        "fft_radix2": torch_fft_idioms("fft"),
        "fft_radix4": torch_fft_idioms("fft"),
        "ifft": torch_fft_idioms("ifft"),
        "fft_real": [("torch.fft.rfft(x)", CALL, lambda i, o, p: [torch.view_as_real(torch.fft.rfft(i[0])).view(-1)], None)],
        "spectral_power": [("torch.fft.rfft(x).abs().square()", CHAIN, lambda i, o, p: [torch.fft.rfft(i[0]).abs().square()], None)],
        # signal's lag kernels: one torch.dot per lag, with the entry's `k < N` guards.
        "autocorrelation": [("stack([dot(x[:N-k], x[k:]) if k < N else 0 for k < L])", CHAIN,
                             lambda i, o, p: [torch_autocorr_dots(i[0], int(p["max_lag"]))], None)],
        "cross_correlation": [("stack([dot(x[..], y[..]) if |k| < N else 0 for k in −L … L])", CHAIN,
                               lambda i, o, p: [torch_crosscorr_dots(i[0], i[1], int(p["max_lag"]))], None)],
        # linalg: TF32 off for every matmul (set when this table is made, below).
        "matmul_batched": [("torch.bmm(A, Bm, out=)", CALL, lambda i, o, p: torch.bmm(i[0], i[1], out=o[0]), like)],
        "matvec": [("torch.mv(A, x, out=)", CALL, lambda i, o, p: torch.mv(i[0], i[1], out=o[0]), rows)],
        "outer_product": [("torch.outer(x, y, out=)", CALL, lambda i, o, p: torch.outer(i[0], i[1], out=o[0]),
                           lambda i: [torch.empty((i[0].numel(), i[1].numel()), dtype=torch.float32, device=dev)])],
        "spmv_csr": [("sparse_csr_tensor(row_ptr.int32, col.int32, val) @ x", CALL, lambda i, o, p: [torch_spmv(*i)], None)],
        "triangular_solve": [("linalg.solve_triangular(L, b[:, None], upper=False)", CALL,
                              lambda i, o, p: [torch.linalg.solve_triangular(i[0], i[1].unsqueeze(1), upper=False).squeeze(1)], None)],
        "opt_sgd": optim_idioms("sgd", (0,)) + [("p.add_(g, alpha=-lr) (in place)", CALL, lambda i, o, p: o[0].add_(i[1], alpha=-p["lr"]), state(0))],
        "opt_sgd_momentum": optim_idioms("momentum", (0, 2)),
        "opt_adam": optim_idioms("adam", (0, 2, 3)),
        "opt_adamw": optim_idioms("adamw", (0, 2, 3)),
        "grad_clip_norm": [("nn.utils.clip_grad_norm_", CALL, lambda i, o, p: clip_norm(o, p["max_norm"]), state(0, total=True))],
        "fused_layernorm_dropout_residual": [("res + where(mask, F.layer_norm(x) * (1/keep), 0)", CHAIN, lambda i, o, p: ln_dropout(*i, p), None)],
        "fused_scan_compact": [("nonzero(x > t).squeeze(1), x[idx]", CHAIN, lambda i, o, p: scan_compact(i[0], p["threshold"]), None)],
        "fused_adam_clip_update": adam_clip_idioms(),
        "fused_softmax_cross_entropy": [("F.cross_entropy(x, t).backward(): loss, x.grad", CHAIN, lambda i, o, p: softmax_ce(i[0], i[1]), None)],
        "fused_attention_softmax_v": [("torch.softmax(s, -1) @ V (no TF32)", CHAIN, lambda i, o, p: softmax_v(i[0], i[1]), None)],
        "fused_rope_attention_mask": [("rotate q, k (cat); F.scaled_dot_product_attention(is_causal=True) (no TF32)", CHAIN,
                                       lambda i, o, p: rope_attention(i[0], i[1], i[2], p["rope_base"]), None)],
        "grad_clip_value": [("torch.clamp(g, -c, c, out=)", CALL, lambda i, o, p: torch.clamp(i[0], -p["clip_value"], p["clip_value"], out=o[0]), like),
                            ("nn.utils.clip_grad_value_", CALL, lambda i, o, p: torch.nn.utils.clip_grad_value_(grad_holder(o[0]), p["clip_value"]), state(0))],
    }


# ---------------------------------------------------------------------------------------------
# torch.compile of the fused_custom chains (libraries torch-compile-cpu and torch-compile-cuda):
# each chain as a pure function of tensors (state in, state out for the Adam step), compiled with
# dynamic=False once per (kernel, shapes, params) on the first call, which is the verification run
# (never timed); the timed calls then run the compiled code (sample_* warm up first). The compile
# time is printed to stderr and carried in the idiom's name. fused_scan_compact has no compiled
# peer: its output shape depends on the data (a graph break), as JAX's jit cannot take it either.


def torch_compile_table(torch, dev):
    import torch.nn.functional as Fn
    # One compiled graph per shape: more recompiles than the default limit of 8 per function.
    for knob in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, 256)
    cache = {}

    def compiled(kernel, make):
        """fn(i, o, p) running torch.compile(make(p)) on the inputs, compiled on first use."""
        def fn(i, o, p):
            key = (kernel, tuple(tuple(t.shape) for t in i), tuple(sorted(p.items())))
            f = cache.get(key)
            if f is None:
                f = torch.compile(make(p), dynamic=False)
                t0 = time.perf_counter()
                out = f(*i)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                fn.compile_s = time.perf_counter() - t0
                log(f"torch.compile {kernel} {key[1]}: compiled in {fn.compile_s:.1f} s (first call)")
                cache[key] = f
                return list(out)
            return list(f(*i))
        fn.compile_s = None
        return fn

    def no_tf32():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def ln_dropout(p):
        inv = 1 / p["keep"]
        return lambda x, res, g, b, mask: (res + torch.where(mask.bool(), Fn.layer_norm(x, (x.shape[-1],), g, b, eps=p["eps"]) * inv, 0.0),)

    def adam_clip(p):
        lr, b1, b2, eps, t, c = p["lr"], p["beta1"], p["beta2"], p["eps"], p["t"], p["max_norm"]
        step, sbc2 = lr / (1 - b1 ** t), (1 - b2 ** t) ** 0.5

        def f(w, g, m, v):
            tot = torch.linalg.vector_norm(g)
            gc = g * torch.clamp(c / (tot + 1e-6), max=1.0)
            m = b1 * m + (1 - b1) * gc
            v = b2 * v + (1 - b2) * gc * gc
            return w - step * m / (v.sqrt() / sbc2 + eps), m, v, tot
        return f

    def softmax_ce(p):
        def f(x, t):
            t = t.to(torch.int64)
            loss = Fn.cross_entropy(x, t)
            # What loss.backward() computes for x (autograd inside a compiled graph would break it).
            grad = (torch.softmax(x, dim=1) - Fn.one_hot(t, x.shape[1]).to(x.dtype)) / x.shape[0]
            return loss, grad
        return f

    def softmax_v(p):
        no_tf32()
        return lambda s, v: (torch.softmax(s, dim=-1) @ v,)

    def rope_attention(p):
        no_tf32()
        base = p["rope_base"]

        # The tables for the entry's fixed S = 512, D = 128, built once outside the graph.
        s, d = 512, 128
        ang = np.outer(np.arange(s), base ** (-np.arange(0, d, 2) / d))
        cos, sin = (torch.from_numpy(g(ang).astype(np.float32)).to(dev) for g in (np.cos, np.sin))

        def f(q, k, v):
            def rot(u):
                u1, u2 = u[..., :d // 2], u[..., d // 2:]
                return torch.cat([u1 * cos - u2 * sin, u1 * sin + u2 * cos], dim=-1)
            return (Fn.scaled_dot_product_attention(rot(q), rot(k), v, is_causal=True),)
        return f

    table = {
        "fused_layernorm_dropout_residual": ("torch.compile(res + where(mask, F.layer_norm * (1/keep), 0))", ln_dropout),
        "fused_adam_clip_update": ("torch.compile(vector_norm, clip, Adam step), state in → state out", adam_clip),
        "fused_softmax_cross_entropy": ("torch.compile(F.cross_entropy; (softmax - onehot)/R)", softmax_ce),
        "fused_attention_softmax_v": ("torch.compile(softmax(s) @ V) (no TF32)", softmax_v),
        "fused_rope_attention_mask": ("torch.compile(rotate q, k; sdpa(is_causal=True)) (no TF32)", rope_attention),
    }
    return {k: [(name, CHAIN, compiled(k, make), None)] for k, (name, make) in table.items()}


# ---------------------------------------------------------------------------------------------
# JAX: jit-compiled expressions (XLA fuses a chain into one kernel), allocating by design.


def jax_table(jax, jnp):
    import jax.scipy.linalg  # noqa: F401 (solve_triangular)
    import jax.scipy.special  # noqa: F401 (xlogy)
    jit = jax.jit

    def histogram(x, bins, lo, hi):
        q = ((x - lo) * F32(bins)) / (hi - lo)
        b = jnp.minimum(jnp.floor(q), F32(bins - 1)).astype(jnp.int32)
        b = jnp.where((x >= lo) & (x <= hi), b, bins)  # out of range: an extra bin, dropped
        return jnp.bincount(b, length=bins + 1)[:bins]

    def quant_i8(x):
        s = jnp.abs(x).max(1).astype(jnp.float32) / F32(127)
        q = jnp.clip(jnp.nan_to_num(jnp.rint(x.astype(jnp.float32) / s[:, None]), nan=0.0), -127, 127).astype(jnp.int8)
        return q, s

    def cosine(a, b, eps):
        d = jnp.einsum("ij,ij->i", a, b)
        na = jnp.maximum(jnp.sqrt(jnp.einsum("ij,ij->i", a, a)), F32(eps))
        nb = jnp.maximum(jnp.sqrt(jnp.einsum("ij,ij->i", b, b)), F32(eps))
        return d / (na * nb)

    def hann(m):
        return jnp.asarray(np.hanning(m).astype(np.float32))

    def compacted(v):
        return v, np.uint64(v.size)

    def jax_r2c(x):
        return jax.lax.complex(x[0::2], x[1::2])

    def jax_c2r(z):
        return jnp.stack([z.real, z.imag], axis=-1).reshape(-1)

    def jax_heat(u, r):
        c = u[1:-1, 1:-1]
        return u.at[1:-1, 1:-1].set(c + r * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - F32(4) * c))

    def jax_wave(up, u, c2):
        c = u[1:-1, 1:-1]
        return u.at[1:-1, 1:-1].set(F32(2) * c - up[1:-1, 1:-1] + c2 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - F32(4) * c))

    def jax_stencil_2d(u, w):
        g = u.shape[0]
        if g <= 2:
            return u
        return u.at[1:-1, 1:-1].set(sum(w[3 * (a + 1) + (b + 1)] * u[1 + a:g - 1 + a, 1 + b:g - 1 + b] for a in (-1, 0, 1) for b in (-1, 0, 1)))

    def jax_stencil_3d(u, r):
        c = u[1:-1, 1:-1, 1:-1]
        return u.at[1:-1, 1:-1, 1:-1].set(c + r * (u[:-2, 1:-1, 1:-1] + u[2:, 1:-1, 1:-1] + u[1:-1, :-2, 1:-1] + u[1:-1, 2:, 1:-1]
                                                   + u[1:-1, 1:-1, :-2] + u[1:-1, 1:-1, 2:] - F32(6) * c))

    def jax_rk4(s, h):
        x, v = s
        h2, h6 = h / F32(2), h / F32(6)
        k1x, k1v = v, -x
        k2x, k2v = v + h2 * k1v, -(x + h2 * k1x)
        k3x, k3v = v + h2 * k2v, -(x + h2 * k2x)
        k4x, k4v = v + h * k3v, -(x + h * k3x)
        return x + h6 * (k1x + F32(2) * k2x + F32(2) * k3x + k4x), v + h6 * (k1v + F32(2) * k2v + F32(2) * k3v + k4v)

    def jax_verlet(s, h):
        x, v = s
        a = -x
        x_new = x + h * v + (h * h / F32(2)) * a
        return x_new, v + (h / F32(2)) * (a - x_new)

    hi = jax.lax.Precision.HIGHEST  # full f32 products (the default may use TF32/bf16 passes)

    def jax_attention(q, k, v, p):
        rep = 32 // int(p["kv_heads"])
        if rep > 1:
            k, v = jnp.repeat(k, rep, axis=1), jnp.repeat(v, rep, axis=1)
        s = jnp.einsum("bhid,bhjd->bhij", q, k, precision=hi) * F32(1.0 / 128 ** 0.5)
        if int(p["causal"]):
            n = q.shape[2]
            s = jnp.where(jnp.tril(jnp.ones((n, n), dtype=bool)), s, -jnp.inf)
        return jnp.einsum("bhij,bhjd->bhid", jax.nn.softmax(s, axis=-1), v, precision=hi)

    def jax_rope(base):
        th = base ** (-2.0 * np.arange(64) / 128)
        ang = np.arange(4096)[:, None] * th
        tc, ts = jnp.asarray(np.cos(ang).astype(np.float32)), jnp.asarray(np.sin(ang).astype(np.float32))

        def f(x):
            pos = jnp.arange(x.shape[0]) % 4096
            c, s = tc[pos], ts[pos]
            x1, x2 = x[:, :64], x[:, 64:]
            return jnp.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=1)
        return one("f64-built tables, gather, concatenate", jit(f))

    alibi_m = (2.0 ** (-8.0 * np.arange(1, 33) / 32)).astype(np.float32)

    def jax_alibi(x):
        n = x.shape[1]
        d = (jnp.arange(n)[:, None] - jnp.arange(n)[None, :]).astype(jnp.float32)
        return x + jnp.where(d >= 0, -jnp.asarray(alibi_m)[:, None, None] * d, -jnp.inf)

    def jax_norm(x, axis, eps):
        m, v = x.mean(axis, keepdims=True), x.var(axis, keepdims=True)
        return (x - m) / jnp.sqrt(v + eps)

    def jax_adam(w, g, m, v, p, decay):
        lr, b1, b2, t = p["lr"], p["beta1"], p["beta2"], p["t"]
        if decay:
            w = w * F32(1 - lr * p["weight_decay"])
        m = F32(b1) * m + F32(1 - b1) * g
        v = F32(b2) * v + F32(1 - b2) * (g * g)
        return w - F32(lr / (1 - b1 ** t)) * m / (jnp.sqrt(v) / F32(np.sqrt(1 - b2 ** t)) + F32(p["eps"])), m, v

    def jax_momentum(w, g, b, p):
        b = F32(p["momentum"]) * b + g
        return w - F32(p["lr"]) * b, b

    def jax_clip_norm(g, c):
        tot = jnp.sqrt(jnp.sum(g * g))
        return g * jnp.minimum(F32(1), F32(c) / (tot + F32(1e-6))), tot

    def jax_cross_entropy(x, y):
        lse = jax.nn.logsumexp(x, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(x, y.astype(jnp.int32)[:, None], axis=1)[:, 0])

    def jax_bce(p, y):
        lp, l1 = jnp.maximum(jnp.log(p), F32(-100)), jnp.maximum(jnp.log1p(-p), F32(-100))
        return jnp.mean(-(y * lp + (F32(1) - y) * l1))

    def jax_huber(p, t, delta):
        d = jnp.abs(p - t)
        return jnp.mean(jnp.where(d < delta, F32(0.5) * d * d, delta * (d - F32(0.5) * delta)))

    # fused_custom: the entries' chains, jit-compiled (XLA fuses what it can); matmuls at HIGHEST
    # precision (no TF32 on the GPU).
    hi = jax.lax.Precision.HIGHEST

    def jax_adam_clip(w, g, m, v, p):
        tot = jnp.sqrt(jnp.sum(g * g))
        w, m, v = jax_adam(w, g * jnp.minimum(F32(1), F32(p["max_norm"]) / (tot + F32(1e-6))), m, v, p, False)
        return w, m, v, tot

    def jax_softmax_ce(x, t):
        loss, grad = jax.value_and_grad(lambda x: jax_cross_entropy(x, t))(x)
        return loss, grad

    def jax_rope_attention(q, k, v, base):
        s, d = q.shape[-2], q.shape[-1]
        ang = np.outer(np.arange(s), base ** (-np.arange(0, d, 2) / d))
        cos, sin = jnp.asarray(np.cos(ang).astype(np.float32)), jnp.asarray(np.sin(ang).astype(np.float32))

        def rot(u):
            u1, u2 = u[..., :d // 2], u[..., d // 2:]
            return jnp.concatenate([u1 * cos - u2 * sin, u1 * sin + u2 * cos], axis=-1)

        sc = jnp.matmul(rot(q), jnp.swapaxes(rot(k), -1, -2), precision=hi) * F32(1 / np.sqrt(d))
        sc = jnp.where(jnp.tri(s, dtype=bool), sc, F32(-np.inf))
        return jnp.matmul(jax.nn.softmax(sc, axis=-1), v, precision=hi)

    one = lambda name, g: [(name, CALL, g)]
    return {
        "map_add": lambda p: one("x + y", jit(lambda x, y: x + y)),
        "map_mul": lambda p: one("x * y", jit(lambda x, y: x * y)),
        "map_div": lambda p: one("x / y", jit(lambda x, y: x / y)),
        "map_fma": lambda p: one("x * y + z", jit(lambda x, y, z: x * y + z)),
        "map_exp": lambda p: one("jnp.exp", jit(jnp.exp)),
        "map_log": lambda p: one("jnp.log", jit(jnp.log)),
        "map_tanh": lambda p: one("jnp.tanh", jit(jnp.tanh)),
        "map_sigmoid": lambda p: one("jax.nn.sigmoid", jit(jax.nn.sigmoid)),
        "map_softplus": lambda p: one("jax.nn.softplus", jit(jax.nn.softplus)),
        "map_clamp": lambda p: one("jnp.clip", jit(lambda x: jnp.clip(x, F32(p["lo"]), F32(p["hi"])))),
        "map_abs": lambda p: one("jnp.abs", jit(jnp.abs)),
        "map_compare": lambda p: one("x > y", jit(lambda x, y: x > y)),
        "map_relu": lambda p: one("jax.nn.relu", jit(jax.nn.relu)),
        "map_leaky_relu": lambda p: one("jax.nn.leaky_relu", jit(lambda x: jax.nn.leaky_relu(x, F32(p["alpha"])))),
        "map_elu": lambda p: one("jax.nn.elu", jit(lambda x: jax.nn.elu(x, F32(p["alpha"])))),
        "map_gelu": lambda p: one("jax.nn.gelu(approximate=True)", jit(lambda x: jax.nn.gelu(x, approximate=True))),
        "map_gelu_erf": lambda p: one("jax.nn.gelu(approximate=False)", jit(lambda x: jax.nn.gelu(x, approximate=False))),
        "map_silu": lambda p: one("jax.nn.silu", jit(jax.nn.silu)),
        "map_mish": lambda p: one("x * tanh(softplus(x))", jit(lambda x: x * jnp.tanh(jax.nn.softplus(x)))),
        "reduce_sum": lambda p: one("jnp.sum", jit(jnp.sum)),
        "reduce_mean": lambda p: one("jnp.mean", jit(jnp.mean)),
        "reduce_min": lambda p: one("jnp.min", jit(jnp.min)),
        "reduce_max": lambda p: one("jnp.max", jit(jnp.max)),
        "reduce_argmax": lambda p: one("jnp.argmax", jit(jnp.argmax)),
        "reduce_argmin": lambda p: one("jnp.argmin", jit(jnp.argmin)),
        "reduce_l2": lambda p: one("jnp.linalg.norm", jit(jnp.linalg.norm)),
        "reduce_var": lambda p: one("jnp.var", jit(jnp.var)),
        "reduce_stddev": lambda p: one("jnp.std", jit(jnp.std)),
        "reduce_histogram": lambda p: one("histc formula + bincount",
                                          jit(lambda x: histogram(x, int(p["bins"]), F32(p["lo"]), F32(p["hi"])))),
        "reduce_weighted_sum": lambda p: one("jnp.dot(w, x)", jit(lambda x, w: jnp.dot(w, x))),
        "reduce_weighted_mean": lambda p: one("jnp.average(x, weights=w)", jit(lambda x, w: jnp.average(x, weights=w))),
        "reduce_covariance": lambda p: one("jnp.cov(x, y)[0, 1]", jit(lambda x, y: jnp.cov(x, y)[0, 1])),
        "reduce_correlation": lambda p: one("jnp.corrcoef(x, y)[0, 1]", jit(lambda x, y: jnp.corrcoef(x, y)[0, 1])),
        "reduce_covariance_matrix": lambda p: one("jnp.cov(X, rowvar=False)", jit(lambda x: jnp.cov(x, rowvar=False))),
        "reduce_pearson_pairwise": lambda p: one("jnp.corrcoef(X, rowvar=False)", jit(lambda x: jnp.corrcoef(x, rowvar=False))),
        "map_reduce_abs_sum": lambda p: one("jnp.sum(jnp.abs(x))", jit(lambda x: jnp.sum(jnp.abs(x)))),
        "map_reduce_square_sum": lambda p: one("jnp.dot(x, x)", jit(lambda x: jnp.dot(x, x))),
        "map_reduce_masked_sum": lambda p: one("jnp.sum(jnp.where(m != 0, x, 0))", jit(lambda x, m: jnp.sum(jnp.where(m != 0, x, F32(0))))),
        "map_reduce_threshold_count": lambda p: one("jnp.count_nonzero(x > t)", jit(lambda x: jnp.count_nonzero(x > F32(p["t"])))),
        "dot_batched": lambda p: one("jnp.einsum('ij,ij->i')", jit(lambda a, b: jnp.einsum("ij,ij->i", a, b))),
        "cosine_similarity": lambda p: one("einsum dots", jit(lambda a, b: cosine(a, b, p["eps"]))),
        "quantize_f32_to_f16": lambda p: one("x.astype(f16)", jit(lambda x: x.astype(jnp.float16))),
        "quantize_f16_to_i8": lambda p: one("abs-max, rint, clip", jit(quant_i8)),
        "dequantize_i8_to_f16": lambda p: one("(q * s).astype(f16)", jit(lambda q, s: (q.astype(jnp.float32) * s[:, None]).astype(jnp.float16))),
        "window_apply": lambda p: one("x * hanning(M)", jit(lambda x: x * hann(x.shape[1]))),
        "scan_inclusive": lambda p: one("jnp.cumsum(dtype=uint32)", jit(lambda x: jnp.cumsum(x, dtype=jnp.uint32))),
        "scan_exclusive": lambda p: one("cumsum(x) - x", jit(lambda x: jnp.cumsum(x, dtype=jnp.uint32) - x)),
        "scan_inclusive_f32": lambda p: one("jnp.cumsum", jit(jnp.cumsum)),
        # A data-dependent shape cannot be jit-compiled: eager, as a JAX user writes it.
        "compact_if": lambda p: one("x[x > 0] (eager)", lambda x: compacted(x[x > 0])),
        "compact_mask": lambda p: one("x[mask != 0] (eager)", lambda x, m: compacted(x[m != 0])),
        "transpose_2d": lambda p: one("jnp.transpose(a)", jit(jnp.transpose)),
        "repack_aos_to_soa": lambda p: one("aos.T", jit(lambda a: a.T)),
        "repack_soa_to_aos": lambda p: one("soa.T", jit(lambda a: a.T)),
        # simulation: the entries' slicing as .at[].set (f32 parameters), steps in a fori_loop.
        "sim_heat_equation": lambda p: one("slicing, .at[].set per step", jit(lambda u: jax.lax.fori_loop(0, int(p["steps"]), lambda _, u: jax_heat(u, F32(p["r"])), u))),
        "sim_wave_equation": lambda p: one("slicing, .at[].set", jit(lambda up, u: jax_wave(up, u, F32(p["c2"])))),
        "sim_stencil_2d": lambda p: one("sum of 9 shifted slices", jit(lambda u: jax_stencil_2d(u, [F32(p["w%d" % k]) for k in range(9)]))),
        "sim_stencil_3d": lambda p: one("slicing, .at[].set", jit(lambda u: jax_stencil_3d(u, F32(p["r"])))),
        "integrate_rk4": lambda p: one("RK4 stages in a fori_loop", jit(lambda x, v: jax.lax.fori_loop(0, int(p["steps"]), lambda _, s: jax_rk4(s, F32(p["dt"])), (x, v)))),
        "integrate_verlet": lambda p: one("velocity Verlet in a fori_loop", jit(lambda x, v: jax.lax.fori_loop(0, int(p["steps"]), lambda _, s: jax_verlet(s, F32(p["dt"])), (x, v)))),
        "softmax_stable": lambda p: one("jax.nn.softmax", jit(lambda x: jax.nn.softmax(x, axis=-1))),
        "softmax_online": lambda p: one("jax.nn.softmax", jit(lambda x: jax.nn.softmax(x, axis=-1))),
        "log_softmax": lambda p: one("jax.nn.log_softmax", jit(lambda x: jax.nn.log_softmax(x, axis=-1))),
        "layer_norm": lambda p: one("mean, var, normalise", jit(lambda x, g, b: jax_norm(x, -1, F32(p["eps"])) * g + b)),
        "rms_norm": lambda p: one("x * rsqrt(mean(x*x) + eps) * g", jit(lambda x, g: x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + F32(p["eps"])) * g)),
        "batch_norm": lambda p: one("mean(0), var(0), normalise", jit(lambda x, g, b: (jax_norm(x, 0, F32(p["eps"])) * g + b, x.mean(0), x.var(0)))),
        "group_norm": lambda p: one("reshape (B, G, -1), normalise, per-channel affine", jit(
            lambda x, g, b: jax_norm(x.reshape(x.shape[0], int(p["groups"]), -1), -1, F32(p["eps"])).reshape(x.shape) * g[:, None] + b[:, None])),
        "attention_sdpa": lambda p: one("einsum scores (HIGHEST), softmax, einsum P·V", jit(lambda q, k, v: jax_attention(q, k, v, p))),
        "attention_flash": lambda p: one("einsum scores (HIGHEST), softmax, einsum P·V", jit(lambda q, k, v: jax_attention(q, k, v, p))),
        "rope_apply": lambda p: jax_rope(p["base"]),
        "alibi_bias": lambda p: one("scores + where(d >= 0, -m*d, -inf)", jit(jax_alibi)),
        # fft: complex64 from the interleaved f32 pairs (lax.complex of the strided halves; JAX
        # has no complex view), the result back as interleaved f32, all inside one jit.
        "fft_radix2": lambda p: one("jnp.fft.fft", jit(lambda x: jax_c2r(jnp.fft.fft(jax_r2c(x))))),
        "fft_radix4": lambda p: one("jnp.fft.fft", jit(lambda x: jax_c2r(jnp.fft.fft(jax_r2c(x))))),
        "ifft": lambda p: one("jnp.fft.ifft", jit(lambda x: jax_c2r(jnp.fft.ifft(jax_r2c(x))))),
        "fft_real": lambda p: one("jnp.fft.rfft", jit(lambda x: jax_c2r(jnp.fft.rfft(x)))),
        "spectral_power": lambda p: one("jnp.abs(jnp.fft.rfft(x)) ** 2", jit(lambda x: jnp.abs(jnp.fft.rfft(x)) ** 2)),
        "loss_mse": lambda p: one("jnp.mean((p - t) ** 2)", jit(lambda a, b: jnp.mean((a - b) ** 2))),
        "loss_mae": lambda p: one("jnp.mean(jnp.abs(p - t))", jit(lambda a, b: jnp.mean(jnp.abs(a - b)))),
        "loss_huber": lambda p: one("where(|d| < δ, d²/2, δ(|d| − δ/2)).mean()", jit(lambda a, b: jax_huber(a, b, F32(p["delta"])))),
        "loss_cross_entropy": lambda p: one("logsumexp - take_along_axis, mean", jit(jax_cross_entropy)),
        "loss_bce": lambda p: one("clamped logs, mean", jit(jax_bce)),
        "loss_kl_div": lambda p: one("sum(xlogy(p, p) - p·lq) / R", jit(lambda lq, q: jnp.sum(jax.scipy.special.xlogy(q, q) - q * lq) / F32(lq.shape[0]))),
        # linalg: f32 matmuls at HIGHEST precision (the default on a GPU may use TF32).
        "matmul_batched": lambda p: one("jnp.matmul(A, Bm, precision=HIGHEST)", jit(lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST))),
        "matvec": lambda p: one("jnp.matmul(A, x, precision=HIGHEST)", jit(lambda a, x: jnp.matmul(a, x, precision=jax.lax.Precision.HIGHEST))),
        "outer_product": lambda p: one("jnp.outer(x, y)", jit(jnp.outer)),
        "triangular_solve": lambda p: one("jax.scipy.linalg.solve_triangular(L, b, lower=True)", jit(lambda l, b: jax.scipy.linalg.solve_triangular(l, b, lower=True))),
        "opt_sgd": lambda p: one("p - lr * g", jit(lambda w, g: w - F32(p["lr"]) * g)),
        "opt_sgd_momentum": lambda p: one("buf = μ·buf + g; p - lr·buf", jit(lambda w, g, b: jax_momentum(w, g, b, p))),
        "opt_adam": lambda p: one("Adam step (p, m, v)", jit(lambda w, g, m, v: jax_adam(w, g, m, v, p, False))),
        "opt_adamw": lambda p: one("AdamW step (p, m, v)", jit(lambda w, g, m, v: jax_adam(w, g, m, v, p, True))),
        "grad_clip_norm": lambda p: one("g * minimum(1, c/(‖g‖ + 1e-6)), ‖g‖", jit(lambda g: jax_clip_norm(g, p["max_norm"]))),
        "grad_clip_value": lambda p: one("jnp.clip(g, -c, c)", jit(lambda g: jnp.clip(g, -F32(p["clip_value"]), F32(p["clip_value"])))),
        "fused_layernorm_dropout_residual": lambda p: one("res + where(mask, (normalise·g + b)/keep, 0)", jit(
            lambda x, res, g, b, m: res + jnp.where(m != 0, (jax_norm(x, -1, F32(p["eps"])) * g + b) * F32(1 / p["keep"]), F32(0)))),
        # A data-dependent shape cannot be jit-compiled: eager, as a JAX user writes it.
        "fused_scan_compact": lambda p: one("flatnonzero(x > t), x[idx] (eager)", lambda x: (lambda i: (np.uint64(i.size), x[i], i))(jnp.flatnonzero(x > F32(p["threshold"])))),
        "fused_adam_clip_update": lambda p: one("g * minimum(1, c/(‖g‖ + 1e-6)), Adam step", jit(lambda w, g, m, v: jax_adam_clip(w, g, m, v, p))),
        "fused_softmax_cross_entropy": lambda p: one("value_and_grad(mean(logsumexp - x[r, t]))", jit(jax_softmax_ce)),
        "fused_attention_softmax_v": lambda p: one("softmax(s) @ V (HIGHEST)", jit(lambda s, v: jnp.matmul(jax.nn.softmax(s, axis=-1), v, precision=hi))),
        "fused_rope_attention_mask": lambda p: one("rotate, causal scores, softmax @ V (HIGHEST)", jit(lambda q, k, v: jax_rope_attention(q, k, v, p["rope_base"]))),
    }


# ---------------------------------------------------------------------------------------------
# Clocks.


def stats(times, sets):
    s = sorted(times)
    n = len(s)
    return {"min_s": s[0], "median_s": s[round((n - 1) * 0.5)], "p90_s": s[round((n - 1) * 0.9)], "samples": n,
            "rotation_sets": sets}


def sample_wall(call, sets, budget, sync, min_samples=5, max_samples=500, target=0.02, per=1):
    """kroute's host clock: wall time per call, rotating input sets; warm-up pages in every set
    and runs ≥ 50 ms; then samples until the spread is low (≥ 10) or the budget is spent (≥ 5).
    With per > 1 a sample is `per` calls queued back to back and one wait, divided by `per`."""
    for k in range(max(2, len(sets))):
        call(sets[k % len(sets)])
    sync()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.05:
        call(sets[0])
        sync()
    times = []
    start = time.perf_counter()
    k = 0
    while True:
        t = time.perf_counter()
        for _ in range(per):
            call(sets[k % len(sets)])
            k += 1
        sync()
        times.append((time.perf_counter() - t) / per)
        n = len(times)
        if n >= max_samples:
            break
        if n >= min_samples:
            st = stats(times, len(sets))
            if (n >= 10 and (st["p90_s"] - st["median_s"]) / st["median_s"] < target) or time.perf_counter() - start > budget:
                break
    return stats(times, len(sets))


def sample_events(call, arg, budget, event, flush, sync, min_samples=50, max_samples=500, target=0.02):
    """kroute's device clock: before each sample a kernel reads a buffer 4× the L2; events
    around the call; batches of 25 read after one synchronisation."""
    for _ in range(3):
        call(arg)
    sync()
    pairs = [(event(), event()) for _ in range(25)]
    times = []
    start = time.perf_counter()
    while True:
        for e0, e1 in pairs:
            flush()
            e0.record()
            call(arg)
            e1.record()
        sync()
        times += [e0.elapsed_time(e1) / 1e3 for e0, e1 in pairs]
        st = stats(times, 1)
        n = len(times)
        if n >= max_samples or (n >= min_samples and (st["p90_s"] - st["median_s"]) / st["median_s"] < target) \
                or (n >= 25 and time.perf_counter() - start > budget):
            return st


# ---------------------------------------------------------------------------------------------
# Libraries.


class Library:
    """One peer: how to place arrays, run an idiom, bring results home and time it."""
    device = "cpu"
    threads = 1
    timing = "wall time per call; input sets rotated past 4x the last-level cache"

    def enter(self):
        pass

    def idiom_threads(self, idiom):
        return self.threads

    def idioms(self, kernel, p):
        return self.table.get(kernel, [])

    def sync(self):
        pass

    def host(self, v):
        return np.asarray(v)

    def cleanup(self):
        pass


# numpy idioms that call BLAS (OpenBLAS threads them by default): their rows state BLAS's threads.
BLAS_IDIOMS = {"dot(x, x)", "vdot(x, x)", "sqrt(dot(x, x))", "linalg.norm"}


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
        counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        if counts:
            return max(counts)
    except ImportError:
        pass
    env = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return int(env) if env and env.isdigit() else os.cpu_count()


class Numpy(Library):
    name = "numpy"

    def idiom_threads(self, idiom):
        return blas_threads() if idiom in BLAS_IDIOMS else self.threads

    def __init__(self):
        try:
            import scipy.special as special
        except ImportError:
            special = None  # map_gelu_erf has no numpy peer then (numpy has no erf)
        try:
            import scipy
            import scipy.linalg  # noqa: F401
            import scipy.sparse  # noqa: F401
            import scipy.signal  # noqa: F401
        except ImportError:
            scipy = None  # spmv_csr keeps add.reduceat; triangular_solve has no numpy peer
        self.version = np.__version__
        self.table = xp_table(np, special, scipy)

    def place(self, a):
        return a.copy()

    def time(self, call, sets, budget):
        with np.errstate(all="ignore"):
            return sample_wall(call, sets, budget, self.sync)


class TorchCpu(Library):
    timing = "wall time per call; input sets rotated past 4x the last-level cache"

    def __init__(self, threads):
        import torch
        self.torch = torch
        self.version = torch.__version__
        self.all = torch.get_num_threads()
        self.threads = threads or self.all
        self.name = "torch-cpu" if not threads else f"torch-cpu-{threads}t"
        self.table = torch_table(torch, torch.device("cpu"))

    def enter(self):
        self.torch.set_num_threads(self.threads)

    def place(self, a):
        return self.torch.from_numpy(a.copy())

    def host(self, v):
        return v.numpy() if hasattr(v, "numpy") else np.asarray(v)

    def time(self, call, sets, budget):
        return sample_wall(call, sets, budget, self.sync)

    def cleanup(self):
        OPTIMIZERS.clear()


class TorchCompileCpu(TorchCpu):
    """torch.compile of the fused_custom chains on the CPU (all threads); needs a C++ compiler."""

    def __init__(self):
        super().__init__(None)
        self.name = "torch-compile-cpu"
        self.table = torch_compile_table(self.torch, self.torch.device("cpu"))


class EventTimed(Library):
    """A GPU library timed as kroute times its cuda backend."""
    device = "cuda"
    threads = None
    timing = "cuda events around each call; L2 flushed (a read of 4x its size) before each sample"


class TorchCuda(EventTimed):
    name = "torch-cuda"

    def __init__(self):
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        self.torch = torch
        self.version = torch.__version__
        self.dev = torch.device("cuda")
        self.table = torch_table(torch, self.dev)
        l2 = torch.cuda.get_device_properties(0).L2_cache_size
        self.flush_buf = torch.ones(max(4 * l2, 32 << 20) // 4, dtype=torch.float32, device=self.dev)
        self.sink = torch.empty((), dtype=torch.float32, device=self.dev)

    def place(self, a):
        return self.torch.from_numpy(a).to(self.dev)

    def sync(self):
        self.torch.cuda.synchronize()

    def host(self, v):
        return v.cpu().numpy() if hasattr(v, "cpu") else np.asarray(v)

    def time(self, call, sets, budget):
        flush = lambda: self.torch.sum(self.flush_buf, dim=0, out=self.sink)
        return sample_events(call, sets[0], budget, lambda: self.torch.cuda.Event(enable_timing=True), flush, self.sync)

    def cleanup(self):
        OPTIMIZERS.clear()
        self.torch.cuda.empty_cache()


class TorchCompileCuda(TorchCuda):
    """torch.compile of the fused_custom chains on CUDA (Inductor's Triton kernels)."""
    name = "torch-compile-cuda"

    def __init__(self):
        super().__init__()
        self.table = torch_compile_table(self.torch, self.dev)


class Cupy(EventTimed):
    name = "cupy"

    def __init__(self):
        import cupy
        try:
            import cupyx.scipy.special as special
        except ImportError:
            special = None
        try:
            import cupyx.scipy as cscipy
            import cupyx.scipy.linalg  # noqa: F401
            import cupyx.scipy.sparse  # noqa: F401
        except ImportError:
            cscipy = None
        self.cp = cupy
        self.version = cupy.__version__
        self.table = xp_table(cupy, special, cscipy)
        l2 = cupy.cuda.Device().attributes.get("L2CacheSize", 64 << 20)
        self.flush_buf = cupy.ones(max(4 * l2, 32 << 20) // 4, dtype=cupy.float32)

    def place(self, a):
        return self.cp.asarray(a)

    def sync(self):
        self.cp.cuda.Device().synchronize()

    def host(self, v):
        return self.cp.asnumpy(v)

    def time(self, call, sets, budget):
        cp = self.cp

        class Event:  # torch's event interface over CuPy's
            def __init__(self):
                self.e = cp.cuda.Event()

            def record(self):
                self.e.record()

            def elapsed_time(self, end):
                return cp.cuda.get_elapsed_time(self.e, end.e)
        flush = lambda: self.flush_buf.sum()
        return sample_events(call, sets[0], budget, Event, flush, self.sync)

    def cleanup(self):
        self.cp.get_default_memory_pool().free_all_blocks()


class Jax(Library):
    def __init__(self, platform):
        import jax
        import jax.numpy as jnp
        self.jax = jax
        self.version = jax.__version__
        self.dev = jax.devices(platform)[0]
        self.device = "cuda" if platform == "gpu" else "cpu"
        self.name = f"jax-{self.device}"
        self.threads = os.cpu_count() if platform == "cpu" else None
        self.timing = ("wall time per call until block_until_ready (includes dispatch); input sets rotated past "
                       "4x the last-level cache" if platform == "cpu" else
                       "wall time of 10 calls queued back to back, then block_until_ready, ÷ 10 (JAX's own "
                       "stream: no events; the queue hides dispatch as a busy GPU does); input sets rotated past 4x the L2")
        self.table = jax_table(jax, jnp)
        self.last = None

    def place(self, a):
        return self.jax.device_put(a, self.dev)

    def sync(self):
        if self.last is not None:
            self.jax.block_until_ready(self.last)

    def idioms(self, kernel, p):
        make = self.table.get(kernel)
        if make is None:
            return []
        out = []
        for name, kind, g in make(p):
            def fn(i, o, p, g=g):
                r = g(*i)
                self.last = r
                return list(r) if isinstance(r, tuple) else [r]
            out.append((name, kind, fn, None))
        return out

    def time(self, call, sets, budget):
        return sample_wall(call, sets, budget, self.sync, per=10 if self.device == "cuda" else 1)


def open_library(name):
    if name == "numpy":
        return Numpy()
    if name == "torch-cpu":
        return TorchCpu(None)
    if name == "torch-cpu-1t":
        return TorchCpu(1)
    if name == "torch-cuda":
        return TorchCuda()
    if name == "torch-compile-cpu":
        return TorchCompileCpu()
    if name == "torch-compile-cuda":
        return TorchCompileCuda()
    if name == "cupy":
        return Cupy()
    if name == "jax-cpu":
        return Jax("cpu")
    if name == "jax-cuda":
        return Jax("gpu")
    if name == "selftest":
        return SelfTest()
    raise ValueError(f"unknown peer library '{name}' (numpy, torch-cpu, torch-cpu-1t, torch-cuda, torch-compile-cpu, "
                     "torch-compile-cuda, cupy, jax-cpu, jax-cuda)")


ALL = ["numpy", "torch-cpu", "torch-cpu-1t", "torch-cuda", "torch-compile-cpu", "torch-compile-cuda", "cupy", "jax-cpu", "jax-cuda"]


class SelfTest(Numpy):
    """Peers that must not pass: a wrong result, an unwritten output, a result computed once and
    replayed (lazy: faster than memory allows), and one that does its work twice (it must lose to
    the honest idiom). For map_add and reduce_sum; `scripts/ci-peers.sh` checks kroute's verdicts."""
    name = "selftest"

    def __init__(self):
        super().__init__()
        memo = {}

        def replay(key, compute):
            if key not in memo:
                memo[key] = compute()
            return memo[key]

        z1 = lambda i: [np.empty_like(i[0])]
        self.table = {
            "map_add": [("honest add(out=)", CALL, lambda i, o, p: np.add(i[0], i[1], out=o[0]), z1),
                        ("wrong: subtract", CALL, lambda i, o, p: np.subtract(i[0], i[1], out=o[0]), z1),
                        ("lazy: writes nothing", CALL, lambda i, o, p: None, z1),
                        ("double work: add twice", CALL, lambda i, o, p: (np.add(i[0], i[1], out=o[0]), np.add(i[0], i[1], out=o[0])), z1)],
            "reduce_sum": [("honest sum", CALL, lambda i, o, p: [np.sum(i[0])], None),
                           ("wrong: 0.1% off", CALL, lambda i, o, p: [np.sum(i[0]) * F32(1.001)], None),
                           ("lazy: replays a cached sum", CALL, lambda i, o, p: [replay(i[0].shape, lambda: np.sum(i[0]))], None)],
        }


# ---------------------------------------------------------------------------------------------
# The server.


DTYPES = {"f32": "float32", "f16": "float16", "u8": "uint8", "i8": "int8", "u32": "uint32", "u64": "uint64"}


def coerce(a, dtype, shape, capacity=False):
    """The library's result as kroute's output dtype and shape. Only value-preserving changes:
    bool → u8, an integer type → another holding the same values, integral floats (torch.histc
    counts) → integers. A float of another width is refused: rounding is the library's job.
    A capacity output (compaction's values: kroute writes into a buffer of N) may be shorter."""
    a = np.asarray(a)
    want = np.dtype(DTYPES.get(dtype, dtype))
    if capacity and a.ndim == 1 and len(shape) == 1 and a.size <= shape[0]:
        shape = [a.size]
    if a.size != int(np.prod(shape)):
        raise ValueError(f"{a.size} elements, kroute's output has {int(np.prod(shape))} (shape {shape})")
    a = a.reshape(shape)
    if a.dtype == want:
        return a
    if want.kind in "iub" and (a.dtype.kind in "iub" or (a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)))):
        b = a.astype(want)
        if np.array_equal(b.astype(np.float64), a.astype(np.float64)):
            return b
    raise ValueError(f"dtype {a.dtype}, kroute's output is {want}")


class Server:
    def __init__(self):
        self.libs = {}
        self.state = None  # the last run: (library, fn, alloc, inputs, params, host arrays) per idiom
        self.sets = {}  # idiom -> its rotation sets (inputs, outputs), kept across repeats
        self.copies = {}  # library -> rotation copies of the inputs beyond the first

    def hello(self, req):
        out = {}
        for name in req.get("libraries") or ALL:
            try:
                lib = open_library(name)
                self.libs[name] = lib
                out[name] = {"version": lib.version, "device": lib.device, "threads": lib.threads, "timing": lib.timing}
            except Exception as e:  # not installed, no GPU…
                out[name] = {"error": f"{type(e).__name__}: {e}".strip()}
        return {"libraries": out}

    def run(self, req):
        self.release()
        host = [np.load(p) for p in req["inputs"]]
        p = req.get("params") or {}
        idioms, state = [], []
        for lname, lib in self.libs.items():
            table = lib.idioms(req["kernel"], p)
            if not table:
                continue
            lib.enter()
            try:
                inputs = [lib.place(a) for a in host]
            except Exception as e:
                idioms.append({"library": lname, "idiom": "(placing inputs)", "kind": CALL, "threads": lib.threads,
                               "outputs": None, "error": f"{type(e).__name__}: {e}"})
                state.append(None)
                continue
            for k, (idiom, kind, fn, alloc) in enumerate(table):
                rec = {"library": lname, "idiom": idiom, "kind": kind, "threads": lib.idiom_threads(idiom),
                       "outputs": None, "error": None}
                try:
                    outs = alloc(inputs) if alloc else None
                    # Outputs that start as copies of the state an in-place step updates keep it.
                    for o in (outs or []) if not getattr(alloc, "state", False) else []:
                        poison(lib, o)
                    with np.errstate(all="ignore"):
                        got = fn(inputs, outs, p)
                    lib.sync()
                    res = outs if alloc else got
                    if not alloc:
                        for v in res:
                            materialised(v, inputs)
                    files = []
                    for j, (v, want) in enumerate(zip(res, req["outputs"])):
                        path = os.path.join(req["dir"], f"{lname}-{k}-out{j}.npy")
                        np.save(path, coerce(lib.host(v), want["dtype"], want["shape"], want.get("capacity", False)))
                        files.append(path)
                    if len(res) != len(req["outputs"]):
                        raise ValueError(f"{len(res)} outputs, kroute's kernel has {len(req['outputs'])}")
                    rec["outputs"] = files
                    if getattr(fn, "compile_s", None) is not None:
                        # torch.compile peers: the first call compiled (untimed); say how long.
                        rec["idiom"] = f"{idiom} [compiled in {fn.compile_s:.1f} s]"
                        fn.compile_s = None
                    # Output bytes count towards a rotated set, as on kroute's side: a kernel
                    # with small inputs and a large output (outer_product: 25 KB in, 40 MB out)
                    # would otherwise get thousands of sets, each with its own output.
                    out_bytes = sum(int(np.prod(w["shape"])) * np.dtype(DTYPES.get(w["dtype"], w["dtype"])).itemsize
                                    for w in req["outputs"])
                    state.append((lib, fn, alloc, inputs, p, host, out_bytes))
                except Exception as e:
                    rec["error"] = f"{type(e).__name__}: {e}".strip()
                    state.append(None)
                idioms.append(rec)
        self.state = state
        return {"idioms": idioms}

    def time(self, req):
        """Time the given idioms once (one repeat). Rotation copies of a library's inputs are made
        on its first repeat and kept for the next ones, with each idiom's outputs."""
        times = []
        for i in req["ids"]:
            st = self.state[i] if self.state and 0 <= i < len(self.state) else None
            if st is None:
                times.append({"error": "no such verified idiom"})
                continue
            lib, fn, alloc, inputs, p, host, out_bytes = st
            try:
                lib.enter()
                if i not in self.sets:
                    in_bytes = sum(a.nbytes for a in host)
                    set_bytes = in_bytes + out_bytes + 1
                    rotate = req["rotate_bytes"] if lib.device == "cpu" else req.get("device_rotate_bytes", 0)
                    if isinstance(lib, EventTimed) or in_bytes == 0:
                        # The event clock flushes the L2 instead; a generator has no input to rotate.
                        copies = 1
                    else:
                        copies = int(max(1, min(4096, -(-rotate // set_bytes), (6 << 30) // set_bytes)))
                    extra = self.copies.setdefault(lib.name, [])
                    while len(extra) < copies - 1:
                        extra.append([lib.place(a) for a in host])
                    ins = [inputs] + extra[:copies - 1]
                    self.sets[i] = [(x, alloc(x) if alloc else None) for x in ins]
                times.append(lib.time(lambda s: fn(s[0], s[1], p), self.sets[i], req.get("budget_s", 1.5)))
            except Exception as e:
                times.append({"error": f"{type(e).__name__}: {e}".strip()})
        return {"times": times}

    def release(self):
        self.state = None
        self.sets, self.copies = {}, {}
        for lib in self.libs.values():
            lib.cleanup()


def dense_permuted(v):
    """Whether a torch tensor's strides are a contiguous layout of its dimensions in some order."""
    dims = sorted((st, sz) for st, sz in zip(v.stride(), v.shape) if sz > 1)
    expect = 1
    for st, sz in dims:
        if st != expect:
            return False
        expect *= sz
    return True


def materialised(v, inputs):
    """An allocating idiom's result must be a new dense row-major array, not a view of an input
    (numpy's `a.T` costs nothing and is not a transpose; `ascontiguousarray` hands back its input
    when that is already contiguous). Raises otherwise, and the idiom fails verification."""
    if hasattr(v, "is_contiguous"):  # torch
        # A fresh dense buffer in another dimension order is materialised too: torch's SDPA
        # kernels write O as [B, S, H, D] and return the [B, H, S, D] view of it, which is what
        # its users get (and feed to the output projection through a free reshape).
        contiguous = v.is_contiguous() or dense_permuted(v)
        start, size = v.data_ptr(), v.numel() * v.element_size()
        aliases = any(hasattr(x, "data_ptr") and x.data_ptr() < start + size and start < x.data_ptr() + x.numel() * x.element_size()
                      for x in inputs if size)
    elif hasattr(v, "flags") and hasattr(v, "nbytes"):  # numpy, CuPy
        contiguous = v.flags.c_contiguous
        mod = sys.modules.get(type(v).__module__.split(".")[0])
        shares = getattr(mod, "may_share_memory", np.may_share_memory)
        aliases = v.size > 0 and any(type(x) is type(v) and shares(v, x) for x in inputs)
    else:  # JAX arrays are immutable values: nothing to alias
        return
    if not contiguous:
        raise ValueError("the result is not C-contiguous (a strided view, not materialised)")
    if aliases:
        raise ValueError("the result shares memory with an input (a view, not a new buffer)")


def poison(lib, o):
    """Fill an output with 0xFF bytes (NaN for floats): an idiom that leaves part of it unwritten
    cannot pass verification by luck."""
    try:
        if hasattr(o, "view") and hasattr(o, "fill_") and hasattr(o, "dtype"):  # torch
            o.view(-1).view(lib.torch.uint8).fill_(255) if o.dim() else o.fill_(float("nan") if o.is_floating_point() else -1)
        else:
            o.reshape(-1).view(np.uint8)[...] = 0xFF
    except Exception:
        pass


def main():
    if "--list" in sys.argv:
        print(json.dumps(Server().hello({})["libraries"], indent=1))
        return
    server = Server()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "quit":
                break
            reply = {"hello": server.hello, "run": server.run, "time": server.time}[op](req)
        except Exception as e:
            log(traceback.format_exc())
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
