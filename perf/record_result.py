#!/usr/bin/env python3
"""Turn one pardit output file into a perf/results JSON line (format: DESIGN.md section 7).

ms_per_step is the median over timed steps of the slowest rank's step time (a step is done only
when every rank is done). The first `--skip-steps` steps of the first prompt are warm-up (CUDA
context, cuDNN plan selection, allocator growth) and are excluded.

FLOPs of one Flux transformer evaluation (multiply-add = 2 FLOPs), per block over S = text +
image tokens, hidden size d:
  linear:    2 * 12 d^2 * S   (q,k,v,out + 4d MLP: 12 d^2 weights per token in either block type)
  attention: 4 * S^2 * d      (Q K^T and P V)
times (double + single) blocks, times 2 with true CFG. Flux-dev 1024^2: 74.39 TFLOP, 2048^2: 418.11.
"""
import argparse
import datetime
import json
import math
import sys

import h5py
import numpy as np

ARCH = {  # hidden size, blocks
    "flux-dev": (3072, 57),
    "flux-schnell": (3072, 57),
    "flux-tiny": (128, 6),
}


def step_tflop(model, height, width, text_tokens, passes):
    d, blocks = ARCH[model]
    s = text_tokens + (height // 16) * (width // 16)
    return passes * blocks * (24 * d * d * s + 4 * s * s * d) / 1e12


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("h5")
    p.add_argument("--gpu", required=True, help="GPU model, e.g. 'NVIDIA H200'")
    p.add_argument("--gpus", type=int, required=True)
    p.add_argument("--commit", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--system", default="pardit")
    p.add_argument("--skip-steps", type=int, default=3)
    p.add_argument("--text-tokens", type=int, default=512)
    p.add_argument("--note", default="")
    a = p.parse_args()
    f = h5py.File(a.h5, "r")
    cfg = {}
    for line in f.attrs["config"].splitlines():
        if "=" in line:
            k, v = (x.strip() for x in line.split("=", 1))
            cfg[k] = v.strip("'\"")
    steps = int(cfg["steps"])
    height, width = int(cfg["height"]), int(cfg["width"])
    true_cfg = float(cfg["true_cfg_scale"]) > 1.0
    s = f["timings/step_seconds"][:]  # [world, P, steps]
    slowest = np.nanmax(s, axis=0).reshape(-1)  # prompt-major
    timed = slowest[a.skip_steps:]
    ms = float(np.median(timed) * 1e3)
    tflop = step_tflop(f.attrs["model"], height, width, a.text_tokens, 2 if true_cfg else 1)
    rec = {
        "system": a.system,
        "model": f.attrs["model"],
        "height": height,
        "width": width,
        "steps": steps,
        "dtype": f.attrs["dtype"],
        "gpus": a.gpus,
        "mesh": f.attrs["mesh"] + ("+truecfg" if true_cfg else ""),
        "ms_per_step": round(ms, 2),
        "ms_per_step_min": round(float(np.min(timed) * 1e3), 2),
        "tflops": round(tflop / (ms / 1e3), 1),
        "tflop_per_step": round(tflop, 2),
        "peak_mem_gib": round(float(np.max(f["timings/peak_memory_bytes"][:])) / 2**30, 2),
        "time_to_first_step_s": round(float(np.nanmax(f["timings/time_to_first_step_seconds"][:])), 2),
        "gpu": a.gpu,
        "commit": a.commit,
        "date": datetime.date.today().isoformat(),
        "command": a.command,
    }
    if "timings/step_host_seconds" in f:  # host time to issue a step: ~ms_per_step when launch-bound
        host = np.nanmax(f["timings/step_host_seconds"][:], axis=0).reshape(-1)[a.skip_steps:]
        rec["host_ms_per_step"] = round(float(np.median(host) * 1e3), 2)
    if "timings/step_comm_wait_seconds" in f:  # compute waiting for transfers, per rank
        wait = f["timings/step_comm_wait_seconds"][:].reshape(f["timings/step_comm_wait_seconds"].shape[0], -1)
        # per rank (ranks that timed no step, or ran with the timing off, are left out)
        rec["comm_wait_ms_per_step"] = [round(float(np.nanmedian(w[a.skip_steps:]) * 1e3), 2)
                                        for w in wait if np.isfinite(w[a.skip_steps:]).any()]
        if len(rec["comm_wait_ms_per_step"]) != wait.shape[0]:
            rec["comm_wait_ranks"] = [r for r, w in enumerate(wait) if np.isfinite(w[a.skip_steps:]).any()]
    if a.note:
        rec["note"] = a.note
    print(json.dumps(rec))


if __name__ == "__main__":
    sys.exit(main())
