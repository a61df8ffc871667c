// RAII for CUDA streams and events (CUDA builds only). Non-copyable, movable.
#pragma once

#ifdef PARDIT_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <deque>
#include <utility>
#include <vector>

namespace pardit::comm {

class CudaStream {
 public:
  CudaStream() = default;
  // A non-blocking stream (does not synchronise with the legacy default stream), highest priority so
  // communication kernels are scheduled ahead of compute when both are ready.
  static CudaStream create();
  ~CudaStream();
  CudaStream(CudaStream&& o) noexcept : stream_(std::exchange(o.stream_, nullptr)) {}
  CudaStream& operator=(CudaStream&& o) noexcept {
    std::swap(stream_, o.stream_);
    return *this;
  }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaEvent {
 public:
  CudaEvent();  // cudaEventDisableTiming: ordering only
  ~CudaEvent();
  CudaEvent(CudaEvent&& o) noexcept : event_(std::exchange(o.event_, nullptr)) {}
  CudaEvent& operator=(CudaEvent&& o) noexcept {
    std::swap(event_, o.event_);
    return *this;
  }
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Device time a stream stands still at its waits for other streams' events: a timing event
// recorded before and one after each wait (reused), added up by take(). Communicators time the
// compute stream's waits for their transfers this way (Communicator::take_wait_seconds).
class StreamWaitTimer {
 public:
  // Not `enabled` (PARDIT_COMM_WAIT_TIMING=0, for measuring what the timing costs): plain waits,
  // and take() gives NaN.
  explicit StreamWaitTimer(bool enabled = true) : enabled_(enabled) {}
  ~StreamWaitTimer();
  StreamWaitTimer(const StreamWaitTimer&) = delete;
  StreamWaitTimer& operator=(const StreamWaitTimer&) = delete;
  // Makes `stream` wait for `done`, timing how long it stands still there.
  void wait(cudaStream_t stream, cudaEvent_t done);
  // Seconds of the waits since the last call; blocks until they have happened.
  double take();

 private:
  struct Pair {
    cudaEvent_t before = nullptr, after = nullptr;
  };
  void settle(bool block);  // adds up the finished waits, oldest first (all of them when `block`)
  std::deque<Pair> recorded_;
  std::vector<Pair> spare_;
  double seconds_ = 0;
  bool enabled_ = true;
};

}  // namespace pardit::comm
#endif
