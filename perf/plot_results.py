#!/usr/bin/env python3
"""Bar chart of ms/step from perf/results JSON lines: pardit (default configuration, one GPU and
each multi-GPU mesh) and the peers, one group per image size. Records whose command sets a
PARDIT_* variable (before/after experiments) are left out; of several records of the same
system, GPU count, mesh and size the last one read wins, so pass files oldest first.

    python3 perf/plot_results.py OUT.png RESULTS.jsonl [RESULTS.jsonl ...]
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(r):
    if r["system"] == "pardit":
        return "pardit, 1 GPU" if r["gpus"] == 1 else f"pardit, {r['gpus']} GPUs ({r['mesh']})"
    return r["system"] + ("" if r["gpus"] == 1 else f", {r['gpus']} GPUs")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("results", type=Path, nargs="+")
    a = ap.parse_args()
    latest = {}
    for path in a.results:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("model") != "flux-dev" or "PARDIT_" in r.get("command", "") or "truecfg" in r.get("mesh", ""):
                continue
            latest[(label(r), r["height"], r["width"])] = r
    sizes = sorted({(h, w) for _, h, w in latest}, key=lambda s: s[0] * s[1])
    systems = sorted({k[0] for k in latest}, key=lambda s: (not s.startswith("diffusers"), s))
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4.2), squeeze=False)
    for ax, (h, w) in zip(axes[0], sizes):
        names = [s for s in systems if (s, h, w) in latest]
        ms = [latest[(s, h, w)]["ms_per_step"] for s in names]
        bars = ax.barh(range(len(names)), ms, color=["#999999" if n.startswith("diffusers") else "#1f77b4" for n in names])
        for bar, r in zip(bars, (latest[(s, h, w)] for s in names)):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f" {r['ms_per_step']:.1f} ms ({r['commit'][:7]})", va="center", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, max(ms) * 1.45)
        ax.set_xlabel("ms per denoising step (lower is better)")
        ax.set_title(f"flux-dev bf16, {h}x{w}, H200")
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}: {len(latest)} records")


if __name__ == "__main__":
    main()
