// The small layers a Flux transformer is made of, named like diffusers' modules so that a
// checkpoint key ("transformer_blocks.3.ff.net.0.proj.weight") is the path of struct members.
//
// Parameters are plain at::Tensor members; `visit` lists each with its checkpoint name and
// expected shape, which is all weight loading, random init and dtype casts need.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

#include <functional>
#include <string>
#include <vector>

namespace pardit::model {

// name: full checkpoint key; param: the member to fill; shape: what the architecture expects.
using ParamVisitor = std::function<void(const std::string& name, at::Tensor& param, const std::vector<int64_t>& shape)>;

inline std::string join_key(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

struct Linear {
  int64_t in_features = 0, out_features = 0;
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out]
  Linear() = default;
  Linear(int64_t in, int64_t out) : in_features(in), out_features(out) {}
  at::Tensor forward(const at::Tensor& x) const;  // x: [..., in] -> [..., out]
  void visit(const std::string& prefix, const ParamVisitor& v);
};

// torch.nn.RMSNorm over the last dim with a learned scale (q/k norms, eps 1e-6).
struct RMSNorm {
  int64_t dim = 0;
  double eps = 1e-6;
  at::Tensor weight;  // [dim]
  RMSNorm() = default;
  explicit RMSNorm(int64_t d) : dim(d) {}
  at::Tensor forward(const at::Tensor& x) const;
  void visit(const std::string& prefix, const ParamVisitor& v);
};

// LayerNorm without affine parameters, eps 1e-6 (every Flux norm that AdaLN modulates).
at::Tensor layer_norm_no_affine(const at::Tensor& x);
// x * (1 + scale[:, None]) + shift[:, None]; x: [B, S, D], scale/shift: [B, D].
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale);
// modulate(layer_norm_no_affine(x), shift, scale). With batch 1 the modulation is a per-feature
// affine, so it runs as one fused layer_norm kernel (one rounding instead of two).
at::Tensor norm_modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale);
// x + gate[:, None] * y in one kernel (AdaLN-Zero gated residual).
at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y);
// gated_residual(x, gate, y), then norm_modulate of the result: {residual, normalised}. One fused
// kernel (kernels::residual_norm_modulate) when it takes the tensors, else the two LibTorch ops.
std::pair<at::Tensor, at::Tensor> gated_residual_norm_modulate(const at::Tensor& x, const at::Tensor& gate,
                                                               const at::Tensor& y, const at::Tensor& shift,
                                                               const at::Tensor& scale);

// A block's output x + gate[:, None] * y, left unevaluated: the next block's first LayerNorm
// reads it, so the residual and that norm run as one fused pass (gated_residual_norm_modulate)
// instead of an addcmul at the end of one block and a layer_norm at the start of the next.
// Without a gate it is x itself (the embeddings, or a value already evaluated).
struct PendingResidual {
  at::Tensor x, gate, y;  // x: [B, S, D]; gate: [B, D] or undefined; y like x

  static PendingResidual of(at::Tensor value) { return {std::move(value), {}, {}}; }
  at::Tensor value() const;
  // {value(), norm_modulate(value(), shift, scale)}
  std::pair<at::Tensor, at::Tensor> value_and_norm(const at::Tensor& shift, const at::Tensor& scale) const;
  // Rows [start, start + count) of the sequence.
  PendingResidual rows(int64_t start, int64_t count) const;
};

// gelu_tanh(x W^T + b). On CUDA the GELU runs in the cuBLASLt GEMM epilogue (tanh form, as
// diffusers' "gelu-approximate"); elsewhere as a separate op (ATen's CPU epilogue is erf-GELU).
at::Tensor linear_gelu_tanh(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// Sinusoidal projection of a timestep (diffusers Timesteps(256, flip_sin_to_cos=True, shift=0)).
// t: [B] float -> [B, num_channels] float32.
at::Tensor timestep_projection(const at::Tensor& t, int64_t num_channels = 256);

// linear_1 -> SiLU -> linear_2 (diffusers TimestepEmbedding and PixArtAlphaTextProjection(silu)).
struct MlpEmbedder {
  Linear linear_1, linear_2;
  MlpEmbedder() = default;
  MlpEmbedder(int64_t in, int64_t out) : linear_1(in, out), linear_2(out, out) {}
  at::Tensor forward(const at::Tensor& x) const;
  void visit(const std::string& prefix, const ParamVisitor& v);
};

// GELU(tanh) MLP with keys net.0.proj and net.2 (diffusers FeedForward "gelu-approximate").
struct FeedForward {
  Linear net_0_proj, net_2;
  FeedForward() = default;
  FeedForward(int64_t dim, int64_t hidden) : net_0_proj(dim, hidden), net_2(hidden, dim) {}
  at::Tensor forward(const at::Tensor& x) const;  // x: [B, S, dim]
  void visit(const std::string& prefix, const ParamVisitor& v);
};

}  // namespace pardit::model
