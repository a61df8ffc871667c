#!/usr/bin/env python3
"""Python peer for pardit's benchmarks: diffusers' FluxTransformer2DModel in the same workload.

Workload (the same as `pardit run --config configs/runs/flux-dev-*.toml`): the FLUX.1-dev
transformer (19 double + 38 single blocks, 24 heads x 128, joint dim 4096, pooled 768, guidance
embedding, RoPE axes (16, 56, 56)), random weights created directly on the GPU in bf16 (no
download; the same cost as real ones), batch 1, 512 text tokens, no CFG, guidance 3.5, and a
`--steps`-step flow-match Euler loop with Flux's dynamic shift: diffusers'
FlowMatchEulerDiscreteScheduler with the FLUX.1-dev scheduler config, sigmas
linspace(1, 1/steps, steps) and mu from the image sequence length, as FluxPipeline does. The
transformer is called directly in the loop on packed latents with img_ids/txt_ids, as
FluxPipeline does; text encoders and VAE are not run (random prompt embeddings).

Attention: torch SDPA restricted to cuDNN attention with
`torch.nn.attention.sdpa_kernel(SDPBackend.CUDNN_ATTENTION)` (the fastest backend on H200;
pardit also calls cuDNN attention).

Modes: `eager`, and `compile` = regional compilation
(`model.compile_repeated_blocks(fullgraph=True)`: torch.compile on every double/single block,
default mode). Several modes and sizes may run in one process (`--mode eager,compile
--sizes 1024x1024,2048x2048`): the model is built once; eager cases run before compile ones,
and each compiled size is a static-shape compilation (automatic dynamic shapes off).

Timing: `--warmup` transformer forwards (compilation happens there), then the `--steps` loop
with CUDA events around each step (transformer + scheduler step). ms_per_step is the median over
all timed steps. Prints one JSON line per case in the perf/results format of
perf/record_result.py (FLOP model imported from there).
"""
import argparse
import datetime
import json
import os
import shlex
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
try:
    from record_result import step_tflop  # the one FLOP model of the project
except ImportError:  # h5py missing: same formula, copied
    def step_tflop(model, height, width, text_tokens, passes):
        d, blocks = {"flux-dev": (3072, 57), "flux-tiny": (128, 6)}[model]
        s = text_tokens + (height // 16) * (width // 16)
        return passes * blocks * (24 * d * d * s + 4 * s * s * d) / 1e12

CONFIGS = {
    # FLUX.1-dev transformer/config.json
    "flux-dev": dict(patch_size=1, in_channels=64, out_channels=None, num_layers=19, num_single_layers=38,
                     attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                     pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56)),
    # CPU smoke test only (d = 128, 6 blocks: record_result.py's flux-tiny FLOP entry)
    "flux-tiny": dict(patch_size=1, in_channels=64, out_channels=None, num_layers=2, num_single_layers=4,
                      attention_head_dim=64, num_attention_heads=2, joint_attention_dim=64,
                      pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(8, 28, 28)),
}
# FLUX.1-dev scheduler/scheduler_config.json
SCHEDULER_CONFIG = dict(base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15,
                        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True)


def calculate_shift(image_seq_len, base_seq_len=256, max_seq_len=4096, base_shift=0.5, max_shift=1.15):
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)  # as diffusers.pipelines.flux
    return image_seq_len * m + (base_shift - m * base_seq_len)


def image_ids(h, w, device, dtype):  # FluxPipeline._prepare_latent_image_ids
    ids = torch.zeros(h, w, 3)
    ids[..., 1] += torch.arange(h)[:, None]
    ids[..., 2] += torch.arange(w)[None, :]
    return ids.reshape(h * w, 3).to(device=device, dtype=dtype)


