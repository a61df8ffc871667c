// Bad input: every case exits with code 2, says what is wrong, and leaves no output file.
#include "e2e_support.hpp"

namespace pardit::e2e {
namespace {

// A small valid job; each test breaks one thing.
constexpr const char* kSmall = "run --model flux-tiny --height 32 --width 32 --steps 1 --num-prompts 1";

// Inputs live in `in`; the output goes to `out`, which must stay empty after a refused run.
class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    inputs_ = new TempDir("pardit-e2e-inputs");
    // Weights of a different tiny Flux (diffusers keys, other shapes) and a prompt file without
    // /prompt_embeds, made with python3 (torch + safetensors + h5py).
    if (!pardit::test::python_has("torch, safetensors, h5py, numpy")) return;
    auto r = pardit::test::run_python(inputs_->path(), R"PY(
import sys, os, torch, h5py, numpy as np
from safetensors.torch import save_file
d = sys.argv[1]
torch.manual_seed(0)
# A diffusers-named Flux with heads=2, head_dim=16 (flux-tiny has 4 x 32): every shape differs.
names = {}
def lin(prefix, i, o):
    names[prefix + ".weight"] = torch.randn(o, i)
    names[prefix + ".bias"] = torch.randn(o)
dim = 32
lin("x_embedder", 64, dim); lin("context_embedder", 32, dim); lin("proj_out", dim, 64)
lin("time_text_embed.timestep_embedder.linear_1", 256, dim)
lin("time_text_embed.timestep_embedder.linear_2", dim, dim)
lin("norm_out.linear", dim, 2 * dim)
save_file(names, os.path.join(d, "other.safetensors"))
raw = open(os.path.join(d, "other.safetensors"), "rb").read()
open(os.path.join(d, "truncated.safetensors"), "wb").write(raw[: len(raw) // 2])
open(os.path.join(d, "corrupt.safetensors"), "wb").write(np.random.default_rng(1).bytes(4096))
with h5py.File(os.path.join(d, "no-embeds.h5"), "w") as f:
    f["pooled_prompt_embeds"] = np.zeros((2, 32), np.float32)
    f["prompts"] = [b"a cat", b"a dog"]
print("INPUTS OK")
)PY", shell_quote(inputs_->path().string()));
    made_ = r.exit_code == 0 && contains(r.output, "INPUTS OK");
    if (!made_) std::fprintf(stderr, "making the inputs failed:\n%s\n", r.output.c_str());
  }
  static void TearDownTestSuite() { delete inputs_; }

  void SetUp() override { out_ = std::make_unique<TempDir>("pardit-e2e-out"); }

  // Runs `args` with --out in the empty output folder; expects exit 2, every needle in the
  // message, and the folder still empty.
  void expect_refused(const std::string& args, std::initializer_list<std::string> needles,
                      const std::string& out_name = "out.h5") {
    auto r = run_pardit(args + " --out " + shell_quote((*out_ / out_name).string()), inputs_->path());
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    for (const auto& n : needles) EXPECT_TRUE(contains(r.output, n)) << "expected '" << n << "' in:\n" << r.output;
    EXPECT_TRUE(list_dir(out_->path()).empty()) << "left behind: " << joined(list_dir(out_->path()));
  }
  fs::path in(const std::string& name) const { return *inputs_ / name; }

  static inline TempDir* inputs_ = nullptr;
  static inline bool made_ = false;
  std::unique_ptr<TempDir> out_;
};

TEST_F(BadInput, UnknownModel) {
  expect_refused("run --model flux-pro --height 32 --width 32 --steps 1",
                 {"flux-pro", "flux-dev", "flux-schnell", "flux-tiny"});
}

TEST_F(BadInput, HeightNotMultipleOf16) {
  expect_refused("run --model flux-tiny --height 100 --width 32 --steps 1", {"100", "multiples of 16", "96"});
}

TEST_F(BadInput, CorruptWeights) {
  if (!made_) GTEST_SKIP() << "inputs not made (python3 modules missing)";
  expect_refused(std::string(kSmall) + " --weights " + shell_quote(in("corrupt.safetensors").string()),
                 {"corrupt.safetensors"});
}

TEST_F(BadInput, TruncatedWeights) {
  if (!made_) GTEST_SKIP() << "inputs not made (python3 modules missing)";
  expect_refused(std::string(kSmall) + " --weights " + shell_quote(in("truncated.safetensors").string()),
                 {"truncated.safetensors"});
}

TEST_F(BadInput, MismatchedWeights) {
  if (!made_) GTEST_SKIP() << "inputs not made (python3 modules missing)";
  // Names the model and at least one offending tensor.
  expect_refused(std::string(kSmall) + " --weights " + shell_quote(in("other.safetensors").string()),
                 {"do not match", "flux-tiny", "wrong shape", "x_embedder.weight"});
}

TEST_F(BadInput, MissingWeightsFile) {
  expect_refused(std::string(kSmall) + " --weights " + shell_quote(in("nothere.safetensors").string()),
                 {"nothere.safetensors", "does not exist"});
}

TEST_F(BadInput, PromptsFileMissingDatasets) {
  if (!made_) GTEST_SKIP() << "inputs not made (python3 modules missing)";
  expect_refused(std::string(kSmall) + " --prompts " + shell_quote(in("no-embeds.h5").string()),
                 {"no-embeds.h5", "prompt_embeds"});
}

TEST_F(BadInput, PromptsFileNotHdf5) {
  write_file(in("text.h5"), "this is not an HDF5 file\n");
  expect_refused(std::string(kSmall) + " --prompts " + shell_quote(in("text.h5").string()), {"text.h5"});
}

// Files that crash libhdf5 1.10 itself (fuzz/known/): read first in a checking process, so the
// job is refused with exit 2 instead of dying on SIGSEGV.
TEST_F(BadInput, PromptsFileThatCrashesTheHdf5Library) {
  const fs::path known = fs::path(std::getenv("PARDIT_SOURCE_DIR")) / "fuzz" / "known";
  for (const char* name : {"prompt_file-libhdf5-segv-H5G_node_sumup.h5", "prompt_file-libhdf5-crash-2.h5"})
    expect_refused(std::string(kSmall) + " --prompts " + shell_quote((known / name).string()),
                   {name, "is damaged", "HDF5 library", "checking process"});
}

TEST_F(BadInput, OutputDirectoryDoesNotExist) {
  expect_refused(kSmall, {"nonexistent-dir", "does not exist"}, "nonexistent-dir/out.h5");
}

TEST_F(BadInput, ExistingOutputNeedsOverwriteAndIsLeftIntact) {
  const fs::path out = *out_ / "out.h5";
  const std::string precious = "precious bytes \x01\x02\x03 that must survive\n";
  write_file(out, precious);
  auto r = run_pardit(std::string(kSmall) + " --out " + shell_quote(out.string()), inputs_->path());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "already exists")) << r.output;
  EXPECT_TRUE(contains(r.output, "--overwrite")) << r.output;
  EXPECT_EQ(read_file(out), precious);
  EXPECT_EQ(joined(list_dir(out_->path())), "out.h5");
  // With --overwrite the same run succeeds and replaces it.
  r = run_pardit(std::string(kSmall) + " --overwrite --out " + shell_quote(out.string()), inputs_->path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_file(out), precious);
  EXPECT_EQ(joined(list_dir(out_->path())), "out.h5");
}

TEST_F(BadInput, OtherOptionValues) {
  expect_refused("run --model flux-tiny --dtype fp64", {"fp64"});
  expect_refused("run --model flux-tiny --device tpu", {"tpu"});
  expect_refused("run --model flux-tiny --steps 0", {"--steps"});
  expect_refused("run --model flux-tiny --ulysses-degree 0", {"--ulysses-degree"});
  expect_refused("run --model flux-tiny --comm-timeout-s 1e120", {"--comm-timeout-s", "one week"});
  expect_refused("run --model flux-tiny --guidance nan", {"--guidance", "finite"});
  // One rank cannot hold two replicas.
  expect_refused("run --model flux-tiny --height 32 --width 32 --steps 1 --dp-degree 2",
                 {"dp*cfg*pipefusion*ring*ulysses = 2", "1 ranks", "multiply"});
}

}  // namespace
}  // namespace pardit::e2e
