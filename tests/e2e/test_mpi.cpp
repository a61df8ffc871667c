// pardit under mpirun: data parallelism gives the single-rank latents, the topology records
// every rank's node, and an impossible layout is refused on every rank with exit code 2.
#include "e2e_support.hpp"

namespace pardit::e2e {
namespace {

// [Note: CPU thread count] LibTorch's CPU kernels round differently with a different number
// of intra-op threads (~1e-6 on flux-tiny latents), and mpirun binds each rank to one core (so
// one thread) while a plain run uses every core. "Identical to the single-rank run" therefore
// holds at equal thread counts: every run here that is compared bit for bit uses
// OMP_NUM_THREADS=1; a run with the default thread count is compared with a tolerance.
constexpr const char* kOneThread = "OMP_NUM_THREADS=1 ";

// 2 ranks on one machine that pretend to be two nodes (PARDIT_NODE_NAME = node-a / node-b).
std::string mpirun_2(const std::string& pardit_args) {
  const std::string wrapper =
      "if [ \"$OMPI_COMM_WORLD_RANK\" = 0 ]; then export PARDIT_NODE_NAME=node-a; "
      "else export PARDIT_NODE_NAME=node-b; fi; export OMP_NUM_THREADS=1; exec \"$0\" \"$@\"";
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 150 mpirun -np 2 --oversubscribe "
         "sh -c " + shell_quote(wrapper) + " " + shell_quote(pardit_binary()) + " " + pardit_args;
}

bool have_mpirun() { return run_command("command -v mpirun").exit_code == 0; }

constexpr const char* kJob = "run --model flux-tiny --height 32 --width 48 --steps 2 --seed 11 --num-prompts 3";

TEST(Mpi, DataParallelEqualsSingleRank) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed";
  PARDIT_REQUIRE_PYTHON("h5py, numpy");
  TempDir dir;
  auto one = run_pardit(std::string(kJob) + " --out single.h5", dir.path(), kOneThread);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto threads = run_pardit(std::string(kJob) + " --out single-default-threads.h5", dir.path());
  ASSERT_EQ(threads.exit_code, 0) << threads.output;
  auto two = run_command("cd " + shell_quote(dir.path().string()) + " && " +
                         mpirun_2(std::string(kJob) + " --dp-degree 2 --out dp2.h5"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  TempDir py;
  auto r = pardit::test::run_python(py.path(), R"PY(
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    assert int(a.attrs["world_size"]) == 1 and int(b.attrs["world_size"]) == 2
    assert int(b.attrs["complete"]) == 1, b.attrs["complete"]
    la, lb = a["latents"][:], b["latents"][:]
    assert la.shape == lb.shape == (3, 16, 4, 6), (la.shape, lb.shape)
    for p in range(3):
        d = np.abs(la[p] - lb[p]).max()
        assert np.array_equal(la[p], lb[p]), "prompt %d differs from the single-rank run by %g" % (p, d)
    assert list(b["seeds"][:]) == [11, 12, 13], b["seeds"][:]
    assert list(b["prompt_index"][:]) == [0, 1, 2]
    nodes = [n.decode() if isinstance(n, bytes) else n for n in b["topology/node_name"][:]]
    assert nodes == ["node-a", "node-b"], nodes
    mc = b["topology/mesh_coords"][:]
    assert mc.shape == (2, 5) and sorted(mc[:, 0]) == [0, 1] and (mc[:, 1:] == 0).all(), mc
    st = b["timings/step_seconds"][:]
    assert st.shape == (2, 3, 2), st.shape
    # Replicas take prompts from a shared queue (any split): each prompt is timed, every step, by
    # exactly one rank (the one replica that ran it), NaN on the other.
    for p in range(3):
        ran = [r for r in range(2) if np.isfinite(st[r, p]).all()]
        idle = [r for r in range(2) if not np.isfinite(st[r, p]).any()]
        assert len(ran) == 1 and len(idle) == 1, (p, st)
with h5py.File(sys.argv[3], "r") as c:
    d = float(np.abs(c["latents"][:] - lb).max())
    assert d <= 1e-5, "the default-thread single-rank run differs by %g" % d
print("DP OK", nodes)
)PY", shell_quote((dir / "single.h5").string()) + " " + shell_quote((dir / "dp2.h5").string()) + " " +
        shell_quote((dir / "single-default-threads.h5").string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "DP OK")) << r.output;
}

TEST(Mpi, DegreesThatDoNotMultiplyToTheWorldAreRefused) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed";
  TempDir dir;
  auto r = run_command("cd " + shell_quote(dir.path().string()) + " && " +
                       mpirun_2(std::string(kJob) + " --dp-degree 3 --out dp3.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "dp*cfg*pipefusion*ring*ulysses = 3 but the job has 2 ranks")) << r.output;
  EXPECT_TRUE(contains(r.output, "multiply to 2")) << r.output;
  EXPECT_TRUE(list_dir(dir.path()).empty()) << joined(list_dir(dir.path()));
}

TEST(Mpi, UlyssesRecordsItsCommWaits) {
  // Ulysses-2 over MPI: every step of both ranks records the time its compute waited for the
  // exchanges (some, and less than the step), and /comm/ulysses_wait_seconds adds them up.
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed";
  PARDIT_REQUIRE_PYTHON("h5py, numpy");
  TempDir dir;
  auto run = run_command("cd " + shell_quote(dir.path().string()) + " && " +
                         mpirun_2("run --model flux-tiny --height 32 --width 64 --steps 3 --num-prompts 2 "
                                  "--ulysses-degree 2 --out u2.h5"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  TempDir py;
  auto r = pardit::test::run_python(py.path(), R"PY(
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    wait = f["timings/step_comm_wait_seconds"][:]  # [world, P, steps]
    step = f["timings/step_seconds"][:]
    assert wait.shape == (2, 2, 3) and np.isfinite(wait).all(), wait
    assert (wait >= 0).all() and (wait <= step).all(), (wait, step)
    assert (wait.sum(axis=(1, 2)) > 0).all(), "a rank recorded no wait at all: %r" % wait
    total = f["comm/ulysses_wait_seconds"][:]
    assert total.shape == (2,) and (total >= wait.sum(axis=(1, 2)) - 1e-9).all(), (total, wait)
    assert (f["comm/ring_wait_seconds"][:] == 0).all()
print("COMM WAIT OK", wait.round(4).tolist())
)PY", shell_quote((dir / "u2.h5").string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "COMM WAIT OK")) << r.output;
  auto inspect = run_pardit("inspect u2.h5", dir.path());
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "comm wait per step (median): least")) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "over 2 rank(s)")) << inspect.output;
}

TEST(Mpi, MoreReplicasThanPromptsStillComplete) {
  // dp=2 with one prompt: replica 1 has nothing to do, the file is still complete and equal to
  // the single-rank run.
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed";
  PARDIT_REQUIRE_PYTHON("h5py, numpy");
  TempDir dir;
  const std::string job = "run --model flux-tiny --height 32 --width 32 --steps 1 --seed 3 --num-prompts 1";
  auto one = run_pardit(job + " --out single.h5", dir.path(), kOneThread);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run_command("cd " + shell_quote(dir.path().string()) + " && " + mpirun_2(job + " --dp-degree 2 --out dp2.h5"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  TempDir py;
  auto r = pardit::test::run_python(py.path(), R"PY(
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    assert int(b.attrs["complete"]) == 1, b.attrs["complete"]
    assert b["latents"].shape == (1, 16, 4, 4), b["latents"].shape
    assert np.array_equal(a["latents"][:], b["latents"][:]), "differs from the single-rank run"
print("IDLE REPLICA OK")
)PY", shell_quote((dir / "single.h5").string()) + " " + shell_quote((dir / "dp2.h5").string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "IDLE REPLICA OK")) << r.output;
}

TEST(Mpi, ExistingOutputRefusedOnEveryRank) {
  // Only rank 0 checks the output path; every rank must still leave with exit code 2.
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed";
  TempDir dir;
  write_file(dir / "out.h5", "keep me");
  auto r = run_command("cd " + shell_quote(dir.path().string()) + " && " +
                       mpirun_2(std::string(kJob) + " --dp-degree 2 --out out.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "already exists")) << r.output;
  EXPECT_EQ(read_file(dir / "out.h5"), "keep me");
  EXPECT_EQ(joined(list_dir(dir.path())), "out.h5");
}

TEST(Mpi, CorruptWeightsEndEveryRankWithExitCode2) {
  // Every rank reads the weights; a corrupt file must end the whole job cleanly (exit 2, the
  // file named, no output), not hang a rank in a collective.
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed";
  TempDir dir;
  std::string garbage(4096, '\xff');  // header length 2^64 - 1
  write_file(dir / "bad.safetensors", garbage);
  auto r = run_command("cd " + shell_quote(dir.path().string()) + " && " +
                       mpirun_2(std::string(kJob) + " --dp-degree 2 --weights bad.safetensors --out out.h5"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "bad.safetensors")) << r.output;
  EXPECT_EQ(joined(list_dir(dir.path())), "bad.safetensors");
}

}  // namespace
}  // namespace pardit::e2e
