// Work that runs beside the caller's stream on one GPU, so that two independent kernels fill
// what each other's last wave leaves idle (attention and the MLP products beside it: see
// model::attention_side_streams). On the CPU, or without this build's CUDA code, the work simply
// runs in place.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace pardit::kernels {

// SideStream side(x);            // fork: the side stream waits for the work enqueued so far
// ... enqueue work on the current stream ...
// side.run([&] { ... });         // enqueued on the side stream
// side.join({a, b});             // the current stream waits for the side stream
// Tensors made on the side stream and used afterwards on the current one are passed to join(),
// which tells the caching allocator (then their memory is not reused before the current stream's
// later work is done with it); tensors the side work reads must live until join().
class SideStream {
 public:
  explicit SideStream(const at::Tensor& like);
  ~SideStream();
  SideStream(const SideStream&) = delete;
  SideStream& operator=(const SideStream&) = delete;

  void run(const std::function<void()>& work);
  void join(at::ArrayRef<at::Tensor> outputs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;  // null: runs in place
};

}  // namespace pardit::kernels
