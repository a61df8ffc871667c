// gtest main for tests run under mpirun: every rank runs every test; the process exit code is 1 on
// every rank when any rank failed, so `mpirun` (and ctest) report the failure. Rank 0 prints the
// usual gtest output, other ranks only their failures, prefixed with their rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

#include "pardit/runtime/mpi_session.hpp"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  pardit::runtime::MpiSession session(&argc, &argv);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (session.world_rank() != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(session.world_rank()));
  }
  const int failed_here = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int failed_ranks = 0;
  MPI_Allreduce(&failed_here, &failed_ranks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (session.world_rank() == 0 && failed_ranks > 0)
    std::fprintf(stderr, "FAILED on %d of %d ranks\n", failed_ranks, session.world_size());
  return failed_ranks > 0 ? 1 : 0;
}
