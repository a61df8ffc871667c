// Data parallelism: prompts handed out one at a time to replicas as they become free, so a
// replica that finishes early takes the next prompt (uneven requests balance).
//
// With several replicas, a coordinator thread on world rank 0 holds the next index and a job-wide
// stop flag; each replica's leader asks it for the next index (a two-sided request/reply on a
// communicator of its own) and broadcasts it to the rest of its replica. Two-sided messages work
// on every transport (MPI one-sided windows did not span nodes without UCX); the thread needs
// MPI_THREAD_MULTIPLE, which pardit requests at start-up. With one replica no thread runs.
// Every rank ends up with the latents of the prompts its replica ran, by index, so the output
// file is in prompt order whoever ran what.
//
// Stopping (preemption, docs/reliability.md): replicas are not in lock-step, so they never wait
// for each other to stop: each replica agrees inside itself at its own step boundaries (a one-int
// allreduce over the replica), and its leader reads and raises the coordinator's stop flag, so a
// signal that reached a single rank of any replica stops every replica at its next step boundary.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace pardit::parallel {

class PromptQueue {
 public:
  // Collective over MPI_COMM_WORLD. `replica`: this rank's data-parallel coordinate, of
  // `replicas` (the data-parallel degree). `done`:
  // empty, or [num_prompts] with non-zero for prompts already finished (--resume); next() skips them.
  PromptQueue(int replica, int replicas, int64_t num_prompts, std::vector<uint8_t> done = {});
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
  enum Op : int64_t { take_next = 0, read_stop = 1, set_stop = 2, finish = 3 };
  int64_t ask(Op op);  // a leader's request to the coordinator (local with one replica)
  void serve();        // the coordinator thread's loop (world rank 0, several replicas)

  MPI_Comm replica_comm_ = MPI_COMM_NULL;
  MPI_Comm coord_comm_ = MPI_COMM_NULL;  // requests to the coordinator, apart from all other traffic
  std::thread coordinator_;
  int replicas_ = 1;
  // The coordinator's state (only touched by the coordinator, or by ask() with one replica).
  int64_t next_index_ = 0;
  bool stop_flag_ = false;
  std::vector<uint8_t> done_;
  bool stopped_ = false;
  bool finished_ = false;  // this leader told the coordinator it takes no more prompts
  int replica_rank_ = 0;
  int64_t num_prompts_ = 0;
};

}  // namespace pardit::parallel
