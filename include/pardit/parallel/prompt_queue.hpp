// Data parallelism: prompts handed out one at a time to replicas as they become free, so a
// replica that finishes early takes the next prompt (uneven requests balance).
//
// A shared counter lives in an MPI window on world rank 0; each replica's leader takes the next
// index with an atomic fetch-and-add and broadcasts it to the rest of its replica. Every rank
// ends up with the latents of the prompts its replica ran, by index, so the output file is in
// prompt order whoever ran what.
//
// Stopping (preemption, docs/reliability.md): a second slot of the same window holds a job-wide
// stop flag. Replicas are not in lock-step, so they never wait for each other to stop: each
// replica agrees inside itself at its own step boundaries (a one-int allreduce over the replica),
// and its leader reads and raises the shared flag with one-sided operations, so a signal that
// reached a single rank of any replica stops every replica at its next step boundary.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

namespace pardit::parallel {

class PromptQueue {
 public:
  // Collective over MPI_COMM_WORLD. `replica`: this rank's data-parallel coordinate. `done`:
  // empty, or [num_prompts] with non-zero for prompts already finished (--resume); next() skips them.
  PromptQueue(int replica, int64_t num_prompts, std::vector<uint8_t> done = {});
  ~PromptQueue();
  PromptQueue(const PromptQueue&) = delete;
  PromptQueue& operator=(const PromptQueue&) = delete;

  // Collective over this rank's replica: the next prompt index not yet done, or -1 when all are
  // taken.
  int64_t next();
  // Collective over this rank's replica, called at a step boundary or between prompts: true when
  // any rank of the replica has `local_stop` set or another replica has already stopped. Every
  // rank of the replica gets the same answer; once true, it stays true. Replicas do not wait for
  // each other.
  bool agree_to_stop(bool local_stop);
  bool leader() const { return replica_rank_ == 0; }  // the replica member that reports results

 private:
  MPI_Comm replica_comm_ = MPI_COMM_NULL;
  MPI_Win window_ = MPI_WIN_NULL;
  int64_t* counter_ = nullptr;  // rank 0's window memory: [0] next index, [1] stop flag
  std::vector<uint8_t> done_;
  bool stopped_ = false;
  int replica_rank_ = 0;
  int64_t num_prompts_ = 0;
};

}  // namespace pardit::parallel
