#include "pardit/parallel/prompt_queue.hpp"

#include <utility>

#include "pardit/comm/checks.hpp"
#include "pardit/runtime/deadline.hpp"

namespace pardit::parallel {

PromptQueue::PromptQueue(int replica, int64_t num_prompts, std::vector<uint8_t> done)
    : num_prompts_(num_prompts), done_(std::move(done)) {
  int world_rank = 0;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
  runtime::deadline_barrier(MPI_COMM_WORLD, "prompt queue setup");
  MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, replica, world_rank, &replica_comm_));
  MPI_CHECK(MPI_Comm_rank(replica_comm_, &replica_rank_));
  const MPI_Aint bytes = world_rank == 0 ? static_cast<MPI_Aint>(2 * sizeof(int64_t)) : 0;
  MPI_CHECK(MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &counter_, &window_));
  if (world_rank == 0) {
    MPI_CHECK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, window_));
    counter_[0] = 0;
    counter_[1] = 0;
    MPI_CHECK(MPI_Win_unlock(0, window_));
  }
  runtime::deadline_barrier(MPI_COMM_WORLD, "prompt queue setup");
}

PromptQueue::~PromptQueue() {
  if (window_ != MPI_WIN_NULL) MPI_Win_free(&window_);
  if (replica_comm_ != MPI_COMM_NULL) MPI_Comm_free(&replica_comm_);
}

int64_t PromptQueue::next() {
  int64_t index = -1;
  if (replica_rank_ == 0) {
    const int64_t one = 1;
    // Prompts finished by an earlier run (--resume) are taken and dropped here, by whichever
    // replica draws them, so the others never see them.
    do {
      MPI_CHECK(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, window_));
      MPI_CHECK(MPI_Fetch_and_op(&one, &index, MPI_INT64_T, 0, 0, MPI_SUM, window_));
      MPI_CHECK(MPI_Win_unlock(0, window_));
    } while (index < num_prompts_ && static_cast<size_t>(index) < done_.size() && done_[static_cast<size_t>(index)]);
  }
  MPI_Request request;
  MPI_CHECK(MPI_Ibcast(&index, 1, MPI_INT64_T, 0, replica_comm_, &request));
  runtime::wait_or_throw(&request, 1, "prompt queue broadcast");
  return index < num_prompts_ ? index : -1;
}

bool PromptQueue::agree_to_stop(bool local_stop) {
  if (stopped_) return true;
  int64_t stop = local_stop ? 1 : 0;
  if (replica_rank_ == 0 && stop == 0) {
    // Has another replica stopped? One atomic read of rank 0's slot; no other rank takes part.
    const int64_t unused = 0;
    MPI_CHECK(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, window_));
    MPI_CHECK(MPI_Fetch_and_op(&unused, &stop, MPI_INT64_T, 0, 1, MPI_NO_OP, window_));
    MPI_CHECK(MPI_Win_unlock(0, window_));
  }
  int64_t agreed = 0;
  MPI_Request request;
  MPI_CHECK(MPI_Iallreduce(&stop, &agreed, 1, MPI_INT64_T, MPI_MAX, replica_comm_, &request));
  runtime::wait_or_throw(&request, 1, "stop agreement in the replica");
  if (agreed != 0 && replica_rank_ == 0) {
    // Tell the other replicas (they read it at their next step boundary).
    const int64_t one = 1;
    int64_t previous = 0;
    MPI_CHECK(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, window_));
    MPI_CHECK(MPI_Fetch_and_op(&one, &previous, MPI_INT64_T, 0, 1, MPI_REPLACE, window_));
    MPI_CHECK(MPI_Win_unlock(0, window_));
  }
  stopped_ = agreed != 0;
  return stopped_;
}

}  // namespace pardit::parallel
