#include "pardit/model/rope.hpp"

#include <ATen/ATen.h>

namespace pardit::model {

RotaryTable RotaryTable::from(const at::Tensor& cos, const at::Tensor& sin) {
  // The table repeats each angle for the two members of a pair: take every other column.
  const int64_t d = cos.size(1);
  at::Tensor cis = at::complex(cos.slice(1, 0, d, 2).contiguous(), sin.slice(1, 0, d, 2).contiguous());
  return {cos, sin, cis};
}

RotaryTable RotaryTable::slice(int64_t begin, int64_t len) const {
  return {cos.narrow(0, begin, len), sin.narrow(0, begin, len), cis.narrow(0, begin, len)};
}

RotaryTable RotaryTable::concat(const RotaryTable& a, const RotaryTable& b) {
  return {at::cat({a.cos, b.cos}), at::cat({a.sin, b.sin}), at::cat({a.cis, b.cis})};
}

RotaryTable rotary_table(const at::Tensor& ids, const std::array<int64_t, 3>& axes_dims, double theta) {
  // ids: [S, 3]
  at::Tensor pos = ids.to(at::kFloat).to(at::kDouble);  // diffusers: ids.float(), then float64 outer product
  std::vector<at::Tensor> cos_parts, sin_parts;
  auto opts = at::TensorOptions().dtype(at::kDouble).device(ids.device());
  for (int axis = 0; axis < 3; ++axis) {
    const int64_t dim = axes_dims[axis];
    at::Tensor freqs = 1.0 / at::pow(theta, at::arange(0, dim, 2, opts) / static_cast<double>(dim));  // [dim/2]
    at::Tensor angles = at::outer(pos.select(1, axis), freqs);                                     // [S, dim/2]
    cos_parts.push_back(angles.cos().repeat_interleave(2, 1).to(at::kFloat));
    sin_parts.push_back(angles.sin().repeat_interleave(2, 1).to(at::kFloat));
  }
  return RotaryTable::from(at::cat(cos_parts, -1), at::cat(sin_parts, -1));
}

at::Tensor apply_rotary(const at::Tensor& x, const RotaryTable& table) {
  // x: [B, S, H, D] -> complex [B, S, H, D/2] times cis [1, S, 1, D/2]
  at::Tensor xc = at::view_as_complex(x.to(at::kFloat).contiguous().unflatten(-1, {-1, 2}));
  at::Tensor rotated = xc * table.cis.unsqueeze(0).unsqueeze(2);
  return at::view_as_real(rotated).flatten(3).to(x.scalar_type());
}

at::Tensor image_position_ids(int64_t latent_height, int64_t latent_width) {
  const int64_t rows = latent_height / 2, cols = latent_width / 2;
  at::Tensor ids = at::zeros({rows, cols, 3}, at::kFloat);
  ids.select(2, 1).add_(at::arange(rows, at::kFloat).unsqueeze(1));
  ids.select(2, 2).add_(at::arange(cols, at::kFloat).unsqueeze(0));
  return ids.reshape({rows * cols, 3});
}

at::Tensor text_position_ids(int64_t num_text_tokens) { return at::zeros({num_text_tokens, 3}, at::kFloat); }

}  // namespace pardit::model
