#!/usr/bin/env python3
"""perf/profile_summary.py on a synthetic GPU trace with known answers, and, when PARDIT is set
(the pardit binary), PARDIT_PROFILE on a CPU run: the trace is written, is valid Chrome-trace JSON
holding the step's LibTorch ops with their input shapes, and bad settings are refused (exit 2)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "perf"))
import profile_summary  # noqa: E402


def kernel(name, ts, dur, ext, stream=7):
    return {"ph": "X", "cat": "kernel", "name": name, "ts": ts, "dur": dur,
            "args": {"External id": ext, "stream": stream}}


def op(name, ext, dims):
    return {"ph": "X", "cat": "cpu_op", "name": name, "ts": 0, "dur": 1,
            "args": {"External id": ext, "Input Dims": dims}}


class SyntheticTrace(unittest.TestCase):
    def setUp(self):
        m, n, k = 4096, 3072, 3072
        self.trace = {"traceEvents": [
            op("aten::addmm", 1, [[n], [m, k], [k, n], [], []]),
            kernel("nvjet_tst_192x192_64x4_2x1_v_bz_coopB_TNN", 0, 100, 1),           # gemm 0..100 us
            kernel("ncclDevKernel_SendRecv(ncclDevKernelArgsStorage<4096ul>)", 50, 100, 2, stream=9),  # 50..150
            kernel("void at::native::vectorized_elementwise_kernel<4>", 200, 20, 3),  # after a 50 us gap
            op("aten::_scaled_dot_product_cudnn_attention", 4, [[1, 24, 4608, 128], [1, 24, 4608, 128]]),
            kernel("cudnn_generated_fort_native_sdpa_sm90_flash_fprop", 220, 80, 4),  # 220..300
        ]}
        self.s = profile_summary.summarize(self.trace)

    def test_window_busy_idle(self):
        self.assertAlmostEqual(self.s["window_ms"], 0.300)
        self.assertAlmostEqual(self.s["busy_ms"], 0.250)
        self.assertAlmostEqual(self.s["idle_ms"], 0.050)

    def test_categories(self):
        c = self.s["categories"]
        self.assertEqual(set(c), {"gemm", "nccl", "elementwise", "attention"})
        self.assertAlmostEqual(c["gemm"]["ms"], 0.1)
        self.assertAlmostEqual(c["attention"]["ms"], 0.08)

    def test_nccl_overlap(self):
        self.assertAlmostEqual(self.s["nccl"]["ms"], 0.1)
        self.assertAlmostEqual(self.s["nccl"]["overlapped_ms"], 0.05)
        self.assertAlmostEqual(self.s["nccl"]["exposed_ms"], 0.05)

    def test_rates(self):
        rows = {r["op"]: r for r in self.s["top_ops"]}
        # 2*4096*3072*3072 FLOP in 100 us
        self.assertAlmostEqual(rows["aten::addmm"]["tflops"], 2 * 4096 * 3072 * 3072 / 100e-6 / 1e12, delta=0.1)
        att = 4 * 24 * 4608 * 4608 * 128 / 80e-6 / 1e12
        self.assertAlmostEqual(rows["aten::_scaled_dot_product_cudnn_attention"]["tflops"], att, delta=0.1)


class RankComparison(unittest.TestCase):
    def test_waiting_and_moving(self):
        nccl = "ncclDevKernel_SendRecv(ncclDevKernelArgsStorage<4096ul>)"
        # Exchange 1: rank 0 starts at 100, rank 1 at 130, both end at 160 -> rank 0 waits 30, moves 30.
        # Exchange 2: rank 1 starts first (300), rank 0 at 310, both end at 330.
        r0 = {"traceEvents": [kernel("gemm_a", 0, 100, 1), kernel(nccl, 100, 60, 2, 9), kernel(nccl, 310, 20, 3, 9)]}
        r1 = {"traceEvents": [kernel(nccl, 130, 30, 2, 9), kernel("gemm_b", 200, 90, 4), kernel(nccl, 300, 30, 3, 9)]}
        c = profile_summary.compare_ranks([r0, r1])
        self.assertEqual(c["matched"], 2)
        a, b = c["ranks"]
        self.assertAlmostEqual(a["nccl_ms"], 0.080)
        self.assertAlmostEqual(a["waiting_ms"], 0.030)
        self.assertAlmostEqual(a["moving_ms"], 0.050)
        self.assertAlmostEqual(b["waiting_ms"], 0.010)
        self.assertAlmostEqual(b["moving_ms"], 0.050)
        self.assertEqual((a["last"], b["last"]), (1, 1))


@unittest.skipUnless(os.environ.get("PARDIT"), "PARDIT (the pardit binary) not set")
class CpuRunTrace(unittest.TestCase):
    def run_pardit(self, tmp, **env):
        config = os.path.join(HERE, "..", "..", "configs", "runs", "default.toml")
        return subprocess.run([os.environ["PARDIT"], "run", "--config", config, "--steps", "3",
                               "--out", os.path.join(tmp, "out.h5"), "--overwrite"],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=300)

    def test_trace_written_and_readable(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = self.run_pardit(tmp, PARDIT_PROFILE=os.path.join(tmp, "trace"), PARDIT_PROFILE_STEP="2")
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            with open(os.path.join(tmp, "trace.rank0.json")) as f:
                trace = json.load(f)
            ops = [e for e in trace["traceEvents"] if e.get("cat") == "cpu_op"]
            mm = [e for e in ops if e["name"] in ("aten::addmm", "aten::linear")]
            self.assertTrue(mm, "no matrix product recorded in the traced step")
            self.assertIn("Input Dims", mm[0]["args"])
            self.assertEqual(profile_summary.summarize(trace)["kernels"], 0)  # CPU run: no kernels

    def test_host_ops_left_out(self):
        # PARDIT_PROFILE_HOST=0: no host operations with input shapes (a CUDA build records GPU
        # activity only; a CPU-only build keeps the host's ops, without shapes).
        with tempfile.TemporaryDirectory() as tmp:
            r = self.run_pardit(tmp, PARDIT_PROFILE=os.path.join(tmp, "trace"), PARDIT_PROFILE_STEP="2",
                                PARDIT_PROFILE_HOST="0")
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            with open(os.path.join(tmp, "trace.rank0.json")) as f:
                trace = json.load(f)
            ops = [e for e in trace["traceEvents"] if e.get("cat") == "cpu_op"]
            self.assertFalse([e for e in ops if "Input Dims" in e.get("args", {})], "input shapes recorded")

    def test_bad_settings_refused_before_work(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = self.run_pardit(tmp, PARDIT_PROFILE=os.path.join(tmp, "trace"), PARDIT_PROFILE_STEP="3")
            self.assertEqual(r.returncode, 2)
            self.assertIn("PARDIT_PROFILE_STEP=3", r.stderr)
            r = self.run_pardit(tmp, PARDIT_PROFILE=os.path.join(tmp, "missing", "trace"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("create its folder", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "out.h5")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
