#include "pardit/runtime/mpi_session.hpp"

#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <vector>

#include "pardit/comm/checks.hpp"
#include "pardit/runtime/abort.hpp"
#include "pardit/runtime/deadline.hpp"

namespace pardit::runtime {

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "unknown-host";
  return buffer;
}

std::string node_name_from_environment() {
  for (const char* var : {"PARDIT_NODE_NAME", "SLURMD_NODENAME"}) {
    const char* value = std::getenv(var);
    if (value != nullptr && *value != '\0') return value;
  }
  return host_name();
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  if (initialized == 0) {
    // Singleton start (no launcher) is handled by MPI itself: a world of one.
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_));
    owns_init_ = true;
  } else {
    MPI_CHECK(MPI_Query_thread(&thread_level_));
  }
  // Errors come back as codes (then MPI_CHECK throws) instead of aborting inside MPI with no context.
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_size_));

  MPI_Comm node_comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank_, MPI_INFO_NULL, &node_comm));
  MPI_CHECK(MPI_Comm_rank(node_comm, &local_rank_));
  MPI_CHECK(MPI_Comm_size(node_comm, &local_size_));
  MPI_CHECK(MPI_Comm_free(&node_comm));

  node_name_ = node_name_from_environment();
  set_error_identity(node_name_, world_rank_);

  // Every rank's node name (fixed width) and a world duplicate for stall diagnosis, so any message
  // can name the host of a missing rank before the topology is gathered. MPI_Init was collective
  // already: these blocking calls add no new way to hang.
  constexpr int kNameWidth = 64;
  std::vector<char> names(static_cast<size_t>(kNameWidth) * static_cast<size_t>(world_size_), '\0');
  std::vector<char> mine(kNameWidth, '\0');
  node_name_.copy(mine.data(), kNameWidth - 1);
  MPI_CHECK(MPI_Allgather(mine.data(), kNameWidth, MPI_CHAR, names.data(), kNameWidth, MPI_CHAR, MPI_COMM_WORLD));
  std::vector<std::string> node_names;
  for (int r = 0; r < world_size_; ++r) node_names.emplace_back(names.data() + static_cast<size_t>(r) * kNameWidth);
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &diag_world_));
  MPI_CHECK(MPI_Comm_set_errhandler(diag_world_, MPI_ERRORS_RETURN));
  set_world_identity(diag_world_, std::move(node_names));
  install_fatal_signal_handlers(node_name_, world_rank_);
}

MpiSession::~MpiSession() {
  if (!owns_init_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  // MPI_Finalize is collective: while an exception is in flight the other ranks may never get
  // there, so leave it to abort_job (main() calls it) rather than risk a hang here.
  if (finalized != 0 || std::uncaught_exceptions() != 0) return;
  // MPI_Finalize waits for every rank: if one stalled, the others would hang here. A bounded
  // barrier first turns that into a diagnosed abort.
  try {
    if (world_size_ > 1) deadline_barrier(MPI_COMM_WORLD, "the final barrier before MPI_Finalize");
  } catch (const std::exception& e) {
    abort_job(e, ExitCode::comm_failure);
  }
  set_world_identity(MPI_COMM_NULL, {});
  MPI_Comm_free(&diag_world_);
  MPI_Finalize();
}

std::string MpiSession::thread_level_name() const {
  switch (thread_level_) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
    default: return "unknown";
  }
}

}  // namespace pardit::runtime
