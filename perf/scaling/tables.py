"""The scaling table as CSV (every column) and markdown (the columns a reader compares)."""
import csv

from results import finite

CSV_COLUMNS = [
    "model", "device", "dtype", "height", "width", "steps", "prompts", "parallel", "mesh",
    "nodes", "ranks_per_node", "ranks", "gpus", "ms_per_image_step", "step_latency_ms",
    "speedup", "ideal_speedup", "efficiency", "baseline_ranks", "compute_ms_per_image_step",
    "comm_ms_per_image_step", "comm_fraction", "comm_gib", "denoise_s", "complete", "file",
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