def timed_loop(model, cfg, height, width, a, device, dtype):
    """The workload of one case: inputs from seed a.seed (the same on every rank), the FLUX.1-dev
    scheduler with Flux's dynamic shift, a.warmup warm-up forwards, then a.steps timed steps (CUDA
    events around transformer + scheduler step, synchronised at each step boundary). Returns the
    per-step milliseconds, the seconds to the end of the first forward, and the final latents."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    t_case = time.perf_counter()
    g = torch.Generator(device=device).manual_seed(a.seed)
    lh, lw = height // 16, width // 16  # VAE /8, then 2x2 packing
    latents = torch.randn(1, lh * lw, cfg["in_channels"], generator=g, device=device, dtype=dtype)
    prompt = torch.randn(1, a.text_tokens, cfg["joint_attention_dim"], generator=g, device=device, dtype=dtype)
    pooled = torch.randn(1, cfg["pooled_projection_dim"], generator=g, device=device, dtype=dtype)
    txt_ids = torch.zeros(a.text_tokens, 3, device=device, dtype=dtype)
    img_ids = image_ids(lh, lw, device, dtype)
    guidance = torch.full([1], a.guidance, device=device, dtype=torch.float32)

    sched = FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG)
    sigmas = np.linspace(1.0, 1 / a.steps, a.steps)
    mu = calculate_shift(latents.shape[1], SCHEDULER_CONFIG["base_image_seq_len"],
                         SCHEDULER_CONFIG["max_image_seq_len"], SCHEDULER_CONFIG["base_shift"],
                         SCHEDULER_CONFIG["max_shift"])
    sched.set_timesteps(sigmas=sigmas, device=device, mu=mu)
    timesteps = sched.timesteps

    def forward(x, t):
        return model(hidden_states=x, timestep=t.expand(x.shape[0]).to(x.dtype) / 1000, guidance=guidance,
                     pooled_projections=pooled, encoder_hidden_states=prompt, txt_ids=txt_ids,
                     img_ids=img_ids, return_dict=False)[0]

    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    first_s = None
    for i in range(a.warmup):
        forward(latents, timesteps[0])
        sync()
        if i == 0:
            first_s = time.perf_counter() - t_case

    ms = []
    for t in timesteps:
        if cuda:
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
        else:
            c0 = time.perf_counter()
        noise = forward(latents, t)
        latents = sched.step(noise, t, latents, return_dict=False)[0]
        if cuda:
            e1.record()
            e1.synchronize()  # step boundary synchronised, as pardit's step timer
            ms.append(e0.elapsed_time(e1))
        else:
            ms.append((time.perf_counter() - c0) * 1e3)
    if first_s is None:
        first_s = time.perf_counter() - t_case
    return ms, first_s, latents


def record(a, system, gpus, height, width, dtype, ms, first_s, device, gpu_name, commit, command, note):
    """One perf/results JSON line (the fields of perf/record_result.py) from a case's per-step ms."""
    med = statistics.median(ms)
    tflop = step_tflop(a.model, height, width, a.text_tokens, 1)
    return {
        "system": system,
        "model": a.model,
        "height": height,
        "width": width,
        "steps": a.steps,
        "dtype": "bf16" if dtype == torch.bfloat16 else str(dtype).replace("torch.", ""),
        "gpus": gpus,
        "mesh": "1" if gpus == 1 else f"u{gpus}",
        "ms_per_step": round(med, 2),
        "ms_per_step_min": round(min(ms), 2),
        "tflops": round(tflop / (med / 1e3), 1),
        "tflop_per_step": round(tflop, 2),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else 0.0,
        "time_to_first_step_s": round(first_s, 2),
        "gpu": gpu_name,
        "commit": commit,
        "date": datetime.date.today().isoformat(),
        "command": command,
        "note": (f"diffusers {__import__('diffusers').__version__}, torch {torch.__version__}, " + note
                 + ("" if command == a.invocation else f"; ran as: {a.invocation}")),
    }


def run_case(model, cfg, mode, height, width, a, device, dtype, commit, gpu_name):
    ms, first_s, latents = timed_loop(model, cfg, height, width, a, device, dtype)
    if not torch.isfinite(latents).all():
        print(f"# warning: non-finite latents ({mode} {height}x{width})", file=sys.stderr)
    cmd = (f"python3 perf/peers/diffusers_flux.py --mode {mode} --height {height} --width {width} "
           f"--steps {a.steps} --warmup {a.warmup}" + ("" if a.model == "flux-dev" else f" --model {a.model}"))
    note = (f"attention {a.attention_note}, "
            f"{'regional torch.compile (compile_repeated_blocks, fullgraph)' if mode == 'compile' else 'eager'}, "
            f"random weights, {a.warmup} warm-up forwards, median of all {a.steps} timed steps")
    return record(a, f"diffusers-{mode}", 1, height, width, dtype, ms, first_s, device, gpu_name, commit, cmd, note)


