// Weights round trip: a tiny random diffusers Flux (tests/reference/make_flux_reference.py)
// sampled by FluxPipeline, then by `pardit run` from the same weights, prompt embeddings and
// initial noise; the final latents must agree.
#include "e2e_support.hpp"

namespace pardit::e2e {
namespace {

TEST(Weights, DiffusersFolderReproducesFluxPipeline) {
  PARDIT_REQUIRE_PYTHON("torch, diffusers, safetensors, h5py, numpy");
  TempDir dir;
  const fs::path ref = dir / "ref";
  const auto script = pardit::test::source_dir() / "tests" / "reference" / "make_flux_reference.py";
  // make_flux_reference's defaults: dev variant, 64x96, 3 steps, guidance 3.5, float32.
  auto gen = run_command("python3 " + shell_quote(script.string()) + " --out " + shell_quote(ref.string()) +
                         " --seed 0");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  ASSERT_TRUE(fs::exists(ref / "transformer" / "config.json")) << gen.output;

  auto run = run_pardit("run --weights " + shell_quote((ref / "transformer").string()) + " --prompts " +
                            shell_quote((ref / "prompts.h5").string()) +
                            " --height 64 --width 96 --steps 3 --guidance 3.5 --dtype fp32 --out out.h5",
                        dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;

  auto cmp = pardit::test::run_python(dir.path(), R"PY(
import sys, h5py, numpy as np
from safetensors.numpy import load_file
ref = load_file(sys.argv[2])["final_latents"]
with h5py.File(sys.argv[1], "r") as f:
    got = f["latents"][:]
    assert int(f.attrs["complete"]) == 1
    assert f.attrs["conditioning"] != "synthetic", f.attrs["conditioning"]
assert got.shape == ref.shape, (got.shape, ref.shape)
err = float(np.abs(got - ref).max())
scale = float(np.abs(ref).max())
print("max |pardit - diffusers| = %.3g (max |ref| %.3g)" % (err, scale))
assert np.allclose(got, ref, rtol=0, atol=2e-4), "max abs error %g > 2e-4" % err
# The comparison can fail: the run moved the latents away from the initial noise.
noise = load_file(sys.argv[2])["initial_noise"]
assert float(np.abs(ref - noise).max()) > 1e-2
print("ROUND TRIP OK")
)PY", shell_quote((dir / "out.h5").string()) + " " + shell_quote((ref / "sampling.safetensors").string()));
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
  EXPECT_TRUE(contains(cmp.output, "ROUND TRIP OK")) << cmp.output;
}

}  // namespace
}  // namespace pardit::e2e
