"""The scaling table as CSV (every column) and markdown (the columns a reader compares)."""
import csv
import json

from results import finite

CSV_COLUMNS = [
    "model", "device", "dtype", "height", "width", "steps", "prompts", "parallel", "mesh",
    "nodes", "ranks_per_node", "ranks", "gpus", "ms_per_image_step", "step_latency_ms",
    "speedup", "ideal_speedup", "efficiency", "baseline_ranks", "compute_ms_per_image_step",
    "comm_ms_per_image_step", "comm_fraction", "comm_gib", "peak_mem_gib", "denoise_s", "complete",
    "commit", "date", "file",
]
MD_COLUMNS = [  # (header, key, format)
    ("size", None, None), ("parallel", "parallel", "{}"), ("mesh", "mesh", "{}"),
    ("nodes", "nodes", "{}"), ("ranks/node", "ranks_per_node", "{}"), ("ranks", "ranks", "{}"),
    ("ms/image-step", "ms_per_image_step", "{:.1f}"), ("step latency ms", "step_latency_ms", "{:.1f}"),
    ("speed-up", "speedup", "{:.2f}"), ("ideal", "ideal_speedup", "{:.0f}"),
    ("efficiency", "efficiency", "{:.0%}"), ("comm share", "comm_fraction", "{:.0%}"),
    ("complete", "complete", "{}"),
]


def write_csv(rows, path):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def markdown(rows, problems=()):
    if not rows:
        return "no pardit results found\n"
    first = rows[0]
    lines = [
        f"# Scaling: {first['model']} on {first['device']} ({first['dtype']}), "
        f"{first['steps']} steps, {first['prompts']} prompt(s) per job",
        "",
        "ms/image-step = slowest rank's denoise time / (prompts x steps); speed-up against the "
        "1-rank run of the same size (else the smallest run of the series); efficiency = "
        "speed-up / ideal.",
        "",
        "| " + " | ".join(h for h, _, _ in MD_COLUMNS) + " |",
        "|" + "---|" * len(MD_COLUMNS),
    ]
    for r in rows:
        cells = []
        for _, key, fmt in MD_COLUMNS:
            if key is None:
                cells.append(f"{r['height']}x{r['width']}")
            else:
                v = r.get(key, "")
                cells.append(fmt.format(v) if (finite(v) or isinstance(v, str)) else "-")
        lines.append("| " + " | ".join(cells) + " |")
    if problems:
        lines += ["", "Files that could not be read:", ""] + [f"- {p}" for p in problems]
    return "\n".join(lines) + "\n"


def write_jsonl(rows, path):
    """One JSON object per run in the schema of perf/results/*.jsonl (DESIGN.md section 7):
    ms_per_step is the per-image step latency; the scaling numbers ride along."""
    with open(path, "w") as fh:
        for r in rows:
            rec = {"system": "pardit", "model": r["model"], "height": r["height"], "width": r["width"],
                   "steps": r["steps"], "dtype": r["dtype"], "gpus": r["gpus"], "mesh": r["mesh"],
                   "ms_per_step": round(r["step_latency_ms"], 3),
                   "peak_mem_gib": r["peak_mem_gib"] if finite(r["peak_mem_gib"]) else None,
                   "gpu": r["gpu"], "commit": r["commit"], "date": r["date"], "command": r["command"],
                   "nodes": r["nodes"], "ranks": r["ranks"],
                   "ms_per_image_step": round(r["ms_per_image_step"], 3),
                   "speedup": round(r["speedup"], 4), "efficiency": round(r["efficiency"], 4)}
            fh.write(json.dumps(rec) + "\n")
