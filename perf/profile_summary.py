#!/usr/bin/env python3
"""Where one step's GPU time goes, from a pardit step trace (PARDIT_PROFILE=PREFIX writes
PREFIX.rank<R>.json; see docs/performance.md).

    python3 perf/profile_summary.py TRACE.json [--top 25] [--json OUT.json]
    python3 perf/profile_summary.py --ranks PREFIX.rank0.json PREFIX.rank1.json ...

Prints, for the traced step:
- the window (first kernel start to last kernel end), the time some kernel ran (busy) and idle gaps;
- kernel time per category (GEMM, attention, NCCL, the fused q/k/v kernel, norms, element-wise,
  copies, other), and how much of NCCL's time ran beside other kernels (overlapped) or alone;
- the operations with the most kernel time, grouped by LibTorch op and input shapes, with the
  achieved TFLOP/s of matrix products and attention.

With --ranks (the traces of one step on every rank of one host, whose timestamps share the host
clock), the NCCL kernels are matched in order across ranks (every rank launches the same
sequence) and each rank's NCCL time is split into waiting (its kernel ran, but some peer's had not
started yet) and moving (after the last peer's kernel started); `last` counts how often a rank
was the one the others waited for. Much waiting means the ranks reach the exchange at different
times (imbalance, host delays), not slow links.
"""
import argparse
import collections
import json
import sys

CATEGORIES = [  # first match wins, on the lower-cased kernel name
    ("nccl", ("nccl",)),
    ("qkv_norm_rope", ("qkv_norm_rope",)),
    ("attention", ("cudnn", "flash", "fmha", "attention", "sdpa")),
    ("gemm", ("gemm", "nvjet", "xmma", "cutlass", "cublas", "s16816", "wgmma")),
    ("norm", ("layer_norm", "layernorm", "rms_norm", "rmsnorm", "welford")),
    ("copy", ("copy", "memcpy", "memset", "cat", "fill")),
    ("elementwise", ("elementwise", "vectorized", "unrolled", "pointwise", "reduce")),
]


def category(name, cat):
    if cat in ("gpu_memcpy", "gpu_memset"):
        return "copy"
    low = name.lower()
    for label, keys in CATEGORIES:
        if any(k in low for k in keys):
            return label
    return "other"


def union_length(intervals):
    total, end = 0.0, None
    for s, e in sorted(intervals):
        if end is None or s > end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total


def overlap_with(intervals, others):
    """Length of `intervals` (merged) covered by the union of `others`."""
    merged = []
    for s, e in sorted(others):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    covered = 0.0
    for s, e in intervals:
        for ms, me in merged:  # traces of one step: a few thousand kernels, fine
            if me <= s:
                continue
            if ms >= e:
                break
            covered += min(e, me) - max(s, ms)
    return covered


def op_tflop(name, dims):
    """FLOPs of a matrix product or attention op from its input dims, or None."""
    try:
        if name in ("aten::addmm", "aten::addmm_", "aten::_addmm_activation") and len(dims) >= 3:
            (m, k), (_, n) = dims[1], dims[2]
            return 2.0 * m * n * k / 1e12
        if name == "aten::mm":
            (m, k), (_, n) = dims[0], dims[1]
            return 2.0 * m * n * k / 1e12
        if name in ("aten::bmm", "aten::baddbmm"):
            a, b = (dims[1], dims[2]) if name == "aten::baddbmm" else (dims[0], dims[1])
            return 2.0 * a[0] * a[1] * a[2] * b[2] / 1e12
        if "attention" in name and len(dims) >= 2 and len(dims[0]) == 4:
            b, h, s, d = dims[0]
            s_kv = dims[1][2]
            return 4.0 * b * h * s * s_kv * d / 1e12
    except (TypeError, ValueError, IndexError):
        return None
    return None


