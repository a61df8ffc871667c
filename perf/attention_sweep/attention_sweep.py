#!/usr/bin/env python3
"""Times the attention kernels LibTorch offers on Flux's shapes, per memory layout.

Answers: does cuDNN's rate depend on how q/k/v lie in memory (pardit's packed [B,S,3,H,D]
buffer against contiguous [B,S,H,D] or [B,H,S,D] tensors), and is another backend faster?
One GPU, bf16, CUDA events around --iters launches after --warmup; FLOP = 4*B*H*S^2*D.
Prints a '#'-headed table; --json appends one object per case.
"""
import argparse
import json
import sys

import torch

aten = torch.ops.aten


def make_inputs(layout, b, s, h, d, dev):
    g = torch.Generator(device=dev).manual_seed(0)
    if layout == "packed":  # pardit's fused q/k/v buffer: [B, S, 3, H, D]
        buf = torch.randn(b, s, 3, h, d, device=dev, dtype=torch.bfloat16, generator=g)
        return [buf[:, :, i].transpose(1, 2) for i in range(3)]
    if layout == "bshd":
        return [torch.randn(b, s, h, d, device=dev, dtype=torch.bfloat16, generator=g).transpose(1, 2)
                for _ in range(3)]
    if layout == "bhsd":
        return [torch.randn(b, h, s, d, device=dev, dtype=torch.bfloat16, generator=g) for _ in range(3)]
    raise ValueError(layout)


BACKENDS = {
    "cudnn": lambda q, k, v: aten._scaled_dot_product_cudnn_attention(q, k, v, None, False)[0],
    "flash": lambda q, k, v: aten._scaled_dot_product_flash_attention(q, k, v)[0],
    "efficient": lambda q, k, v: aten._scaled_dot_product_efficient_attention(q, k, v, None, False)[0],
}


def time_ms(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / iters


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="4608x24,4608x12,16896x24,16896x12",
                   help="comma-separated SxH (batch 1, head size --head-dim)")
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--layouts", default="packed,bshd,bhsd")
    p.add_argument("--backends", default="cudnn,flash,efficient")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json", help="append one JSON object per case")
    a = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("attention_sweep: no CUDA device")
    dev = torch.device("cuda")
    meta = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "cudnn": torch.backends.cudnn.version()}
    print(f"# {meta}")
    # The machine's bf16 GEMM rate on a large square product, as the yardstick for attention.
    x = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    gemm_ms = time_ms(lambda: x @ x, a.iters, a.warmup)
    print(f"# bf16 GEMM 8192^3: {gemm_ms:.3f} ms, {2 * 8192**3 / gemm_ms / 1e9:.0f} TFLOP/s")
    del x
    print(f"# {'S':>6} {'H':>3} {'layout':>7} {'backend':>10} {'ms':>9} {'TFLOP/s':>8}")
    rows = []
    for shape in a.shapes.split(","):
        s, h = (int(t) for t in shape.split("x"))
        for layout in a.layouts.split(","):
            q, k, v = make_inputs(layout, 1, s, h, a.head_dim, dev)
            ref = None
            for backend in a.backends.split(","):
                fn = BACKENDS[backend]
                try:
                    out = fn(q, k, v)
                except RuntimeError as e:
                    print(f"  {s:>6} {h:>3} {layout:>7} {backend:>10}  not available: {str(e).splitlines()[0][:80]}")
                    continue
                ref = out if ref is None else ref
                err = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
                ms = time_ms(lambda: fn(q, k, v), a.iters, a.warmup)
                tflops = 4 * h * s * s * a.head_dim / ms / 1e9
                print(f"  {s:>6} {h:>3} {layout:>7} {backend:>10} {ms:>9.3f} {tflops:>8.1f}   rel.L2 vs first {err:.1e}")
                rows.append(dict(meta, seq=s, heads=h, head_dim=a.head_dim, layout=layout, backend=backend,
                                 ms=round(ms, 4), tflops=round(tflops, 1), gemm_tflops=round(2 * 8192**3 / gemm_ms / 1e9, 1)))
            del q, k, v
    if a.json:
        with open(a.json, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
