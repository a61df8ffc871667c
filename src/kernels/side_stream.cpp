#include "pardit/kernels/side_stream.hpp"

#include "pardit/common/error.hpp"

#ifdef PARDIT_HAVE_CUDA_KERNELS
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace pardit::kernels {

#ifdef PARDIT_HAVE_CUDA_KERNELS
struct SideStream::Impl {
  c10::cuda::CUDAStream main, side;
  bool joined = false;
};

SideStream::SideStream(const at::Tensor& like) {
  if (!like.is_cuda()) return;
  const c10::DeviceIndex device = like.device().index();
  impl_ = std::make_unique<Impl>(
      Impl{c10::cuda::getCurrentCUDAStream(device), c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device)});
  at::cuda::CUDAEvent fork;
  fork.record(impl_->main);
  fork.block(impl_->side);
}

SideStream::~SideStream() {
  // Not joined (an exception left the block): order the current stream after the side work
  // anyway, so nothing later reads or frees what it still uses.
  if (impl_ && !impl_->joined) {
    try {
      join({});
    } catch (...) {
    }
  }
}

void SideStream::run(const std::function<void()>& work) {
  if (!impl_) return work();
  PARDIT_CHECK(!impl_->joined, "SideStream::run after join");
  const c10::cuda::CUDAStreamGuard guard(impl_->side);
  work();
}

void SideStream::join(at::ArrayRef<at::Tensor> outputs) {
  if (!impl_) return;
  at::cuda::CUDAEvent done;
  done.record(impl_->side);
  done.block(impl_->main);
  for (const at::Tensor& t : outputs)
    if (t.defined()) c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), impl_->main);
  impl_->joined = true;
}
#else
struct SideStream::Impl {};
SideStream::SideStream(const at::Tensor&) {}
SideStream::~SideStream() = default;
void SideStream::run(const std::function<void()>& work) { work(); }
void SideStream::join(at::ArrayRef<at::Tensor>) {}
#endif

}  // namespace pardit::kernels
