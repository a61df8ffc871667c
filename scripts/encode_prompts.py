#!/usr/bin/env python3
"""Encode text prompts with Flux's text encoders (CLIP-L + T5-XXL) into a pardit prompt file.

pardit runs no text encoder itself; it reads prompt embeddings from an HDF5 file:

  /prompt_embeds                  float32 [P, L, 4096]   T5 last hidden state (L = --max-sequence-length)
  /pooled_prompt_embeds           float32 [P, 768]       CLIP pooled output
  /negative_prompt_embeds         float32 [P, L, 4096]   only with --negative-prompts
  /negative_pooled_prompt_embeds  float32 [P, 768]       only with --negative-prompts
  /prompts                        vlen utf-8 strings [P]

The embeddings are exactly what diffusers' FluxPipeline.encode_prompt() returns (and what
FluxPipeline.__call__ would feed to the transformer). Example:

  python3 scripts/encode_prompts.py --model /models/FLUX.1-dev --prompts prompts.txt --out prompts.h5

Requires torch, diffusers, transformers (+ sentencepiece/protobuf for the T5 tokenizer), h5py and a
local diffusers-format Flux folder (model_index.json, text_encoder/, text_encoder_2/, tokenizer/,
tokenizer_2/, ...). Nothing is downloaded unless --model is a Hub id and the network allows it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DTYPES = ("bfloat16", "float16", "float32")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Encode prompts with a Flux pipeline's CLIP + T5 text encoders (via diffusers "
        "FluxPipeline.encode_prompt) and write them to an HDF5 prompt file for pardit.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True,
                   help="diffusers-format Flux pipeline folder (the one containing model_index.json, "
                   "text_encoder/, text_encoder_2/, tokenizer/, tokenizer_2/); only the text encoders "
                   "and tokenizers are loaded")
    p.add_argument("--prompts", required=True, type=Path,
                   help="UTF-8 text file, one prompt per line (blank lines are skipped)")
    p.add_argument("--prompts-2", type=Path, default=None,
                   help="optional second file (same number of lines) with the prompts for T5; "
                   "default: the same prompts go to CLIP and T5, as in FluxPipeline")
    p.add_argument("--negative-prompts", type=Path, default=None,
                   help="UTF-8 text file with negative prompts for true CFG (pardit's true_cfg_scale > 1): "
                   "either one line (used for every prompt) or one line per prompt; a blank line is an "
                   "empty negative prompt")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file (overwritten)")
    p.add_argument("--max-sequence-length", type=int, default=512,
                   help="T5 token length L (prompts are padded/truncated to it; at most 512; "
                   "FLUX.1-schnell was trained with 256)")
    p.add_argument("--device", default=None, help="torch device for the encoders (default: cuda if available, else cpu)")
    p.add_argument("--dtype", choices=DTYPES, default="bfloat16",
                   help="dtype the text encoders run in; the file always stores float32")
    p.add_argument("--batch-size", type=int, default=8, help="prompts encoded per encoder call")
    a = p.parse_args(argv)
    if not 1 <= a.max_sequence_length <= 512:
        p.error("--max-sequence-length must be in [1, 512] (FluxPipeline's limit)")
    if a.batch_size < 1:
        p.error("--batch-size must be >= 1")
    return a


def read_lines(path: Path, keep_blank: bool) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if keep_blank:
        # drop only trailing blank lines (e.g. a final newline)
        while lines and not lines[-1].strip():
            lines.pop()
        return [ln.strip() for ln in lines]
    return [ln.strip() for ln in lines if ln.strip()]


def main(argv=None) -> int:
    a = parse_args(argv)

    prompts = read_lines(a.prompts, keep_blank=False)
    if not prompts:
        sys.exit(f"error: no prompts in {a.prompts}")
    prompts_2 = None
    if a.prompts_2 is not None:
        prompts_2 = read_lines(a.prompts_2, keep_blank=False)
        if len(prompts_2) != len(prompts):
            sys.exit(f"error: {a.prompts_2} has {len(prompts_2)} prompts, {a.prompts} has {len(prompts)}")
    negatives = None
    if a.negative_prompts is not None:
        negatives = read_lines(a.negative_prompts, keep_blank=True)
        if len(negatives) == 1:
            negatives = negatives * len(prompts)
        if len(negatives) != len(prompts):
            sys.exit(f"error: {a.negative_prompts} needs 1 or {len(prompts)} lines, has {len(negatives)}")

    import h5py
    import torch
    from diffusers import FluxPipeline

    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, a.dtype)

    # transformer=None, vae=None: load only the text encoders + tokenizers (+ scheduler config).
    pipe = FluxPipeline.from_pretrained(a.model, transformer=None, vae=None, torch_dtype=dtype)
    pipe.text_encoder.to(device)
    pipe.text_encoder_2.to(device)

    def encode(texts: list[str], texts_2: list[str] | None):
        embeds, pooled = [], []
        for i in range(0, len(texts), a.batch_size):
            with torch.no_grad():
                pe, ppe, _text_ids = pipe.encode_prompt(
                    prompt=texts[i:i + a.batch_size],
                    prompt_2=None if texts_2 is None else texts_2[i:i + a.batch_size],
                    device=device,
                    num_images_per_prompt=1,
                    max_sequence_length=a.max_sequence_length,
                )
            embeds.append(pe.float().cpu())
            pooled.append(ppe.float().cpu())
        return torch.cat(embeds).numpy(), torch.cat(pooled).numpy()

    pe, ppe = encode(prompts, prompts_2)
    # FluxPipeline encodes the negative prompt for both encoders (negative_prompt_2 defaults to it).
    neg = encode(negatives, None) if negatives is not None else None

    a.out.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(a.out, "w") as f:
        f.create_dataset("prompt_embeds", data=pe)
        f.create_dataset("pooled_prompt_embeds", data=ppe)
        if neg is not None:
            f.create_dataset("negative_prompt_embeds", data=neg[0])
            f.create_dataset("negative_pooled_prompt_embeds", data=neg[1])
        f.create_dataset("prompts", data=prompts, dtype=h5py.string_dtype("utf-8"))

    print(f"[encode_prompts] {len(prompts)} prompt(s) -> {a.out}: prompt_embeds {list(pe.shape)}, "
          f"pooled_prompt_embeds {list(ppe.shape)}" + (", with negatives" if neg is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
