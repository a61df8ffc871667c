#include <ATen/ATen.h>

#include "pardit/common/error.hpp"
#include "pardit/model/attention.hpp"

namespace pardit::model {

at::Tensor AttentionStrategy::input_buffer(at::IntArrayRef sizes, const at::TensorOptions& options) {
  return at::empty(sizes, options);
}

at::Tensor AttentionInputs::part(int which) const {
  at::Tensor t = qkv.select(3, which);  // [G, B, S, H/G, D]
  if (t.size(0) == 1) return t[0];
  // [B, S, G, H/G, D] -> [B, S, H, D]
  return t.permute({1, 2, 0, 3, 4}).reshape({t.size(1), t.size(2), heads(), t.size(4)});
}

std::optional<StagedInputs> AttentionStrategy::staged_input_buffers(at::IntArrayRef, const at::TensorOptions&) {
  return std::nullopt;
}

void AttentionStrategy::send_staged(const StagedInputs&) {
  PARDIT_CHECK(false, "send_staged() on a strategy that gives no staged input buffers");
}

AttentionInputs AttentionInputs::stack(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  PARDIT_CHECK(q.dim() == 4 && k.sizes() == q.sizes() && v.sizes() == q.sizes(),
               "attention inputs must be three [B, S, H, D] tensors of one shape");
  const int64_t B = q.size(0), S = q.size(1), H = q.size(2), D = q.size(3);
  // Views of one [B, S, 3, H, D] buffer: same strides, k and v H*D elements after q and k.
  const std::vector<int64_t> packed{S * 3 * H * D, 3 * H * D, D, 1};
  auto follows = [&](const at::Tensor& a, const at::Tensor& b) {
    return b.strides() == a.strides() && b.dtype() == a.dtype() && a.storage().is_alias_of(b.storage()) &&
           b.storage_offset() == a.storage_offset() + H * D;
  };
  if ((B == 1 || q.stride(0) == packed[0]) && q.stride(1) == packed[1] && q.stride(2) == D && q.stride(3) == 1 &&
      follows(q, k) && follows(k, v))
    return {q.as_strided({1, B, S, 3, H, D}, {B * S * 3 * H * D, q.stride(0), packed[1], H * D, D, 1},
                         q.storage_offset())};
  return {at::stack({q, k, v}, 2).unsqueeze(0)};
}

AttentionInputs AttentionInputs::regrouped(int64_t groups) const {
  if (groups == this->groups()) return *this;
  const int64_t H = heads();
  PARDIT_CHECK(groups >= 1 && H % groups == 0, "cannot split {} heads into {} groups", H, groups);
  // [G, B, S, 3, H/G, D] -> [B, S, 3, H, D] -> [groups, B, S, 3, H/groups, D]
  const at::Tensor all = this->groups() == 1 ? qkv[0] : qkv.permute({1, 2, 3, 0, 4, 5}).reshape(
                                                             {qkv.size(1), qkv.size(2), 3, H, qkv.size(5)});
  const int64_t B = all.size(0), S = all.size(1), D = all.size(4);
  return {all.reshape({B, S, 3, groups, H / groups, D}).permute({3, 0, 1, 2, 4, 5}).contiguous()};
}

}  // namespace pardit::model
