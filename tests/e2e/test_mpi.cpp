// pardit under mpirun: data parallelism gives the single-rank latents, the topology records
// every rank's node, and an impossible layout is refused on every rank with exit code 2.
#include "e2e_support.hpp"

namespace pardit::e2e {
namespace {

// 2 ranks on one machine that pretend to be two nodes (PARDIT_NODE_NAME = node-a / node-b).
std::string mpirun_2(const std::string& pardit_args) {
  const std::string wrapper =
      "if [ \"$OMPI_COMM_WORLD_RANK\" = 0 ]; then export PARDIT_NODE_NAME=node-a; "
      "else export PARDIT_NODE_NAME=node-b; fi; exec \"$0\" \"$@\"";
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 150 mpirun -np 2 --oversubscribe "
         "sh -c " + shell_quote(wrapper) + " " + shell_quote(pardit_binary()) + " " + pardit_args;
}

bool have_mpirun() { return run_command("command -v mpirun").exit_code == 0; }

constexpr const char* kJob = "run --model flux-tiny --height 32 --width 48 --steps 2 --seed 11 --num-prompts 3";

TEST(Mpi, DataParallelEqualsSingleRank) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed";
  PARDIT_REQUIRE_PYTHON("h5py, numpy");
  TempDir dir;
  auto one = run_pardit(std::string(kJob) + " --out single.h5", dir.path());
  ASSERT_EQ(one.exit_code, 0) << one.output;
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
    # Each prompt is timed by the rank of its replica only (NaN elsewhere); replica r takes p % 2 == r.
    rank_of_replica = {int(mc[r, 0]): r for r in range(2)}
    for p in range(3):
        r = rank_of_replica[p % 2]
        assert np.isfinite(st[r, p]).all() and not np.isfinite(st[1 - r, p]).any(), (p, st)
print("DP OK", nodes)
)PY", shell_quote((dir / "single.h5").string()) + " " + shell_quote((dir / "dp2.h5").string()));
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

}  // namespace
}  // namespace pardit::e2e