def add_workload_args(p):
    """The options that describe the workload, shared by both peers."""
    p.add_argument("--mode", default="eager", help="eager, compile, or a comma list (eager,compile)")
    p.add_argument("--height", type=int, default=1024)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--sizes", default="", help="comma list of HxW (e.g. 1024x1024,2048x2048); overrides --height/--width")
    p.add_argument("--steps", type=int, default=28)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--text-tokens", type=int, default=512)
    p.add_argument("--guidance", type=float, default=3.5)
    p.add_argument("--seed", type=int, default=0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_args(p)
    p.add_argument("--model", default="flux-dev", choices=sorted(CONFIGS))
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default="", help="also append the JSON lines to this file")
    a = p.parse_args()
    a.invocation = "python3 perf/peers/diffusers_flux.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])

    modes = [m.strip() for m in a.mode.split(",") if m.strip()]
    for m in modes:
        if m not in ("eager", "compile"):
            p.error(f"unknown mode {m!r}")
    modes.sort(key=lambda m: m == "compile")  # compile modifies the model in place: eager first
    sizes = ([tuple(int(v) for v in s.lower().split("x")) for s in a.sizes.split(",") if s]
             if a.sizes else [(a.height, a.width)])

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import FluxTransformer2DModel

    device = torch.device(a.device)
    dtype = torch.bfloat16
    cfg = CONFIGS[a.model]
    gpu_name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    commit = "unknown"
    for path in (".commit", os.path.join(HERE, "..", "..", ".commit")):
        if os.path.exists(path):
            commit = open(path).read().strip()
            break

    t0 = time.perf_counter()
    torch.manual_seed(a.seed)
    with torch.device(device):
        model = FluxTransformer2DModel(**cfg).to(dtype)
    model.eval().requires_grad_(False)
    print(f"# model {a.model}: {sum(x.numel() for x in model.parameters()) / 1e9:.2f} B parameters, "
          f"built in {time.perf_counter() - t0:.1f} s on {gpu_name}", file=sys.stderr, flush=True)

    if device.type == "cuda":
        from torch.nn.attention import SDPBackend, sdpa_kernel
        attn_ctx = lambda: sdpa_kernel(SDPBackend.CUDNN_ATTENTION)
        a.attention_note = "cuDNN (sdpa_kernel(SDPBackend.CUDNN_ATTENTION))"
    else:
        import contextlib
        attn_ctx = contextlib.nullcontext
        a.attention_note = "torch SDPA default (CPU)"

    compiled = False
    for mode in modes:
        if mode == "compile" and not compiled:
            dynamo_config = __import__("torch._dynamo", fromlist=["config"]).config
            dynamo_config.automatic_dynamic_shapes = False  # one static graph per size
            dynamo_config.cache_size_limit = max(dynamo_config.cache_size_limit, 16)
            if hasattr(model, "compile_repeated_blocks"):
                model.compile_repeated_blocks(fullgraph=True)
            else:
                for blk in list(model.transformer_blocks) + list(model.single_transformer_blocks):
                    blk.compile(fullgraph=True)
            compiled = True
        for h, w in sizes:
            t1 = time.perf_counter()
            try:
                with torch.inference_mode(), attn_ctx():
                    rec = run_case(model, cfg, mode, h, w, a, device, dtype, commit, gpu_name)
            except Exception as e:  # report and go on with the next case
                print(f"# FAILED diffusers-{mode} {h}x{w}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                continue
            line = json.dumps(rec)
            print(line, flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(line + "\n")
            print(f"# diffusers-{mode} {h}x{w}: {rec['ms_per_step']} ms/step, case wall "
                  f"{time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
