// The command-line surface: the default job and its output file (read back with h5py and
// h5dump), `run --help`, `version`, `inspect`, TOML config + command-line overrides.
#include <chrono>
#include <regex>

#include "e2e_support.hpp"

namespace pardit::e2e {
namespace {

// Every root attribute, dataset and group of DESIGN.md §5 / docs/output-format.md, checked with
// h5py (no pardit code involved). argv: file, P, steps, H, W, world.
constexpr const char* kCheckOutput = R"PY(
import sys, h5py, numpy as np
path, P, steps, H, W, world = sys.argv[1], *map(int, sys.argv[2:7])
with h5py.File(path, "r") as f:
    a = f.attrs
    for k in ["pardit_version", "git_revision", "created_utc", "command_line", "config", "model", "dtype", "device"]:
        assert k in a, "missing root attribute " + k
        v = a[k]
        v = v.decode() if isinstance(v, bytes) else v
        assert isinstance(v, str) and v != "", "attribute %s = %r is not a non-empty string" % (k, v)
    assert int(a["world_size"]) == world, a["world_size"]
    assert int(a["complete"]) == 1, "complete = %r" % a["complete"]
    assert str(a["model"]) == "flux-tiny", a["model"]
    assert str(a["dtype"]) == "fp32" and str(a["device"]) == "cpu"
    import re
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", str(a["created_utc"])), a["created_utc"]
    assert "steps = %d" % steps in str(a["config"]), a["config"]
    lat = f["latents"]
    assert lat.dtype == np.float32 and lat.shape == (P, 16, H // 8, W // 8), (lat.dtype, lat.shape)
    x = lat[:]
    assert np.isfinite(x).all(), "non-finite latents"
    assert x.std() > 0.01, "latents are (nearly) constant: %r" % x.std()
    assert not np.array_equal(x[0], x[-1]) or P == 1, "prompts have identical latents"
    for name in ["prompt_index", "seeds"]:
        d = f[name]
        assert d.dtype == np.int64 and d.shape == (P,), (name, d.dtype, d.shape)
    assert list(f["prompt_index"][:]) == list(range(P)), f["prompt_index"][:]
    st = f["timings/step_seconds"]
    assert st.dtype == np.float64 and st.shape == (world, P, steps), (st.dtype, st.shape)
    s = st[:]
    assert (s[np.isfinite(s)] > 0).all() and np.isfinite(s).any(), s
    host = f["timings/step_host_seconds"][:]
    assert host.shape == s.shape and (np.isfinite(host) == np.isfinite(s)).all(), (host.shape, host, s)
    assert (host[np.isfinite(host)] > 0).all() and (host[np.isfinite(s)] <= s[np.isfinite(s)]).all(), (host, s)
    wait = f["timings/step_comm_wait_seconds"][:]
    assert wait.shape == s.shape and (np.isfinite(wait) == np.isfinite(s)).all(), (wait.shape, wait, s)
    assert (wait[np.isfinite(s)] >= 0).all() and (wait[np.isfinite(s)] <= s[np.isfinite(s)]).all(), (wait, s)
    for axis in ["dp", "cfg", "pipefusion", "ring", "ulysses"]:
        assert f["comm/%s_wait_seconds" % axis].shape == (world,), axis
    assert len(f["topology/node_name"]) == world and len(f["topology/gpu"]) == world
    nodes = [n.decode() if isinstance(n, bytes) else n for n in f["topology/node_name"][:]]
    assert all(nodes), nodes
    lr = f["topology/local_rank"]
    assert lr.dtype.kind == "i" and lr.shape == (world,), (lr.dtype, lr.shape)
    mc = f["topology/mesh_coords"]
    assert mc.dtype.kind == "i" and mc.shape == (world, 5), (mc.dtype, mc.shape)
    axes = mc.attrs["axes"]
    axes = axes.decode() if isinstance(axes, bytes) else axes
    assert axes == "dp,cfg,pipefusion,ring,ulysses", axes
    assert isinstance(f["comm"], h5py.Group) and isinstance(f["timings"], h5py.Group)
print("OUTPUT OK", x.shape, "nodes", nodes)
)PY";

class DefaultJob : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("pardit-e2e-default");
    const auto start = std::chrono::steady_clock::now();
    result_ = new CommandResult(run_pardit("", dir_->path()));  // no arguments at all
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  static void TearDownTestSuite() {
    delete result_;
    delete dir_;
  }
  static fs::path out() { return *dir_ / "pardit-out.h5"; }
  static inline TempDir* dir_ = nullptr;
  static inline CommandResult* result_ = nullptr;
  static inline double seconds_ = 0;
};

TEST_F(DefaultJob, NoArgumentsWritesTheDefaultFileQuickly) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  EXPECT_TRUE(fs::exists(out())) << result_->output;
  EXPECT_LT(seconds_, 60.0) << "the default job must finish well under a minute";
  // Nothing else (no stray temporary file) is left next to it.
  EXPECT_EQ(joined(list_dir(dir_->path())), "pardit-out.h5");
}

