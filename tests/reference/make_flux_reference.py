#!/usr/bin/env python3
"""Generate reference data for pardit's Flux transformer + sampling tests.

Builds a tiny diffusers ``FluxTransformer2DModel`` with random (non-degenerate) weights and
writes into ``--out DIR``:

  transformer/                   save_pretrained (config.json + diffusion_pytorch_model.safetensors)
  transformer-sharded/           same weights, >= 2 shards + diffusion_pytorch_model.safetensors.index.json
  forward.safetensors            one transformer forward: inputs + ``output``
  sampling.safetensors           a full diffusers FluxPipeline sampling run (inputs, schedule, result)
  prompts.h5                     the sampling inputs in pardit's prompt-file layout

Everything is CPU-only, built from random weights (no downloads) and deterministic for a given
``--seed``. ``--self-check`` additionally re-runs the sampling with a hand-written Euler loop over
the recorded sigmas/timesteps and asserts it reproduces ``final_latents``.

Needs: torch, diffusers, transformers (FluxPipeline is a dummy object without it), safetensors,
h5py, numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from safetensors.torch import load_file

from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel

try:
    from diffusers import FluxPipeline
    from diffusers.utils import dummy_torch_and_transformers_objects as _dummies

    if FluxPipeline is getattr(_dummies, "FluxPipeline", None):
        raise ImportError("diffusers.FluxPipeline is a dummy object: `pip install transformers`")
except ImportError as e:  # pragma: no cover - environment problem, report clearly
    sys.exit(f"error: cannot import diffusers.FluxPipeline ({e}); install transformers")

from diffusers.models.normalization import RMSNorm as DiffusersRMSNorm

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# Flux.1-dev scheduler config (scheduler/scheduler_config.json of black-forest-labs/FLUX.1-dev).
FLUX_SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    shift=3.0,
    use_dynamic_shifting=True,
    base_shift=0.5,
    max_shift=1.15,
    base_image_seq_len=256,
    max_image_seq_len=4096,
)

VAE_SCALE_FACTOR = 8  # what FluxPipeline assumes when vae=None
LATENT_CHANNELS = 16  # in_channels 64 = 16 latent channels * 2x2 packing


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Write Flux reference data (random tiny transformer, one forward, one "
        "FluxPipeline sampling run) for pardit's C++ tests.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, type=Path, help="output directory (created)")
    p.add_argument("--variant", choices=["dev", "schnell"], default="dev",
                   help="dev: guidance_embeds=True; schnell: guidance_embeds=False")
    p.add_argument("--num-layers", type=int, default=2, help="double-stream blocks")
    p.add_argument("--num-single-layers", type=int, default=2, help="single-stream blocks")
    p.add_argument("--heads", type=int, default=2, help="num_attention_heads")
    p.add_argument("--head-dim", type=int, default=16, help="attention_head_dim")
    p.add_argument("--joint-dim", type=int, default=32, help="joint_attention_dim (T5 width)")
    p.add_argument("--pooled-dim", type=int, default=24, help="pooled_projection_dim (CLIP width)")
    p.add_argument("--axes-dims", default="4,6,6", help="axes_dims_rope, must sum to --head-dim")
    p.add_argument("--height", type=int, default=64, help="image height in pixels (multiple of 16)")
    p.add_argument("--width", type=int, default=96, help="image width in pixels (multiple of 16)")
    p.add_argument("--steps", type=int, default=3, help="num_inference_steps")
    p.add_argument("--text-len", type=int, default=7, help="text sequence length L")
    p.add_argument("--guidance", type=float, default=3.5,
                   help="guidance_scale (embedded guidance; only used by the dev variant)")
    p.add_argument("--true-cfg-scale", type=float, default=1.0,
                   help="> 1 enables true CFG with random negative prompt embeddings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                   help="dtype of the saved weights and of the runs (weights are initialised in float32)")
    p.add_argument("--weight-std", type=float, default=None,
                   help="std of the random weight matrices; default 1/sqrt(fan_in) (biases are always "
                   "0.02*randn, RMSNorm weights 1+0.1*randn)")
    p.add_argument("--self-check", action="store_true",
                   help="verify final_latents against a hand-written Euler loop over the recorded schedule")
    a = p.parse_args(argv)
    a.axes_dims = [int(x) for x in a.axes_dims.split(",")]
    if sum(a.axes_dims) != a.head_dim:
        p.error(f"--axes-dims {a.axes_dims} must sum to --head-dim {a.head_dim}")
    if len(a.axes_dims) != 3:
        p.error("--axes-dims needs 3 entries (Flux ids have 3 axes)")
    if a.height % 16 or a.width % 16 or a.height <= 0 or a.width <= 0:
        p.error("--height/--width must be positive multiples of 16")
    if a.steps < 1:
        p.error("--steps must be >= 1")
    return a


# --------------------------------------------------------------------------------------------
# model


def build_model(a) -> FluxTransformer2DModel:
    torch.manual_seed(a.seed)
    model = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        out_channels=None,
        num_layers=a.num_layers,
        num_single_layers=a.num_single_layers,
        attention_head_dim=a.head_dim,
        num_attention_heads=a.heads,
        joint_attention_dim=a.joint_dim,
        pooled_projection_dim=a.pooled_dim,
        guidance_embeds=(a.variant == "dev"),
        axes_dims_rope=tuple(a.axes_dims),
    )

    # Re-initialise every parameter (the default init zeroes e.g. the AdaLN modulation layers,
    # which would make whole blocks identities and the test meaningless).
    rms_weights = set()
    for mod in model.modules():
        if isinstance(mod, (DiffusersRMSNorm, torch.nn.RMSNorm)) and getattr(mod, "weight", None) is not None:
            rms_weights.add(id(mod.weight))
    #   RMSNorm weights (q/k norms): 1 + 0.1 * randn
    #   biases (and any other 1-D parameter): 0.02 * randn
    #   matrices: --weight-std * randn, default 1/sqrt(fan_in). A flat std of 0.02 (pass
    #     --weight-std 0.02) leaves every AdaLN gate ~0.02, so the blocks change the output by
    #     <1% and RoPE by <0.1%: a broken block or RoPE would hide inside the test tolerance.
    #     With 1/sqrt(fan_in) removing the blocks changes the output by ~100%, zeroing img_ids
    #     by ~10%.
    g = torch.Generator().manual_seed(a.seed + 1000)
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if id(prm) in rms_weights:
                prm.copy_(1.0 + 0.1 * torch.randn(prm.shape, generator=g))
            elif prm.dim() >= 2:
                std = a.weight_std if a.weight_std is not None else prm[0].numel() ** -0.5
                prm.copy_(std * torch.randn(prm.shape, generator=g))
            else:
                prm.copy_(0.02 * torch.randn(prm.shape, generator=g))
    for name, prm in model.named_parameters():
        assert prm.abs().max() > 0, f"parameter {name} is still all zero"
    if DTYPES[a.dtype] != torch.float32:
        model = model.to(DTYPES[a.dtype])
    model = model.eval()
    model.requires_grad_(False)
    return model


def save_model(model, out: Path):
    model.save_pretrained(out / "transformer", safe_serialization=True)
    total = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    # ~1/3 of the total per shard -> at least 2 (typically 3-4) shards + index json.
    model.save_pretrained(out / "transformer-sharded", safe_serialization=True,
                          max_shard_size=max(total // 3, 1))
    shards = sorted((out / "transformer-sharded").glob("*.safetensors"))
    index = list((out / "transformer-sharded").glob("*.safetensors.index.json"))
    assert len(shards) >= 2 and index, f"sharded save produced {len(shards)} shards, index={index}"
    return total, len(shards)


# --------------------------------------------------------------------------------------------
# one forward


def image_ids(h_lat: int, w_lat: int) -> torch.Tensor:
    """[(h_lat/2)*(w_lat/2), 3] ids exactly as FluxPipeline.prepare_latents builds them."""
    return FluxPipeline._prepare_latent_image_ids(1, h_lat // 2, w_lat // 2, torch.device("cpu"), torch.float32)


def make_forward(a, model) -> dict:
    dt = DTYPES[a.dtype]
    h_lat, w_lat = a.height // VAE_SCALE_FACTOR, a.width // VAE_SCALE_FACTOR
    s_img = (a.height // 16) * (a.width // 16)
    g = torch.Generator().manual_seed(a.seed + 2000)
    t = {
        "hidden_states": torch.randn([1, s_img, 64], generator=g),
        "encoder_hidden_states": torch.randn([1, a.text_len, a.joint_dim], generator=g),
        "pooled_projections": torch.randn([1, a.pooled_dim], generator=g),
        # in (0, 1]: FluxPipeline passes t / 1000 with t = sigma * 1000
        "timestep": 0.05 + 0.95 * torch.rand([1], generator=g),
        "img_ids": image_ids(h_lat, w_lat),
        "txt_ids": torch.zeros([a.text_len, 3], dtype=torch.float32),  # as FluxPipeline.encode_prompt
    }
    if a.variant == "dev":
        t["guidance"] = torch.full([1], a.guidance, dtype=torch.float32)  # as FluxPipeline
    t = {k: v.to(dt) if k not in ("img_ids", "txt_ids", "guidance") else v for k, v in t.items()}
    with torch.no_grad():
        out = model(
            hidden_states=t["hidden_states"],
            encoder_hidden_states=t["encoder_hidden_states"],
            pooled_projections=t["pooled_projections"],
            timestep=t["timestep"],
            img_ids=t["img_ids"],
            txt_ids=t["txt_ids"],
            guidance=t.get("guidance"),
            return_dict=False,
        )[0]
    t["output"] = out
    return t


# --------------------------------------------------------------------------------------------
# sampling with diffusers' FluxPipeline


def make_pipeline(model) -> FluxPipeline:
    # FluxPipeline accepts vae/text encoders/tokenizers = None: vae_scale_factor falls back to 8,
    # tokenizer_max_length to 77, and with output_type="latent" the VAE is never touched.
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER_CONFIG),
        vae=None, text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None,
        transformer=model,
    )


def make_sampling_inputs(a) -> dict:
    dt = DTYPES[a.dtype]
    g = torch.Generator().manual_seed(a.seed + 3000)
    x = {
        "prompt_embeds": torch.randn([1, a.text_len, a.joint_dim], generator=g),
        "pooled_prompt_embeds": torch.randn([1, a.pooled_dim], generator=g),
    }
    if a.true_cfg_scale > 1:
        x["negative_prompt_embeds"] = torch.randn([1, a.text_len, a.joint_dim], generator=g)
        x["negative_pooled_prompt_embeds"] = torch.randn([1, a.pooled_dim], generator=g)
    x = {k: v.to(dt) for k, v in x.items()}
    h_lat, w_lat = a.height // VAE_SCALE_FACTOR, a.width // VAE_SCALE_FACTOR
    x["initial_noise"] = torch.randn([1, LATENT_CHANNELS, h_lat, w_lat],
                                     generator=torch.Generator().manual_seed(a.seed), dtype=torch.float32)
    return x


def run_pipeline(a, model, x) -> dict:
    pipe = make_pipeline(model)
    pipe.set_progress_bar_config(disable=True)
    h_lat, w_lat = a.height // VAE_SCALE_FACTOR, a.width // VAE_SCALE_FACTOR
    packed = FluxPipeline._pack_latents(x["initial_noise"].to(DTYPES[a.dtype]), 1, LATENT_CHANNELS, h_lat, w_lat)

    # Record what the pipeline actually hands to the transformer (timestep/guidance values).
    seen = {"timestep": [], "guidance": []}

    def pre_hook(_mod, _args, kwargs):
        seen["timestep"].append(kwargs["timestep"].detach().clone())
        if kwargs.get("guidance") is not None:
            seen["guidance"].append(kwargs["guidance"].detach().clone())

    handle = model.register_forward_pre_hook(pre_hook, with_kwargs=True)
    kw = dict(
        prompt_embeds=x["prompt_embeds"],
        pooled_prompt_embeds=x["pooled_prompt_embeds"],
        height=a.height,
        width=a.width,
        num_inference_steps=a.steps,
        guidance_scale=a.guidance,
        latents=packed,
        output_type="latent",
        return_dict=False,
    )
    if a.true_cfg_scale > 1:
        kw.update(negative_prompt_embeds=x["negative_prompt_embeds"],
                  negative_pooled_prompt_embeds=x["negative_pooled_prompt_embeds"],
                  true_cfg_scale=a.true_cfg_scale)
    try:
        with torch.no_grad():
            latents = pipe(**kw)[0]
    finally:
        handle.remove()

    sigmas = pipe.scheduler.sigmas.detach().clone().to(torch.float32)
    timesteps = pipe.scheduler.timesteps.detach().clone().to(torch.float32)
    assert sigmas.shape == (a.steps + 1,), sigmas.shape
    assert timesteps.shape == (a.steps,), timesteps.shape
    calls_per_step = 2 if a.true_cfg_scale > 1 else 1
    assert len(seen["timestep"]) == a.steps * calls_per_step
    final = FluxPipeline._unpack_latents(latents, a.height, a.width, vae_scale_factor=VAE_SCALE_FACTOR)
    return {
        "sigmas": sigmas,
        "timesteps": timesteps,
        # exactly what the transformer received each step: timesteps.to(latents.dtype) / 1000
        "transformer_timesteps": torch.cat(seen["timestep"][::calls_per_step]).to(torch.float32),
        "final_latents": final.to(torch.float32).contiguous(),
    }


def euler_by_hand(a, model, x, sigmas, timesteps) -> torch.Tensor:
    """Independent Euler loop: latents += (sigma_next - sigma) * v(latents, t)."""
    dt = DTYPES[a.dtype]
    h_lat, w_lat = a.height // VAE_SCALE_FACTOR, a.width // VAE_SCALE_FACTOR
    # the pipeline holds the latents in the model dtype (initial noise included)
    lat = FluxPipeline._pack_latents(x["initial_noise"], 1, LATENT_CHANNELS, h_lat, w_lat).to(dt).to(torch.float32)
    # FluxPipeline builds the ids in the model dtype (prompt_embeds.dtype / transformer.dtype)
    img_ids = image_ids(h_lat, w_lat).to(dt)
    txt_ids = torch.zeros([x["prompt_embeds"].shape[1], 3], dtype=dt)
    guidance = torch.full([1], a.guidance, dtype=torch.float32) if a.variant == "dev" else None

    def v(lat_in, t, pe, ppe):
        return model(hidden_states=lat_in, encoder_hidden_states=pe, pooled_projections=ppe,
                     timestep=t, img_ids=img_ids, txt_ids=txt_ids, guidance=guidance,
                     return_dict=False)[0]

    with torch.no_grad():
        for i in range(a.steps):
            lat_in = lat.to(dt)
            t = (timesteps[i:i + 1].to(dt)) / 1000
            pred = v(lat_in, t, x["prompt_embeds"], x["pooled_prompt_embeds"])
            if a.true_cfg_scale > 1:
                neg = v(lat_in, t, x["negative_prompt_embeds"], x["negative_pooled_prompt_embeds"])
                pred = neg + a.true_cfg_scale * (pred - neg)
            # Like FlowMatchEulerDiscreteScheduler.step: sample upcast to float32, but the 0-dim
            # float32 dt times the model output stays in the model dtype; the result is cast back
            # to the model dtype every step (all no-ops for float32).
            lat = (lat + (sigmas[i + 1] - sigmas[i]) * pred).to(dt).to(torch.float32)
    return FluxPipeline._unpack_latents(lat, a.height, a.width, vae_scale_factor=VAE_SCALE_FACTOR)


# --------------------------------------------------------------------------------------------
# output files


def write_prompts_h5(path: Path, x: dict):
    with h5py.File(path, "w") as f:
        for k in ("prompt_embeds", "pooled_prompt_embeds", "negative_prompt_embeds",
                  "negative_pooled_prompt_embeds", "initial_noise"):
            if k in x:
                f.create_dataset(k, data=x[k].to(torch.float32).numpy())
        f.create_dataset("prompts", data=["reference prompt"], dtype=h5py.string_dtype("utf-8"))


_ST_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64"}


def save_safetensors(path: Path, tensors: dict, metadata: dict):
    """Byte-for-byte deterministic safetensors writer.

    safetensors.torch.save_file serialises the string metadata from a Rust HashMap, so its order
    (and the file's bytes) changes from run to run; here keys are sorted. Same format: u64-LE header
    length, JSON header (space-padded to 8 bytes), then the little-endian tensor data.
    """
    header = {"__metadata__": {str(k): str(v) for k, v in sorted(metadata.items())}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""  # CPU tensors are little-endian
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    hjson += b" " * (-len(hjson) % 8)
    with open(path, "wb") as f:
        f.write(len(hjson).to_bytes(8, "little"))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)
    back = load_file(str(path))  # round-trip through the official reader
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors), path


def main(argv=None) -> int:
    a = parse_args(argv)
    t0 = time.perf_counter()
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)

    model = build_model(a)
    total_bytes, n_shards = save_model(model, out)

    fwd = make_forward(a, model)
    meta = {"variant": a.variant, "seed": str(a.seed), "dtype": a.dtype,
            "height": str(a.height), "width": str(a.width)}
    save_safetensors(out / "forward.safetensors", fwd, meta)

    x = make_sampling_inputs(a)
    res = run_pipeline(a, model, x)
    sampling = {**x, **res}
    smeta = {
        "height": str(a.height), "width": str(a.width), "steps": str(a.steps),
        "guidance": repr(float(a.guidance)), "true_cfg_scale": repr(float(a.true_cfg_scale)),
        "seed": str(a.seed), "variant": a.variant, "dtype": a.dtype,
        "weight_std": "1/sqrt(fan_in)" if a.weight_std is None else repr(a.weight_std),
        "scheduler_config": json.dumps(FLUX_SCHEDULER_CONFIG, sort_keys=True),
    }
    save_safetensors(out / "sampling.safetensors", sampling, smeta)
    write_prompts_h5(out / "prompts.h5", x)

    check = ""
    if a.self_check:
        tol = 1e-5 if a.dtype == "float32" else 2e-2
        ref = euler_by_hand(a, model, x, res["sigmas"], res["timesteps"])
        err = (ref - res["final_latents"]).abs().max().item()
        # guard against a schedule that does nothing
        moved = (res["final_latents"] - x["initial_noise"]).abs().max().item()
        if not err <= tol:
            print(f"SELF-CHECK FAILED: max|euler - pipeline| = {err:.3e} > {tol:g}", file=sys.stderr)
            return 1
        assert moved > 1e-3, f"sampling barely moved the latents ({moved})"
        # the recorded timesteps / 1000 are what the transformer saw
        assert torch.equal(res["transformer_timesteps"], (res["timesteps"].to(DTYPES[a.dtype]) / 1000).float())
        check = f" self-check OK (max|euler-pipeline|={err:.2e}, max|final-noise|={moved:.3f})"

    dt_s = time.perf_counter() - t0
    print(f"[make_flux_reference] {a.variant} {a.height}x{a.width} steps={a.steps} cfg={a.true_cfg_scale} "
          f"-> {out}/{{transformer/ ({total_bytes} B), transformer-sharded/ ({n_shards} shards), "
          f"forward.safetensors, sampling.safetensors, prompts.h5}} "
          f"max|output|={fwd['output'].abs().max().item():.4f} "
          f"max|final_latents|={res['final_latents'].abs().max().item():.4f}{check} ({dt_s:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
