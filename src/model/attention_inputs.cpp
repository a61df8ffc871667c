#include <ATen/ATen.h>

#include "pardit/common/error.hpp"
#include "pardit/model/attention.hpp"

namespace pardit::model {

at::Tensor AttentionInputs::part(int which) const {
  at::Tensor t = qkv.select(1, which);  // [G, B, S, H/G, D]
  if (t.size(0) == 1) return t[0];
  // [B, S, G, H/G, D] -> [B, S, H, D]
  return t.permute({1, 2, 0, 3, 4}).reshape({t.size(1), t.size(2), heads(), t.size(4)});
}

AttentionInputs AttentionInputs::stack(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  PARDIT_CHECK(q.dim() == 4 && k.sizes() == q.sizes() && v.sizes() == q.sizes(),
               "attention inputs must be three [B, S, H, D] tensors of one shape");
  const int64_t bytes = q.numel() * q.element_size();
  auto next = [&](const at::Tensor& a, const at::Tensor& b) {
    return a.is_contiguous() && b.is_contiguous() && a.dtype() == b.dtype() && a.storage().is_alias_of(b.storage()) &&
           static_cast<const char*>(b.const_data_ptr()) == static_cast<const char*>(a.const_data_ptr()) + bytes;
  };
  if (!next(q, k) || !next(k, v)) return {at::stack({q, k, v}).unsqueeze(0)};
  std::vector<int64_t> sizes{1, 3}, strides{3 * q.numel(), q.numel()};
  for (int64_t d = 0; d < q.dim(); ++d) {
    sizes.push_back(q.size(d));
    strides.push_back(q.stride(d));
  }
  return {q.as_strided(sizes, strides, q.storage_offset())};
}

AttentionInputs AttentionInputs::regrouped(int64_t groups) const {
  if (groups == this->groups()) return *this;
  const int64_t H = heads();
  PARDIT_CHECK(groups >= 1 && H % groups == 0, "cannot split {} heads into {} groups", H, groups);
  const at::Tensor all = this->groups() == 1 ? qkv[0] : at::stack({q(), k(), v()});  // [3, B, S, H, D]
  const int64_t B = all.size(1), S = all.size(2), D = all.size(4);
  return {all.reshape({3, B, S, groups, H / groups, D}).permute({3, 0, 1, 2, 4, 5}).contiguous()};
}

}  // namespace pardit::model
