# Shared by the device experiments (scripts/*-variants.py): time a CuPy launch with CUDA events.
import numpy as np
import cupy as cp


def timed(call, reps=30):
    """(median, min, max) seconds of `call` over `reps` event-timed runs, after one warm-up."""
    call(); cp.cuda.Device().synchronize()
    s, e = cp.cuda.Event(), cp.cuda.Event()
    ts = []
    for _ in range(reps):
        s.record(); call(); e.record(); e.synchronize(); ts.append(cp.cuda.get_elapsed_time(s, e) * 1e-3)
    return float(np.median(ts)), float(np.min(ts)), float(np.max(ts))