TEST_F(DefaultJob, FileHasTheDocumentedSchema) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  PARDIT_REQUIRE_PYTHON("h5py, numpy");
  TempDir py;
  // configs/runs/default.toml: 2 prompts, 4 steps, 256x256, one rank.
  auto r = pardit::test::run_python(py.path(), kCheckOutput, shell_quote(out().string()) + " 2 4 256 256 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "OUTPUT OK")) << r.output;
}

TEST_F(DefaultJob, H5dumpReadsIt) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  if (run_command("command -v h5dump").exit_code != 0) GTEST_SKIP() << "h5dump not installed";
  auto r = run_command("h5dump -H " + shell_quote(out().string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"DATASET \"latents\"", "H5T_IEEE_F32LE", "( 2, 16, 32, 32 )", "GROUP \"topology\"",
                        "GROUP \"timings\"", "GROUP \"comm\"", "ATTRIBUTE \"complete\"", "DATASET \"step_seconds\"",
                        "DATASET \"mesh_coords\""})
    EXPECT_TRUE(contains(r.output, s)) << s << "\n" << r.output;
}

TEST_F(DefaultJob, InspectPrintsASummary) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  auto r = run_pardit("inspect " + shell_quote(out().string()), dir_->path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"pardit-out.h5", "flux-tiny", "fp32", "complete: yes", "latents [2, 16, 32, 32]", "finite: yes",
                        "step time", "4 steps x 2 prompt(s)", "nodes:"})
    EXPECT_TRUE(contains(r.output, s)) << s << "\n" << r.output;
}

TEST_F(DefaultJob, VersionMatchesTheFile) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  auto r = run_pardit("version", dir_->path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("pardit \\S+ \\(\\S+\\)"))) << r.output;
  EXPECT_TRUE(contains(r.output, "LibTorch")) << r.output;
  EXPECT_TRUE(contains(r.output, "MPI")) << r.output;
  // `inspect` shows the file's pardit_version / git_revision: the same binary wrote it.
  auto i = run_pardit("inspect " + shell_quote(out().string()), dir_->path());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("pardit (\\S+ \\(\\S+\\))"))) << r.output;
  EXPECT_TRUE(contains(i.output, "pardit " + m[1].str())) << m[1] << "\n" << i.output;
}

TEST(Cli, RunHelpListsEveryOption) {
  TempDir dir;
  auto r = run_pardit("run --help", dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // DESIGN.md §5, plus the options run_config.cpp adds.
  for (const char* opt : {"--config", "--model", "--weights", "--prompts", "--height", "--width", "--steps", "--seed",
                          "--guidance", "--true-cfg-scale", "--dtype", "--device", "--ulysses-degree", "--ring-degree",
                          "--pipefusion-degree", "--cfg-degree", "--dp-degree", "--num-pipeline-patches",
                          "--warmup-steps", "--out", "--overwrite", "--num-prompts", "--weights-seed",
                          "--comm-timeout-s"})
    EXPECT_TRUE(std::regex_search(r.output, std::regex(std::string(opt) + "([ ,=\\n]|$)"))) << opt << "\n" << r.output;
  EXPECT_TRUE(list_dir(dir.path()).empty()) << "--help must not run a job";
}

TEST(Cli, TopLevelHelpListsSubcommands) {
  TempDir dir;
  auto r = run_pardit("--help", dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"run", "topo", "inspect", "version"}) EXPECT_TRUE(contains(r.output, s)) << s << r.output;
  auto bad = run_pardit("frobnicate", dir.path());
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  auto bad_opt = run_pardit("run --stepz 3", dir.path());
  EXPECT_EQ(bad_opt.exit_code, 2) << bad_opt.output;
  EXPECT_TRUE(contains(bad_opt.output, "stepz")) << bad_opt.output;
  EXPECT_TRUE(list_dir(dir.path()).empty()) << joined(list_dir(dir.path()));
}

