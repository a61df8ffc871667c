// The output file read by tools that share no code with pardit: h5py and h5dump. This pins the
// schema documented in docs/output-format.md (names, shapes, dtypes, attributes).
#include "pardit/io/output_file.hpp"
#include "test_util.hpp"

#include "output_fixture.hpp"

namespace pardit::io {
namespace {
using test::TempDir;
using ::testing::HasSubstr;

TEST(OutputFileIndependentReader, H5pySeesTheDocumentedSchema) {
  TempDir dir;
  auto file = dir / "out.h5";
  write_output(file, test::sample_output(), false);
  EXPECT_EQ(test::run_python(dir, R"(
import h5py, numpy as np, sys
f = h5py.File(")" + file.string() + R"(", "r")
def check(cond, what):
    if not cond:
        print("FAILED:", what); sys.exit(1)
a = f.attrs
for k in ["pardit_version", "git_revision", "created_utc", "command_line", "config", "model", "dtype", "device",
          "conditioning"]:
    check(isinstance(a[k], str), f"attribute {k} is a str: {a[k]!r}")
check(a["model"] == "flux-tiny", "model attr")
check(a["config"] == '[model]\nname = "flux-tiny"\n', "config attr")
check(int(a["world_size"]) == 2 and a["world_size"].dtype == np.int64, "world_size")
check(int(a["complete"]) == 1, "complete")
check(int(a["format_version"]) == 1, "format_version")

def ds(name, shape, dtype):
    check(name in f, f"{name} present")
    check(f[name].shape == shape, f"{name} shape {f[name].shape} != {shape}")
    check(f[name].dtype == np.dtype(dtype), f"{name} dtype {f[name].dtype} != {dtype}")
ds("latents", (3, 16, 4, 6), "float32")
ds("prompt_index", (3,), "int64")
ds("seeds", (3,), "int64")
ds("timings/step_seconds", (2, 3, 4), "float64")
ds("timings/time_to_first_step_seconds", (2,), "float64")
ds("timings/peak_memory_bytes", (2,), "int64")
ds("timings/compute_seconds_f32", (2,), "float32")
ds("timings/steps_done", (2,), "int32")
ds("topology/local_rank", (2,), "int64")
ds("topology/mesh_coords", (2, 5), "int64")
ds("comm/cfg_bytes", (2,), "int64")
ds("comm/cfg_seconds", (2,), "float64")
check(np.allclose(f["latents"][1, 0, 0, :2], np.array([384, 385]) / 7), "latents values")
check(list(f["seeds"][:]) == [42, 43, 44], "seeds values")
check(f["topology/mesh_coords"].attrs["axes"] == "dp,cfg,pipefusion,ring,ulysses", "mesh axes")
check(f["topology/mesh_coords"][1].tolist() == [0, 1, 0, 0, 0], "mesh coords")
check(h5py.check_string_dtype(f["prompts"].dtype) is not None, "prompts are strings")
check([s.decode() for s in f["prompts"][:]] == ["a cat", "a dog", "ünïcode ✓"], "prompts values")
check([s.decode() for s in f["topology/node_name"][:]] == ["node-a", "node-a"], "node_name")
check([s.decode() for s in f["topology/gpu"][:]] == ["cpu", "cpu"], "gpu")
check(sorted(f.keys()) == ["comm", "latents", "prompt_index", "prompts", "seeds", "timings", "topology"],
      f"top-level keys {sorted(f.keys())}")
print("h5py check ok")
)"), 0);
}

TEST(OutputFileIndependentReader, H5dumpHeader) {
  TempDir dir;
  auto file = dir / "out.h5";
  write_output(file, test::sample_output(), false);
  std::string header = test::run_capture("h5dump -H " + file.string());
  EXPECT_THAT(header, HasSubstr("DATASET \"latents\""));
  EXPECT_THAT(header, HasSubstr("H5T_IEEE_F32LE"));
  EXPECT_THAT(header, HasSubstr("( 3, 16, 4, 6 )"));
  EXPECT_THAT(header, HasSubstr("GROUP \"timings\""));
  EXPECT_THAT(header, HasSubstr("DATASET \"step_seconds\""));
  EXPECT_THAT(header, HasSubstr("( 2, 3, 4 )"));
  EXPECT_THAT(header, HasSubstr("GROUP \"topology\""));
  EXPECT_THAT(header, HasSubstr("DATASET \"mesh_coords\""));
  EXPECT_THAT(header, HasSubstr("ATTRIBUTE \"axes\""));
  EXPECT_THAT(header, HasSubstr("ATTRIBUTE \"complete\""));
  EXPECT_THAT(header, HasSubstr("H5T_STD_I64LE"));
  EXPECT_THAT(header, HasSubstr("ATTRIBUTE \"pardit_version\""));
}

}  // namespace
}  // namespace pardit::io
