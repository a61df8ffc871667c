// Data parallelism: prompts handed out one at a time to replicas as they become free, so a
// replica that finishes early takes the next prompt (uneven requests balance).
//
// A shared counter lives in an MPI window on world rank 0; each replica's leader takes the next
// index with an atomic fetch-and-add and broadcasts it to the rest of its replica. Every rank
// ends up with the latents of the prompts its replica ran, by index, so the output file is in
// prompt order whoever ran what.
#pragma once

#include <mpi.h>

#include <cstdint>

namespace pardit::parallel {

class PromptQueue {
 public:
  // Collective over MPI_COMM_WORLD. `replica`: this rank's data-parallel coordinate.
  PromptQueue(int replica, int64_t num_prompts);
  ~PromptQueue();
  PromptQueue(const PromptQueue&) = delete;
  PromptQueue& operator=(const PromptQueue&) = delete;

  // Collective over this rank's replica: the next prompt index, or -1 when all are taken.
  int64_t next();
  bool leader() const { return replica_rank_ == 0; }  // the replica member that reports results

 private:
  MPI_Comm replica_comm_ = MPI_COMM_NULL;
  MPI_Win window_ = MPI_WIN_NULL;
  int64_t* counter_ = nullptr;  // rank 0's window memory
  int replica_rank_ = 0;
  int64_t num_prompts_ = 0;
};

}  // namespace pardit::parallel
