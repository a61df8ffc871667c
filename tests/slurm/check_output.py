#!/usr/bin/env python3
"""Check a pardit output file of a Slurm job with h5py (independent of pardit's reader):
complete, world size, the ranks spread over the expected nodes, complete timings.
usage: check_output.py FILE.h5 --world N --nodes n1,n2"""
import argparse
import sys

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--world", type=int, required=True)
ap.add_argument("--nodes", required=True, help="comma-separated node names every one of which holds ranks")
args = ap.parse_args()
errors = []
with h5py.File(args.file, "r") as f:
    if int(f.attrs["complete"]) != 1:
        errors.append("root attribute complete != 1")
    if int(f.attrs["world_size"]) != args.world:
        errors.append(f"world_size {f.attrs['world_size']} != {args.world}")
    nodes = list(f["topology/node_name"].asstr()[:])
    want = args.nodes.split(",")
    per_node = {n: nodes.count(n) for n in want}
    if sorted(set(nodes)) != sorted(want) or len(set(per_node.values())) != 1:
        errors.append(f"/topology/node_name {nodes}: want ranks spread evenly over {want}")
    step = f["timings/step_seconds"][:]
    world, prompts, steps = step.shape
    if world != args.world:
        errors.append(f"step_seconds has {world} rank rows")
    for p in range(prompts):       # every prompt: some rank timed every one of its steps
        ran = [r for r in range(world) if np.all(np.isfinite(step[r, p]))]
        if not ran or not all(np.all(step[r, p] > 0) for r in ran):
            errors.append(f"prompt {p}: no rank has positive timings for all {steps} steps")
    denoise = f["timings/denoise_seconds"][:]
    if denoise.shape != (args.world,) or not np.all(np.isfinite(denoise) & (denoise > 0)):
        errors.append(f"denoise_seconds {denoise}")
    latents = f["latents"][:]
    if latents.shape[0] != prompts or not np.all(np.isfinite(latents)):
        errors.append(f"latents {latents.shape} not finite / wrong prompt count")
print(f"{args.file}: world {args.world}, nodes {nodes}, step_seconds {step.shape}, "
      f"denoise max {np.max(denoise):.3f} s")
for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
