# Issue 10's 10^7 question: where do kroute's bench and the peer server spend the time between
# the event pair and the kernel? Reads an Nsight Systems GPU trace (`nsys stats --report
# cuda_gpu_trace --format csv`) of one `kroute bench --kernel K --impl cuda --peers torch-cuda
# --n 1e7` run and prints, for each process's timed kernel (kroute's K, torch's elementwise
# kernel), the kernel's median duration and the median gap from the end of the flush kernel
# before it to its start.
#   python3 scripts/gap-check.py trace.csv NAME_SUBSTRING...
import csv
import statistics
import sys

path, names = sys.argv[1], sys.argv[2:]
rows = list(csv.DictReader(open(path)))
key = lambda r, *ks: next(r[k] for k in ks if k in r)
by_stream = {}
for r in rows:
    try:
        start = float(key(r, "Start (ns)", "Start"))
        dur = float(key(r, "Duration (ns)", "Duration"))
    except (StopIteration, ValueError):
        continue
    # a process's context and stream (the GPU trace names contexts, not processes)
    sid = (r.get("Pid") or r.get("Ctx") or "", r.get("Strm") or r.get("Stream") or "")
    by_stream.setdefault(sid, []).append((start, dur, key(r, "Name")))
for sid, ops in by_stream.items():
    ops.sort()
    for want in names:
        durs, gaps = [], []
        for prev, cur in zip(ops, ops[1:]):
            if want in cur[2] and ("flush" in prev[2] or "reduce" in prev[2].lower() or "sum" in prev[2].lower()):
                durs.append(cur[1] / 1e3)
                gaps.append((cur[0] - (prev[0] + prev[1])) / 1e3)
        if durs:
            print(f"stream {sid} {want[:40]:40s} n={len(durs):4d}  kernel median {statistics.median(durs):6.2f} us"
                  f"  gap after the flush median {statistics.median(gaps):5.2f} us (p10 {sorted(gaps)[len(gaps)//10]:5.2f})")
