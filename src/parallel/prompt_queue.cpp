#include "pardit/parallel/prompt_queue.hpp"

#include <chrono>
#include <exception>
#include <utility>

#include "pardit/comm/checks.hpp"
#include "pardit/common/error.hpp"
#include "pardit/runtime/deadline.hpp"

namespace pardit::parallel {
namespace {
constexpr int kRequestTag = 7301, kReplyTag = 7302;
}  // namespace

PromptQueue::PromptQueue(int replica, int replicas, int64_t num_prompts, std::vector<uint8_t> done)
    : replicas_(replicas), done_(std::move(done)), num_prompts_(num_prompts) {
  int world_rank = 0;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
  runtime::deadline_barrier(MPI_COMM_WORLD, "prompt queue setup");
  MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, replica, world_rank, &replica_comm_));
  MPI_CHECK(MPI_Comm_rank(replica_comm_, &replica_rank_));
  if (replicas_ > 1) {
    int level = MPI_THREAD_SINGLE;
    MPI_CHECK(MPI_Query_thread(&level));
    PARDIT_CHECK(level == MPI_THREAD_MULTIPLE,
                 "data parallelism needs an MPI library with MPI_THREAD_MULTIPLE (the prompt coordinator is a "
                 "thread); this one granted level {}",
                 level);
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &coord_comm_));
    if (world_rank == 0) coordinator_ = std::thread([this] { serve(); });
  }
}

PromptQueue::~PromptQueue() {
  if (coordinator_.joinable()) {
    // The coordinator ends after every leader said `finish`; when a failure is unwinding the
    // stack that may never happen, and the job is being aborted anyway.
    if (std::uncaught_exceptions() > 0)
      coordinator_.detach();
    else
      coordinator_.join();
  }
  if (coord_comm_ != MPI_COMM_NULL && std::uncaught_exceptions() == 0) MPI_Comm_free(&coord_comm_);
  if (replica_comm_ != MPI_COMM_NULL) MPI_Comm_free(&replica_comm_);
}

int64_t PromptQueue::ask(Op op) {
  if (replicas_ == 1) {  // the one replica's leader is its own coordinator
    if (op == take_next) return next_index_++;
    if (op == set_stop) stop_flag_ = true;
    return stop_flag_ ? 1 : 0;
  }
  int64_t request = op, reply = 0;
  MPI_Request r[2];
  MPI_CHECK(MPI_Irecv(&reply, 1, MPI_INT64_T, 0, kReplyTag, coord_comm_, &r[0]));
  MPI_CHECK(MPI_Isend(&request, 1, MPI_INT64_T, 0, kRequestTag, coord_comm_, &r[1]));
  runtime::wait_or_throw(r, 2, "request to the prompt coordinator on world rank 0");
  return reply;
}

void PromptQueue::serve() {
  // Polls with a short sleep instead of a blocking receive: a blocking MPI receive spins a core,
  // which rank 0 needs for its own replica's work.
  int finished = 0;
  try {
    while (finished < replicas_) {
      int64_t request = 0;
      MPI_Request r;
      MPI_Status status;
      MPI_CHECK(MPI_Irecv(&request, 1, MPI_INT64_T, MPI_ANY_SOURCE, kRequestTag, coord_comm_, &r));
      for (int done = 0; !done;) {
        MPI_CHECK(MPI_Test(&r, &done, &status));
        if (!done) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      int64_t reply = 0;
      switch (request) {
        case take_next: reply = next_index_++; break;
        case read_stop: reply = stop_flag_ ? 1 : 0; break;
        case set_stop: stop_flag_ = true; reply = 1; break;
        default: ++finished; reply = 0; break;
      }
      MPI_CHECK(MPI_Send(&reply, 1, MPI_INT64_T, status.MPI_SOURCE, kReplyTag, coord_comm_));
    }
  } catch (const std::exception&) {
    // The leaders' own deadlines report a coordinator that stopped answering.
  }
}

int64_t PromptQueue::next() {
  int64_t index = -1;
  if (replica_rank_ == 0 && finished_) {
    index = num_prompts_;  // told the coordinator already: no more prompts for this replica
  } else if (replica_rank_ == 0) {
    // Prompts finished by an earlier run (--resume) are taken and dropped here, by whichever
    // replica draws them, so the others never see them.
    do {
      index = ask(take_next);
    } while (index < num_prompts_ && static_cast<size_t>(index) < done_.size() && done_[static_cast<size_t>(index)]);
    if (index >= num_prompts_ && !finished_) {
      finished_ = true;
      if (replicas_ > 1) ask(finish);
    }
  }
  MPI_Request request;
  MPI_CHECK(MPI_Ibcast(&index, 1, MPI_INT64_T, 0, replica_comm_, &request));
  runtime::wait_or_throw(&request, 1, "prompt queue broadcast");
  return index < num_prompts_ ? index : -1;
}

bool PromptQueue::agree_to_stop(bool local_stop) {
  if (stopped_) return true;
  int64_t stop = local_stop ? 1 : 0;
  // Has another replica stopped? One question to the coordinator; no other rank takes part.
  if (replica_rank_ == 0 && stop == 0 && !finished_) stop = ask(read_stop);
  int64_t agreed = 0;
  MPI_Request request;
  MPI_CHECK(MPI_Iallreduce(&stop, &agreed, 1, MPI_INT64_T, MPI_MAX, replica_comm_, &request));
  runtime::wait_or_throw(&request, 1, "stop agreement in the replica");
  if (agreed != 0 && replica_rank_ == 0 && !finished_) {
    ask(set_stop);  // the other replicas read it at their next step boundary
    // A stopped replica takes no more prompts: it is done with the coordinator.
    finished_ = true;
    if (replicas_ > 1) ask(finish);
  }
  stopped_ = agreed != 0;
  return stopped_;
}

}  // namespace pardit::parallel
