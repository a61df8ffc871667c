#include <ATen/ATen.h>

#include "pardit/model/attention.hpp"

namespace pardit::model {

at::Tensor local_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  // [B, S, H, D] -> SDPA's [B, H, S, D] as views; the backend (cuDNN/flash on GPU) takes strides.
  return at::scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
      .transpose(1, 2);
}

}  // namespace pardit::model
