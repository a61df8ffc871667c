// Bootstrap: MPI_Init_thread / MPI_Finalize as an RAII object.
//
// Works under `mpirun`, under `srun --mpi=pmix`, and as a single process started without a launcher
// (MPI singleton). Exactly one MpiSession per process, created first thing in main().
#pragma once

#include <mpi.h>

#include <string>

namespace pardit::runtime {

class MpiSession {
 public:
  // Requests MPI_THREAD_MULTIPLE (the NCCL watchdog thread may call MPI_Abort while the main thread
  // is inside MPI); records what the library granted. Collective over MPI_COMM_WORLD.
  MpiSession(int* argc = nullptr, char*** argv = nullptr);
  ~MpiSession();  // MPI_Finalize (collective); skipped while an exception unwinds the stack
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  // Rank and size among the processes that share memory with this one (MPI_Comm_split_type
  // SHARED): the physical node, used to pick this rank's GPU.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int thread_level() const { return thread_level_; }  // MPI_THREAD_SINGLE ... MPI_THREAD_MULTIPLE
  std::string thread_level_name() const;
  MPI_Comm world() const { return MPI_COMM_WORLD; }
  // The node name rule: PARDIT_NODE_NAME > SLURMD_NODENAME > hostname.
  const std::string& node_name() const { return node_name_; }

 private:
  bool owns_init_ = false;
  int world_rank_ = 0, world_size_ = 1, local_rank_ = 0, local_size_ = 1;
  int thread_level_ = MPI_THREAD_SINGLE;
  std::string node_name_;
  MPI_Comm diag_world_ = MPI_COMM_NULL;  // see [Note: stall diagnosis] in deadline.hpp
};

// PARDIT_NODE_NAME > SLURMD_NODENAME > gethostname(). The override lets tests emulate several nodes
// on one machine.
std::string node_name_from_environment();
std::string host_name();

}  // namespace pardit::runtime
