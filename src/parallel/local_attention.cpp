#include <ATen/ATen.h>

#include "pardit/common/env.hpp"
#include "pardit/model/attention.hpp"

namespace pardit::model {
namespace {

enum class Backend { sdpa, cudnn, flash };

// PARDIT_ATTENTION=sdpa|cudnn|flash picks the GPU kernel for benchmarks; the default is cuDNN,
// the fastest on H100/H200 for Flux's shapes (../shared/reference/h200-baseline.md).
Backend gpu_backend() {
  static const Backend backend = env_is("PARDIT_ATTENTION", "sdpa")    ? Backend::sdpa
                                  : env_is("PARDIT_ATTENTION", "flash") ? Backend::flash
                                                                        : Backend::cudnn;
  return backend;
}

}  // namespace

at::Tensor local_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  // [B, S, H, D] -> [B, H, S, D] as views; the kernels take strides (last dim contiguous).
  at::Tensor qt = q.transpose(1, 2), kt = k.transpose(1, 2), vt = v.transpose(1, 2);
  const bool half = q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf;
  if (q.is_cuda() && half && gpu_backend() != Backend::sdpa) {
    static bool cudnn_works = true;  // falls back once if this cuDNN cannot take the shape
    if (gpu_backend() == Backend::cudnn && cudnn_works) {
      try {
        return std::get<0>(at::_scaled_dot_product_cudnn_attention(qt, kt, vt, /*attn_bias=*/{},
                                                                   /*compute_log_sumexp=*/false))
            .transpose(1, 2);
      } catch (const c10::Error&) {
        cudnn_works = false;
      }
    }
    return std::get<0>(at::_scaled_dot_product_flash_attention(qt, kt, vt)).transpose(1, 2);
  }
  return at::scaled_dot_product_attention(qt, kt, vt).transpose(1, 2);
}

}  // namespace pardit::model
