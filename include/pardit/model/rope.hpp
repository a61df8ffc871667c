// Flux's 3-axis rotary position embedding (diffusers FluxPosEmbed + apply_rotary_emb).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>

namespace pardit::model {

struct RotaryTable {
  at::Tensor cos;  // [S, head_dim] float32, each angle twice (diffusers' layout)
  at::Tensor sin;  // [S, head_dim] float32
  at::Tensor cis;  // [S, head_dim / 2] complex64: cos + i sin, one per rotated pair
  static RotaryTable from(const at::Tensor& cos, const at::Tensor& sin);
  // Rows [begin, begin+len): the table of a contiguous token range (sequence parallel shards).
  RotaryTable slice(int64_t begin, int64_t len) const;
  // Rows of two ranges, the first then the second (a text slice and an image slice).
  static RotaryTable concat(const RotaryTable& a, const RotaryTable& b);
};

// ids: [S, 3] position ids (text rows are 0; image rows are (0, row, col)).
// Frequencies in float64 like diffusers, cos/sin returned as float32.
RotaryTable rotary_table(const at::Tensor& ids, const std::array<int64_t, 3>& axes_dims, double theta);

// x: [B, S, H, D]; pairs (x[2i], x[2i+1]) rotate by the table's angle: one complex multiply in
// float32 (the same arithmetic as diffusers' x*cos + rotate(x)*sin), returned in x's dtype.
at::Tensor apply_rotary(const at::Tensor& x, const RotaryTable& table);

// Position ids of the packed image tokens: [(h/2)*(w/2), 3] with (0, row, col), row-major.
at::Tensor image_position_ids(int64_t latent_height, int64_t latent_width);
// Position ids of text tokens: [L, 3] zeros.
at::Tensor text_position_ids(int64_t num_text_tokens);

}  // namespace pardit::model