def summarize(trace, top=25):
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    ops = {}
    for e in events:
        if e.get("cat") in ("cpu_op", "user_annotation") and "External id" in e.get("args", {}):
            ops[e["args"]["External id"]] = e
    kernels = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    out = {"kernels": len(kernels)}
    if not kernels:
        return out
    iv = [(k["ts"], k["ts"] + k["dur"]) for k in kernels]
    start, end = min(s for s, _ in iv), max(e for _, e in iv)
    window = (end - start) / 1e3
    busy = union_length(iv) / 1e3
    out.update(window_ms=round(window, 3), busy_ms=round(busy, 3), idle_ms=round(window - busy, 3),
               streams=sorted({k.get("args", {}).get("stream", -1) for k in kernels}))

    per_cat = collections.defaultdict(lambda: [0.0, 0])
    for k in kernels:
        c = per_cat[category(k["name"], k["cat"])]
        c[0] += k["dur"] / 1e3
        c[1] += 1
    out["categories"] = {c: {"ms": round(v[0], 3), "count": v[1], "share": round(v[0] / window, 4)}
                         for c, v in sorted(per_cat.items(), key=lambda kv: -kv[1][0])}

    nccl = [(k["ts"], k["ts"] + k["dur"]) for k in kernels if category(k["name"], k["cat"]) == "nccl"]
    if nccl:
        rest = [(k["ts"], k["ts"] + k["dur"]) for k in kernels if category(k["name"], k["cat"]) != "nccl"]
        total = union_length(nccl) / 1e3
        covered = overlap_with(sorted(nccl), rest) / 1e3
        out["nccl"] = {"ms": round(total, 3), "overlapped_ms": round(covered, 3), "exposed_ms": round(total - covered, 3)}

    groups = collections.defaultdict(lambda: [0.0, 0, None])
    for k in kernels:
        op = ops.get(k.get("args", {}).get("External id"))
        name = op["name"] if op else "(no op) " + k["name"][:60]
        dims = op["args"].get("Input Dims") if op else None
        key = (name, json.dumps(dims) if dims else "")
        g = groups[key]
        g[0] += k["dur"] / 1e3
        g[1] += 1
        g[2] = op_tflop(name, dims) if dims else None
    rows = []
    for (name, dims), (ms, count, tflop) in sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]:
        row = {"op": name, "inputs": dims, "ms": round(ms, 3), "kernels": count}
        if tflop:
            # kernels per call is not known here: one call = the op's FLOPs; rate from the total
            calls = sum(1 for e in ops.values() if e["name"] == name and json.dumps(e["args"].get("Input Dims")) == dims)
            row["calls"] = calls
            row["tflops"] = round(tflop * calls / (ms / 1e3), 1) if ms > 0 else None
        rows.append(row)
    out["top_ops"] = rows
    return out


def nccl_kernels(trace):
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    return sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("ph") == "X" and e.get("cat") == "kernel" and category(e["name"], e["cat"]) == "nccl")


def compare_ranks(traces):
    """Waiting and moving time of each rank's NCCL kernels, matched in launch order across ranks."""
    per_rank = [nccl_kernels(t) for t in traces]
    n = min(len(k) for k in per_rank)
    out = {"matched": n, "counts": [len(k) for k in per_rank],
           "ranks": [{"nccl_ms": 0.0, "waiting_ms": 0.0, "moving_ms": 0.0, "last": 0} for _ in traces]}
    for i in range(n):
        starts = [k[i][0] for k in per_rank]
        latest = max(starts)
        out["ranks"][starts.index(latest)]["last"] += 1
        for r, k in enumerate(per_rank):
            s, e = k[i]
            wait = min(max(latest - s, 0.0), e - s)
            rec = out["ranks"][r]
            rec["nccl_ms"] += (e - s) / 1e3
            rec["waiting_ms"] += wait / 1e3
            rec["moving_ms"] += (e - s - wait) / 1e3
    for rec in out["ranks"]:
        for key in ("nccl_ms", "waiting_ms", "moving_ms"):
            rec[key] = round(rec[key], 3)
    return out


def print_ranks(c, paths):
    print(f"# NCCL kernels matched across {len(paths)} ranks: {c['matched']} (per rank {c['counts']})")
    print("# %-40s %10s %10s %10s %6s" % ("trace", "nccl ms", "waiting", "moving", "last"))
    for path, r in zip(paths, c["ranks"]):
        print("  %-40s %10.3f %10.3f %10.3f %6d" % (path[-40:], r["nccl_ms"], r["waiting_ms"], r["moving_ms"], r["last"]))


def print_summary(s, title):
    print(f"# {title}")
    if not s.get("kernels"):
        print("# no GPU kernels in this trace (a CPU run?)")
        return
    print(f"# window {s['window_ms']:.3f} ms, busy {s['busy_ms']:.3f} ms, idle {s['idle_ms']:.3f} ms, "
          f"{s['kernels']} kernels on streams {s['streams']}")
    print("# %-14s %10s %7s %7s" % ("category", "ms", "share", "count"))
    for c, v in s["categories"].items():
        print("  %-14s %10.3f %6.1f%% %7d" % (c, v["ms"], 100 * v["share"], v["count"]))
    if "nccl" in s:
        n = s["nccl"]
        print(f"# NCCL kernels {n['ms']:.3f} ms: {n['overlapped_ms']:.3f} ms beside other kernels, "
              f"{n['exposed_ms']:.3f} ms alone")
    print("# %-36s %9s %6s %8s  %s" % ("op", "ms", "calls", "TFLOP/s", "input dims"))
    for r in s["top_ops"]:
        rate = "%8.1f" % r["tflops"] if r.get("tflops") else "%8s" % "-"
        print("  %-36s %9.3f %6s %s  %s" % (r["op"][:36], r["ms"], r.get("calls", r["kernels"]), rate, r["inputs"][:80]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("traces", nargs="+")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--json", default="", help="also write the summaries as JSON here")
    p.add_argument("--ranks", action="store_true", help="compare the NCCL kernels of one step's traces across ranks")
    a = p.parse_args()
    if a.ranks:
        traces = []
        for path in a.traces:
            with open(path) as f:
                traces.append(json.load(f))
        c = compare_ranks(traces)
        print_ranks(c, a.traces)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(c, f, indent=1)
        return 0
    summaries = {}
    for path in a.traces:
        with open(path) as f:
            s = summarize(json.load(f), a.top)
        summaries[path] = s
        print_summary(s, path)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summaries, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
