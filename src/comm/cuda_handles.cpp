// CudaStream, CudaEvent and StreamWaitTimer (comm/cuda_handles.hpp): CUDA builds only.
#include "pardit/comm/cuda_handles.hpp"

#include <cmath>
#include <utility>

#include "pardit/comm/checks.hpp"

namespace pardit::comm {

CudaStream CudaStream::create() {
  int least = 0, greatest = 0;
  CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  CudaStream s;
  CUDA_CHECK(cudaStreamCreateWithPriority(&s.stream_, cudaStreamNonBlocking, greatest));
  return s;
}

CudaStream::~CudaStream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

CudaEvent::CudaEvent() { CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming)); }

CudaEvent::~CudaEvent() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

StreamWaitTimer::~StreamWaitTimer() {
  auto destroy = [](const Pair& p) {
    cudaEventDestroy(p.before);
    cudaEventDestroy(p.after);
  };
  for (const Pair& p : recorded_) destroy(p);
  for (const Pair& p : spare_) destroy(p);
}

void StreamWaitTimer::wait(cudaStream_t stream, cudaEvent_t done) {
  if (!enabled_) {
    CUDA_CHECK(cudaStreamWaitEvent(stream, done, 0));
    return;
  }
  // With no step boundary to read them (a benchmark of bare exchanges), finished waits are
  // added up here, so the events stay few.
  if (recorded_.size() >= 1024) settle(false);
  Pair p;
  if (spare_.empty()) {
    CUDA_CHECK(cudaEventCreate(&p.before));
    if (const cudaError_t e = cudaEventCreate(&p.after); e != cudaSuccess) {
      cudaEventDestroy(p.before);
      CUDA_CHECK(e);
    }
  } else {
    p = spare_.back();
    spare_.pop_back();
  }
  // Kept for take() only once all three calls went in; else back to the spares.
  cudaError_t e = cudaEventRecord(p.before, stream);
  if (e == cudaSuccess) e = cudaStreamWaitEvent(stream, done, 0);
  if (e == cudaSuccess) e = cudaEventRecord(p.after, stream);
  if (e != cudaSuccess) {
    spare_.push_back(p);
    CUDA_CHECK(e);
  }
  recorded_.push_back(p);
}

void StreamWaitTimer::settle(bool block) {
  while (!recorded_.empty()) {
    const Pair p = recorded_.front();
    if (block) {
      CUDA_CHECK(cudaEventSynchronize(p.after));
    } else if (const cudaError_t e = cudaEventQuery(p.after); e != cudaSuccess) {
      if (e == cudaErrorNotReady) return;  // still to come
      CUDA_CHECK(e);
    }
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, p.before, p.after));
    seconds_ += ms / 1e3;
    recorded_.pop_front();
    spare_.push_back(p);
  }
}

double StreamWaitTimer::take() {
  if (!enabled_) return std::nan("");
  settle(true);
  return std::exchange(seconds_, 0.0);
}

}  // namespace pardit::comm
