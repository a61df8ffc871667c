#!/usr/bin/env python3
"""Does cutting a GEMM's rows into blocks change its rate?

Flux's single blocks multiply S_txt + S_img rows (4608 at 1024^2, 16896 at 2048^2; half per rank
on Ulysses-2), the double blocks' image stream S_img rows (4096, 16384). A traced step showed the
single blocks' products 8-12% slower than the double blocks' on the same weights. This times each
product of the single blocks as one cuBLASLt call and as consecutive calls over row blocks (the
split at the text/image boundary among them), with the epilogues pardit uses: bias, bias + GELU
(tanh), and accumulation into the output (beta = 1). One GPU, bf16, CUDA events around --iters
repetitions after --warmup. Prints a '#'-headed table; --json appends one object per case.
"""
import argparse
import json

import torch

aten = torch.ops.aten


def splits(m, txt):
    """Row-block patterns for m rows whose first `txt` rows are text."""
    out = {"whole": [m], "text|image": [txt, m - txt], "image|text": [m - txt, txt]}
    for block in (1024, 2048, 4096):
        if m > block:
            out[f"{block}s+rest"] = [block] * (m // block) + ([m % block] if m % block else [])
    out["halves"] = [m // 2, m - m // 2]
    return out


def product(kind, x, w, bias, out):
    if kind == "bias":
        torch.addmm(bias, x, w.t(), out=out)
    elif kind == "gelu":  # GELU(tanh) in cuBLASLt's epilogue, as pardit's linear_gelu_tanh
        aten._addmm_activation.out(bias, x, w.t(), use_gelu=True, out=out)
    elif kind == "accumulate":
        out.addmm_(x, w.t())
    else:
        raise ValueError(kind)


def time_case(kind, m, k, n, blocks, iters, warmup, dev):
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(m, k, device=dev, dtype=torch.bfloat16, generator=g)
    w = torch.randn(n, k, device=dev, dtype=torch.bfloat16, generator=g) / k**0.5
    bias = torch.randn(n, device=dev, dtype=torch.bfloat16, generator=g)
    out = torch.zeros(m, n, device=dev, dtype=torch.bfloat16)

    def run():
        row = 0
        for b in blocks:
            product(kind, x[row:row + b], w, bias, out[row:row + b])
            row += b

    for _ in range(warmup):
        run()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        run()
    stop.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(stop) / iters
    return ms, 2.0 * m * k * n / (ms * 1e-3) / 1e12


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json", help="append one JSON object per case to this file")
    args = ap.parse_args()
    dev = torch.device("cuda")
    # (name, rows, text rows): one GPU and Ulysses-2 ranks at 1024^2 and 2048^2.
    row_sets = [("1gpu-1024", 4608, 512), ("u2-1024", 2304, 256), ("1gpu-2048", 16896, 512), ("u2-2048", 8448, 256)]
    # The single block's products: q/k/v, the MLP's first product with GELU, proj_out's two halves.
    products = [("qkv", "bias", 3072, 9216), ("mlp", "gelu", 3072, 12288), ("proj_out.mlp", "bias", 12288, 3072),
                ("proj_out.attn", "accumulate", 3072, 3072)]
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, bf16, {args.iters} iterations")
    print(f"# {'rows':10s} {'product':14s} {'split':12s} {'ms':>8s} {'TFLOP/s':>8s} {'vs whole':>8s}")
    for rows_name, m, txt in row_sets:
        for pname, kind, k, n in products:
            whole = None
            for sname, blocks in splits(m, txt).items():
                ms, tflops = time_case(kind, m, k, n, blocks, args.iters, args.warmup, dev)
                whole = whole or ms
                print(f"  {rows_name:10s} {pname:14s} {sname:12s} {ms:8.4f} {tflops:8.1f} {whole / ms:8.3f}x")
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps({"rows": rows_name, "m": m, "k": k, "n": n, "product": pname,
                                            "split": sname, "blocks": blocks, "ms": ms, "tflops": tflops,
                                            "gpu": torch.cuda.get_device_name()}) + "\n")


if __name__ == "__main__":
    main()
