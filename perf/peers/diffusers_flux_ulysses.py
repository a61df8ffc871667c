#!/usr/bin/env python3
"""Python peer for pardit's multi-GPU runs: diffusers' FluxTransformer2DModel with diffusers' own
Ulysses context parallelism over the N processes of a torchrun launch (N >= 2, from the environment;
diffusers_flux.py is the 1-GPU peer):

    torchrun --nproc-per-node 2 perf/peers/diffusers_flux_ulysses.py --mode eager,compile \
        --sizes 1024x1024,2048x2048 --steps 28 --warmup 3 --out RESULTS.jsonl

Workload, timing and record format are those of perf/peers/diffusers_flux.py, whose configs, scheduler
config, dynamic shift, image ids and FLOP model are imported (FLUX.1-dev, random bf16 weights, batch 1,
512 text tokens, guidance 3.5, no CFG, `--steps` flow-match Euler steps calling the transformer directly).

Parallelism: NCCL (gloo with `--device cpu`), one process per GPU (cuda:LOCAL_RANK). Every rank builds
the model from the same seed and takes rank 0's weights (broadcast); inputs use the same generator seed
on every rank. Then `model.set_attention_backend(B)` and
`model.enable_parallelism(config=ContextParallelConfig(ulysses_degree=N))`: the model's `_cp_plan` splits
hidden_states, encoder_hidden_states, img_ids and txt_ids along the sequence on entry and all-gathers
proj_out's output; each attention does the Ulysses all-to-alls (sequence <-> heads). Image tokens, text
tokens and the 24 heads must divide by N. B (`--attention`): `_native_cudnn` (default on CUDA: diffusers'
cuDNN SDPA op, context-parallel capable) or `native` (torch SDPA; on CUDA inside
`sdpa_kernel(SDPBackend.CUDNN_ATTENTION)`, as diffusers_flux.py).

Modes: `eager`, then `compile` = regional compilation (`compile_repeated_blocks(fullgraph=True)`; if
Dynamo fails under fullgraph, recompiled with fullgraph=False, and the note says so).

Timing: warm-up forwards, then CUDA events around each step (transformer + scheduler step, synchronised
at each step boundary); each step's time is the max over ranks (all_reduce MAX of the per-step times, as
pardit's step timer) and ms_per_step is the median of those. tflops = whole-image step FLOPs / time
(aggregate over the N GPUs); peak_mem_gib is rank 0's. Rank 0 prints / appends the JSON lines. Exit
code 1 if any case failed. `--model flux-tiny --device cpu` is a smoke test only.
"""
import argparse
import contextlib
import json
import os
import shlex
import sys
import time

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import diffusers_flux as base  # noqa: E402

SCRIPT = "perf/peers/diffusers_flux_ulysses.py"


