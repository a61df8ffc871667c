"""Read pardit HDF5 outputs (docs/output-format.md) into one row per run, plus speed-up and
efficiency against the smallest run of the same series.

Time per step here is the job's wall time per image-step: the slowest rank's denoise time
divided by (prompts x steps). It falls with every parallel method, data parallel included,
so one axis compares them all. The per-image step latency (median over steps of the slowest
rank's step time; the first step is warm-up and left out when there are more) is kept beside
it: only sequence/pipeline parallelism lowers that one.
"""
import csv
import math
import re
import tomllib
from pathlib import Path

import h5py
import numpy as np


def _attr(f, name, default=""):
    v = f.attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else v


def family(mesh):
    """Series name of a mesh ("dp4" -> "dp", "dp2u2" -> "dp.u", "1" -> "1")."""
    axes = re.findall(r"(dp|cfg|pf|u|r)\d+", mesh)
    return ".".join(axes) if axes else mesh


def read_run(path, parallel=None):
    """One row for one output file; raises on files that are not pardit outputs."""
    with h5py.File(path, "r") as f:
        config = tomllib.loads(_attr(f, "config"))
        world = int(f.attrs["world_size"])
        nodes = f["topology/node_name"].asstr()[:]
        step = f["timings/step_seconds"][:]                 # [world, P, steps], NaN: rank idle
        denoise = f["timings/denoise_seconds"][:]           # [world]
        # Communication: the time each rank's compute waited for it (<axis>_wait_seconds: on GPUs
        # the device-side stalls, not the host's asynchronous NCCL calls); files written before
        # pardit recorded waits have only the host time in the communicators' calls.
        keys = [k for k in f["comm"] if k.endswith("_wait_seconds")] or \
            [k for k in f["comm"] if k.endswith("_seconds")]
        comm = sum((f["comm"][k][:] for k in keys), np.zeros(world))
        comm_bytes = sum((f["comm"][k][:] for k in f["comm"] if k.endswith("_bytes")), np.zeros(world))
        mesh = _attr(f, "mesh", "?")
        device = _attr(f, "device")
        row = {
            "file": str(path),
            "model": _attr(f, "model"),
            "device": device,
            "dtype": _attr(f, "dtype"),
            "complete": int(f.attrs.get("complete", 0)),
            "commit": _attr(f, "git_revision"),
            "date": _attr(f, "created_utc"),
            "command": _attr(f, "command_line"),
        }
        gpu = f["topology"].get("gpu")
        row["gpu"] = gpu.asstr()[0] if gpu is not None and len(gpu) else device
        peak = f["timings"].get("peak_memory_bytes")
        row["peak_mem_gib"] = float(np.max(peak[:])) / 2**30 if peak is not None else float("nan")
    num_prompts, steps = step.shape[1], step.shape[2]
    image_steps = num_prompts * steps
    per_step = np.nanmax(step, axis=0)                     # [P, steps]: slowest rank of each step
    timed = per_step[:, 1:] if steps > 1 else per_step
    wall = float(np.max(denoise))
    comm_mean = float(np.mean(comm))
    node_count = len(set(nodes))
    row.update({
        "height": int(config.get("height", 0)), "width": int(config.get("width", 0)),
        "steps": steps, "prompts": num_prompts,
        "nodes": node_count, "ranks": world, "ranks_per_node": world // node_count,
        "gpus": world if device == "cuda" else 0,
        "mesh": mesh, "parallel": parallel or family(mesh),
        "denoise_s": wall,
        "ms_per_image_step": 1e3 * wall / image_steps,
        "step_latency_ms": 1e3 * float(np.median(timed)),
        # mean over ranks, per image-step, so bars of different configurations compare
        "compute_ms_per_image_step": 1e3 * (float(np.mean(denoise)) - comm_mean) / image_steps,
        "comm_ms_per_image_step": 1e3 * comm_mean / image_steps,
        "comm_fraction": comm_mean / float(np.mean(denoise)) if np.mean(denoise) > 0 else 0.0,
        "comm_gib": float(np.sum(comm_bytes)) / 2**30,
    })
    return row


def manifest_specs(folder):
    """h5 name -> parallel spec from slurm/scaling-study.sh's jobs.tsv (absent: {})."""
    specs = {}
    for tsv in Path(folder).rglob("jobs.tsv"):
        with open(tsv) as fh:
            for rec in csv.DictReader(fh, delimiter="\t"):
                specs[Path(rec["h5"]).name] = rec["parallel"]
    return specs


def add_scaling(rows):
    """Speed-up and efficiency of each row against the smallest-rank run of its series
    (same model, size, steps, device, parallel configuration, ranks per node); the 1-rank run
    of the same size is the baseline of every series when there is one."""
    def key(r):
        return (r["model"], r["height"], r["width"], r["steps"], r["device"], r["dtype"])
    singles = {key(r): r for r in rows if r["ranks"] == 1}
    series = {}
    for r in rows:
        series.setdefault(key(r) + (r["parallel"], r["ranks_per_node"]), []).append(r)
    for members in series.values():
        base = singles.get(key(members[0])) or min(members, key=lambda r: r["ranks"])
        for r in members:
            ideal = r["ranks"] / base["ranks"]
            r["baseline_ranks"] = base["ranks"]
            r["speedup"] = base["ms_per_image_step"] / r["ms_per_image_step"]
            r["ideal_speedup"] = ideal
            r["efficiency"] = r["speedup"] / ideal
    return rows


def gather(folder):
    """Rows for every *.h5 under folder (recursively), sorted; problems as a list of strings."""
    specs = manifest_specs(folder)
    rows, problems = [], []
    for path in sorted(Path(folder).rglob("*.h5")):
        try:
            rows.append(read_run(path, specs.get(path.name)))
        except Exception as e:  # a partial or foreign file must not hide the others
            problems.append(f"{path}: {e}")
    rows.sort(key=lambda r: (r["height"], r["width"], r["parallel"], r["ranks_per_node"], r["ranks"]))
    return add_scaling(rows), problems


def finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)
