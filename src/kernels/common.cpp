#include "pardit/kernels/common.hpp"

#include <cstdint>
#include <mutex>
#include <vector>

#include "pardit/common/env.hpp"
#include "pardit/common/error.hpp"
#include "tensor_checks.hpp"

#ifdef PARDIT_HAVE_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>

#include "qkv_norm_rope_launch.hpp"
#endif

namespace pardit::kernels {

bool fused_kernels_for(const at::Tensor& t) {
#ifdef PARDIT_HAVE_CUDA_KERNELS
  static const bool enabled = !env_is("PARDIT_FUSED_KERNELS", "0");
  return enabled && t.is_cuda();
#else
  (void)t;
  return false;
#endif
}

bool kernels_run_on(const at::Tensor& t) {
#ifdef PARDIT_HAVE_CUDA_KERNELS
  if (!fused_kernels_for(t)) return false;
  static std::mutex mutex;
  static std::vector<int> known;  // per device index: -1 unknown, 0 no, 1 yes
  std::lock_guard<std::mutex> lock(mutex);
  const auto index = static_cast<size_t>(t.device().index());
  if (known.size() <= index) known.resize(index + 1, -1);
  if (known[index] < 0) {
    const c10::cuda::CUDAGuard guard(t.device());
    // Every kernel file is compiled for the same architectures: one kernel's code stands for all.
    known[index] = detail::qkv_norm_rope_runs_on_current_device() ? 1 : 0;
  }
  return known[index] == 1;
#else
  (void)t;
  return false;
#endif
}

namespace detail {

ElementType element_type_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return ElementType::f32;
    case at::kHalf: return ElementType::f16;
    case at::kBFloat16: return ElementType::bf16;
    default: PARDIT_CHECK(false, "the CUDA kernels take float32, float16 or bfloat16, not {}", c10::toString(t.scalar_type()));
  }
  return ElementType::f32;  // not reached
}

bool aligned_to(const at::Tensor& t, int64_t bytes) {
  return reinterpret_cast<std::uintptr_t>(t.const_data_ptr()) % static_cast<std::uintptr_t>(bytes) == 0;
}

}  // namespace detail

}  // namespace pardit::kernels