TEST(Cli, InspectRefusesMissingFile) {
  TempDir dir;
  auto r = run_pardit("inspect nothere.h5", dir.path());
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "nothere.h5")) << r.output;
}

constexpr const char* kSmallJob = R"PY(# a small job
model = "flux-tiny"
height = 32
width = 48
steps = 2
num_prompts = 1
seed = 5
out = "from-toml.h5"
)PY";

TEST(Cli, TomlConfigWithCommandLineOverride) {
  PARDIT_REQUIRE_PYTHON("h5py, numpy");
  TempDir dir;
  write_file(dir / "job.toml", kSmallJob);
  // The command line wins over the file: 3 steps, seed 9, another output name.
  auto r = run_pardit("run --config job.toml --steps 3 --seed 9 --out cli.h5", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir / "from-toml.h5"));
  ASSERT_TRUE(fs::exists(dir / "cli.h5")) << joined(list_dir(dir.path()));
  TempDir py;
  auto c = pardit::test::run_python(py.path(), R"PY(
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    cfg = str(f.attrs["config"])
    assert f["latents"].shape == (1, 16, 4, 6), f["latents"].shape      # height/width from the TOML
    assert f["timings/step_seconds"].shape == (1, 1, 3), f["timings/step_seconds"].shape  # steps from the CLI
    assert list(f["seeds"][:]) == [9], f["seeds"][:]                     # seed from the CLI
    lines = [l.replace("'", '"') for l in cfg.splitlines()]  # TOML basic or literal strings
    for line in ["steps = 3", "seed = 9", "height = 32", "width = 48", 'out = "cli.h5"', 'model = "flux-tiny"']:
        assert line in lines, (line, cfg)
print("CONFIG OK")
)PY", shell_quote((dir / "cli.h5").string()));
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(contains(c.output, "CONFIG OK")) << c.output;
  // The effective configuration is printed once too.
  EXPECT_TRUE(contains(r.output, "steps = 3")) << r.output;
}

TEST(Cli, TomlUnknownKeyRefused) {
  TempDir dir;
  write_file(dir / "job.toml", std::string(kSmallJob) + "stepz = 4\n");
  auto r = run_pardit("run --config job.toml", dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "stepz")) << r.output;
  EXPECT_TRUE(contains(r.output, "unknown key")) << r.output;
  EXPECT_EQ(joined(list_dir(dir.path())), "job.toml");
}

TEST(Cli, TomlWrongTypeRefused) {
  TempDir dir;
  write_file(dir / "job.toml", "steps = \"three\"\nout = \"x.h5\"\n");
  auto r = run_pardit("run --config job.toml", dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "'steps'")) << r.output;
  EXPECT_TRUE(contains(r.output, "integer")) << r.output;
  write_file(dir / "job.toml", "overwrite = 1\nout = \"x.h5\"\n");
  r = run_pardit("run --config job.toml", dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "'overwrite'")) << r.output;
  write_file(dir / "job.toml", "steps = = 3\n");
  r = run_pardit("run --config job.toml", dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "job.toml")) << r.output;
  EXPECT_EQ(joined(list_dir(dir.path())), "job.toml");
  // A missing config file is refused too.
  r = run_pardit("run --config nothere.toml", dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "nothere.toml")) << r.output;
}

// The TOML refuses `seed = -1` ("must be a non-negative integer"); the same value on the command
// line must be refused too instead of wrapping to 2^64 - 1 (then recorded as /seeds = -1).
TEST(Cli, NegativeSeedRefusedOnTheCommandLineAsInToml) {
  TempDir dir;
  write_file(dir / "job.toml", "seed = -1\nout = \"t.h5\"\n");
  auto toml = run_pardit("run --config job.toml", dir.path());
  EXPECT_EQ(toml.exit_code, 2) << toml.output;
  EXPECT_TRUE(contains(toml.output, "'seed'")) << toml.output;
  for (const char* opt : {"--seed", "--weights-seed"}) {
    auto r = run_pardit(std::string("run --model flux-tiny --height 32 --width 32 --steps 1 --num-prompts 1 ") + opt +
                            " -1 --out cli.h5",
                        dir.path());
    EXPECT_EQ(r.exit_code, 2) << opt << " -1 was accepted:\n" << r.output;
    EXPECT_TRUE(contains(r.output, opt)) << r.output;
    EXPECT_FALSE(fs::exists(dir / "cli.h5")) << opt;
    fs::remove(dir / "cli.h5");
  }
}

}  // namespace
}  // namespace pardit::e2e
