#include "pardit/model/layers.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "pardit/kernels/residual_norm_modulate.hpp"

namespace pardit::model {

at::Tensor Linear::forward(const at::Tensor& x) const { return at::linear(x, weight, bias); }

void Linear::visit(const std::string& prefix, const ParamVisitor& v) {
  v(join_key(prefix, "weight"), weight, {out_features, in_features});
  v(join_key(prefix, "bias"), bias, {out_features});
}

at::Tensor RMSNorm::forward(const at::Tensor& x) const { return at::rms_norm(x, {dim}, weight, eps); }

void RMSNorm::visit(const std::string& prefix, const ParamVisitor& v) {
  v(join_key(prefix, "weight"), weight, {dim});
}

at::Tensor layer_norm_no_affine(const at::Tensor& x) {
  return at::layer_norm(x, {x.size(-1)}, /*weight=*/{}, /*bias=*/{}, 1e-6);
}

at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  return at::addcmul(shift.unsqueeze(1), x, 1 + scale.unsqueeze(1));
}

at::Tensor norm_modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  if (x.size(0) != 1) return modulate(layer_norm_no_affine(x), shift, scale);
  return at::layer_norm(x, {x.size(-1)}, 1 + scale[0], shift[0], 1e-6);
}

at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y) {
  return at::addcmul(x, gate.unsqueeze(1), y);
}

std::pair<at::Tensor, at::Tensor> gated_residual_norm_modulate(const at::Tensor& x, const at::Tensor& gate,
                                                               const at::Tensor& y, const at::Tensor& shift,
                                                               const at::Tensor& scale) {
  if (kernels::residual_norm_modulate_supports(x, gate, y, shift, scale)) return kernels::residual_norm_modulate(x, gate, y, shift, scale, 1e-6);
  at::Tensor out = gated_residual(x, gate, y);
  return {out, norm_modulate(out, shift, scale)};
}

at::Tensor PendingResidual::value() const { return gate.defined() ? gated_residual(x, gate, y) : x; }

std::pair<at::Tensor, at::Tensor> PendingResidual::value_and_norm(const at::Tensor& shift,
                                                                  const at::Tensor& scale) const {
  if (!gate.defined()) return {x, norm_modulate(x, shift, scale)};
  return gated_residual_norm_modulate(x, gate, y, shift, scale);
}

PendingResidual PendingResidual::rows(int64_t start, int64_t count) const {
  if (!gate.defined()) return of(x.narrow(1, start, count));
  return {x.narrow(1, start, count), gate, y.narrow(1, start, count)};
}

at::Tensor linear_gelu_tanh(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!x.is_cuda()) return at::gelu(at::linear(x, weight, bias), "tanh");
  at::Tensor x2 = x.reshape({-1, x.size(-1)});
  at::Tensor y = at::_addmm_activation(bias, x2, weight.t(), 1, 1, /*use_gelu=*/true);
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = weight.size(0);
  return y.view(shape);
}

at::Tensor timestep_projection(const at::Tensor& t, int64_t num_channels) {
  // Same float32 arithmetic as diffusers get_timestep_embedding(flip_sin_to_cos=True, shift=0).
  const int64_t half = num_channels / 2;
  auto opts = at::TensorOptions().dtype(at::kFloat).device(t.device());
  at::Tensor exponent = at::arange(0, half, opts) * (-std::log(10000.0)) / static_cast<double>(half);
  at::Tensor emb = t.to(at::kFloat).unsqueeze(1) * at::exp(exponent).unsqueeze(0);  // [B, half]
  return at::cat({at::cos(emb), at::sin(emb)}, -1);
}

at::Tensor MlpEmbedder::forward(const at::Tensor& x) const {
  return linear_2.forward(at::silu(linear_1.forward(x)));
}

void MlpEmbedder::visit(const std::string& prefix, const ParamVisitor& v) {
  linear_1.visit(join_key(prefix, "linear_1"), v);
  linear_2.visit(join_key(prefix, "linear_2"), v);
}

at::Tensor FeedForward::forward(const at::Tensor& x) const {
  return net_2.forward(linear_gelu_tanh(x, net_0_proj.weight, net_0_proj.bias));
}

void FeedForward::visit(const std::string& prefix, const ParamVisitor& v) {
  net_0_proj.visit(join_key(prefix, "net.0.proj"), v);
  net_2.visit(join_key(prefix, "net.2"), v);
}

}  // namespace pardit::model