def run_case(model, cfg, mode, height, width, a, device, dtype):
    # The CP hooks shard the inputs and gather proj_out: the loop sees full-sequence outputs.
    ms, first_s, latents = base.timed_loop(model, cfg, height, width, a, device, dtype)
    if not torch.isfinite(latents).all():
        print(f"# [rank {a.rank}] warning: non-finite latents ({mode} {height}x{width})", file=sys.stderr)

    # per-step max over ranks (and the slowest rank's time to first step), then the median
    times = torch.tensor(ms + [first_s], dtype=torch.float64, device=device)
    dist.all_reduce(times, op=dist.ReduceOp.MAX)
    ms, first_s = times[:-1].tolist(), times[-1].item()
    n = a.world
    cmd = (f"torchrun --nproc-per-node {n} {SCRIPT} --mode {mode} --height {height} --width {width} "
           f"--steps {a.steps} --warmup {a.warmup}" + ("" if a.model == "flux-dev" else f" --model {a.model}")
           + ("" if a.attention == a.default_attention else f" --attention {a.attention}")
           + ("" if device.type == "cuda" else f" --device {device.type}"))
    note = (f"diffusers Ulysses context parallelism over {n} ranks "
            f"(enable_parallelism(ContextParallelConfig(ulysses_degree={n})), {dist.get_backend()}), "
            f"attention {a.attention_note}, "
            + (f"regional torch.compile (compile_repeated_blocks, fullgraph={a.fullgraph}"
               + ("" if a.fullgraph else f": fullgraph=True failed: {a.fullgraph_error}") + ")"
               if mode == "compile" else "eager")
            + f", random weights (seed {a.seed}, broadcast from rank 0), {a.warmup} warm-up forwards, per-step "
            f"time = max over ranks of each step's time, median of all {a.steps} timed steps; peak memory of rank 0")
    return base.record(a, f"diffusers-ulysses{n}-{mode}", n, height, width, dtype, ms, first_s, device, a.gpu_name,
                       a.commit, cmd, note)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    base.add_workload_args(p)
    p.add_argument("--model", default="flux-dev", choices=sorted(base.CONFIGS))
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cuda (NCCL) or cpu (gloo, smoke test)")
    p.add_argument("--attention", default="", choices=["", "_native_cudnn", "native"],
                   help="diffusers attention backend (default: _native_cudnn on cuda, native on cpu)")
    p.add_argument("--out", default="", help="also append the JSON lines to this file (rank 0)")
    a = p.parse_args()
    a.world, a.rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if a.world < 2:
        p.error("launch with torchrun --nproc-per-node N, N >= 2 (diffusers_flux.py is the 1-GPU peer)")
    a.invocation = (f"torchrun --nproc-per-node {a.world} {SCRIPT} " + " ".join(shlex.quote(x) for x in sys.argv[1:]))
    a.default_attention = "_native_cudnn" if a.device == "cuda" else "native"
    a.attention = a.attention or a.default_attention
    modes = [m.strip() for m in a.mode.split(",") if m.strip()]
    for m in modes:
        if m not in ("eager", "compile"):
            p.error(f"unknown mode {m!r}")
    modes.sort(key=lambda m: m == "compile")  # compile modifies the model in place: eager first
    sizes = ([tuple(int(v) for v in s.lower().split("x")) for s in a.sizes.split(",") if s]
             if a.sizes else [(a.height, a.width)])
    cfg = base.CONFIGS[a.model]
    for h, w in sizes:  # diffusers' equal split of the sequence, Ulysses' split of the heads
        if (h // 16) * (w // 16) % a.world or a.text_tokens % a.world or cfg["num_attention_heads"] % a.world:
            p.error(f"{h}x{w}: image tokens, --text-tokens and heads must divide by {a.world}")

    if a.device == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
        if torch.accelerator.device_count() == 0:  # smoke test only: diffusers computes rank % device_count
            torch.accelerator.device_count = lambda: 1
    log = (lambda *x: print(*x, file=sys.stderr, flush=True)) if a.rank == 0 else (lambda *x: None)

    from diffusers import ContextParallelConfig, FluxTransformer2DModel

    dtype = torch.bfloat16
    a.gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    commits = [open(f).read().strip() for f in (".commit", os.path.join(HERE, "..", "..", ".commit")) if os.path.exists(f)]
    a.commit = (commits + ["unknown"])[0]

    t0 = time.perf_counter()
    torch.manual_seed(a.seed)
    with torch.device(device):
        model = FluxTransformer2DModel(**cfg).to(dtype)
    model.eval().requires_grad_(False)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)
    model.set_attention_backend(a.attention)
    model.enable_parallelism(config=ContextParallelConfig(ulysses_degree=a.world))
    log(f"# model {a.model}: {sum(x.numel() for x in model.parameters()) / 1e9:.2f} B parameters, built in "
        f"{time.perf_counter() - t0:.1f} s; Ulysses over {a.world} ranks, attention backend {a.attention}")

    if device.type == "cuda" and a.attention == "native":
        from torch.nn.attention import SDPBackend, sdpa_kernel
        attn_ctx = lambda: sdpa_kernel(SDPBackend.CUDNN_ATTENTION)  # noqa: E731
        a.attention_note = "diffusers 'native' backend: torch SDPA in sdpa_kernel(SDPBackend.CUDNN_ATTENTION)"
    else:
        attn_ctx = contextlib.nullcontext
        a.attention_note = {"_native_cudnn": "diffusers '_native_cudnn' backend (aten cuDNN SDPA op)",
                            "native": "diffusers 'native' backend (torch SDPA default)"}[a.attention]

    any_failed, compiled, a.fullgraph, a.fullgraph_error = False, False, True, ""
    for mode in modes:
        if mode == "compile" and not compiled:
            dynamo_config = __import__("torch._dynamo", fromlist=["config"]).config
            dynamo_config.automatic_dynamic_shapes = False  # one static graph per size
            dynamo_config.cache_size_limit = max(dynamo_config.cache_size_limit, 16)
            model.compile_repeated_blocks(fullgraph=True)
            compiled = True
        for h, w in sizes:
            t1 = time.perf_counter()
            rec, err, code = None, None, 0
            for attempt in range(2):
                try:
                    with torch.inference_mode(), attn_ctx():
                        rec = run_case(model, cfg, mode, h, w, a, device, dtype)
                    err, code = None, 0
                except Exception as e:  # report and go on with the next case
                    err, code = f"{type(e).__name__}: {e}", 2 if type(e).__module__.startswith("torch._dynamo") else 1
                    print(f"# [rank {a.rank}] FAILED diffusers-ulysses{a.world}-{mode} {h}x{w}: {err}",
                          file=sys.stderr, flush=True)
                flag = torch.tensor([code], dtype=torch.int32, device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # all ranks agree on success
                if flag.item() != 2 or mode != "compile" or not a.fullgraph or attempt:
                    break
                # dynamo failed under fullgraph (e.g. on the context-parallel code): retry without fullgraph
                a.fullgraph, a.fullgraph_error = False, (err or "on another rank")[:200]
                log("# retrying with compile_repeated_blocks(fullgraph=False)")
                torch._dynamo.reset()  # torch._dynamo is imported by the compile above
                model.compile_repeated_blocks(fullgraph=False)
            if flag.item():
                any_failed = True
                continue
            if a.rank == 0:
                print(json.dumps(rec), flush=True)
                if a.out:
                    with open(a.out, "a") as f:
                        f.write(json.dumps(rec) + "\n")
            log(f"# {rec['system']} {h}x{w}: {rec['ms_per_step']} ms/step, case wall {time.perf_counter() - t1:.1f} s")
    dist.destroy_process_group()
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())
