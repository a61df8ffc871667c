// RAII for CUDA streams and events (CUDA builds only). Non-copyable, movable.
#pragma once

#ifdef PARDIT_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <utility>

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

}  // namespace pardit::comm
#endif
