#include "pardit/kernels/qkv_norm_rope.hpp"

#include <ATen/ATen.h>

#include <fmt/ranges.h>

#include <cstdint>

#include "pardit/common/error.hpp"
#include "tensor_checks.hpp"

#ifdef PARDIT_HAVE_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "qkv_norm_rope_launch.hpp"
#endif

namespace pardit::kernels {
namespace {
#ifdef PARDIT_HAVE_CUDA_KERNELS
std::string shape(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }
#endif

// Paired loads and stores need each tensor's data aligned to two elements.
bool pair_aligned(const at::Tensor& t) { return detail::aligned_to(t, 2 * t.element_size()); }

}  // namespace

bool qkv_norm_rope_supports(const at::Tensor& qkv, int64_t head_dim) {
  const at::ScalarType t = qkv.scalar_type();
  if (!fused_kernels_for(qkv) || !(t == at::kFloat || t == at::kHalf || t == at::kBFloat16) || head_dim % 2 != 0 ||
      head_dim <= 0 || head_dim > 256 || !pair_aligned(qkv))
    return false;
  return kernels_run_on(qkv);
}

void qkv_norm_rope(const at::Tensor& qkv, const at::Tensor& q_weight, const at::Tensor& k_weight, double q_eps,
                   double k_eps, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& out,
                   int64_t row_offset, int64_t qkv_groups, const at::Tensor& own_out, int64_t own_group) {
#ifdef PARDIT_HAVE_CUDA_KERNELS
  PARDIT_CHECK(out.dim() == 6 && out.size(3) == 3 && out.is_contiguous(),
               "qkv_norm_rope: out must be a contiguous [G, B, S_out, 3, H/G, D] tensor, got {}", shape(out));
  const int64_t G = out.size(0), B = out.size(1), S_out = out.size(2), H = G * out.size(4), D = out.size(5);
  PARDIT_CHECK(qkv_groups >= 1 && H % qkv_groups == 0, "qkv_norm_rope: {} heads do not split into {} input groups", H,
               qkv_groups);
  PARDIT_CHECK(qkv.dim() == 3 && qkv.size(0) == B && qkv.size(2) == 3 * H * D && qkv.is_contiguous(),
               "qkv_norm_rope: qkv must be a contiguous [{}, S, {}] tensor, got {}", B, 3 * H * D, shape(qkv));
  const int64_t S = qkv.size(1);
  PARDIT_CHECK(row_offset >= 0 && row_offset + S <= S_out, "qkv_norm_rope: rows [{}, {}) outside the {} of out",
               row_offset, row_offset + S, S_out);
  PARDIT_CHECK(D % 2 == 0 && D <= 256, "qkv_norm_rope: head_dim {} must be even and at most 256", D);
  for (const at::Tensor* t : {&q_weight, &k_weight})
    PARDIT_CHECK(t->dim() == 1 && t->size(0) == D && t->is_contiguous() && t->scalar_type() == qkv.scalar_type(),
                 "qkv_norm_rope: norm weights must be contiguous [{}] tensors of the activations' dtype", D);
  for (const at::Tensor* t : {&cos, &sin})
    PARDIT_CHECK(t->dim() == 2 && t->size(0) == S_out && t->size(1) == D && t->is_contiguous() &&
                     t->scalar_type() == at::kFloat,
                 "qkv_norm_rope: rotary tables must be contiguous float32 [{}, {}], got {}", S_out, D, shape(*t));
  PARDIT_CHECK(out.scalar_type() == qkv.scalar_type(), "qkv_norm_rope: out and qkv dtypes differ");
  for (const at::Tensor* t : {&qkv, &q_weight, &k_weight, &cos, &sin, &out})
    PARDIT_CHECK(t->device() == qkv.device(), "qkv_norm_rope: all tensors must be on {}", qkv.device().str());
  PARDIT_CHECK(qkv.is_cuda(), "qkv_norm_rope runs on CUDA tensors only");
  for (const at::Tensor* t : {&qkv, &q_weight, &k_weight, &cos, &sin, &out})
    PARDIT_CHECK(pair_aligned(*t), "qkv_norm_rope: tensor data must be aligned to two elements");
  const c10::cuda::CUDAGuard device_guard(qkv.device());

  // No rows (a stream with no tokens in this slice, as PipeFusion's patches without text rows
  // have): nothing to do. An empty tensor's data pointer is null, so the in-place test below
  // would not recognise it.
  if (S == 0 || B == 0) return;
  const detail::ElementType type = detail::element_type_of(qkv);
  // In place: qkv is exactly out's rows [row_offset, row_offset + S) in one group; any other
  // sharing of memory would race.
  const auto* out_rows = static_cast<const char*>(out.const_data_ptr()) + row_offset * 3 * H * D * out.element_size();
  const bool in_place = G == 1 && qkv_groups == 1 && !own_out.defined() && qkv.const_data_ptr() == out_rows &&
                        (B == 1 || (S == S_out && row_offset == 0));
  PARDIT_CHECK(in_place || !qkv.storage().is_alias_of(out.storage()),
               "qkv_norm_rope: out shares memory with qkv but is not exactly its rows in one group");
  if (own_out.defined()) {
    PARDIT_CHECK(own_group >= 0 && own_group < G, "qkv_norm_rope: own group {} of {}", own_group, G);
    PARDIT_CHECK(own_out.sizes() == out[own_group].unsqueeze(0).sizes() && own_out.is_contiguous() &&
                     own_out.scalar_type() == out.scalar_type() && own_out.device() == out.device() &&
                     pair_aligned(own_out),
                 "qkv_norm_rope: own_out must be a contiguous tensor like one group of out ({}), got {}",
                 shape(out[own_group].unsqueeze(0)), shape(own_out));
    PARDIT_CHECK(!own_out.storage().is_alias_of(qkv.storage()), "qkv_norm_rope: own_out shares memory with qkv");
  }
  const detail::QkvNormRopeArgs args{qkv.data_ptr(), q_weight.data_ptr(), k_weight.data_ptr(),
                                     cos.data_ptr<float>(), sin.data_ptr<float>(), out.data_ptr(),
                                     own_out.defined() ? own_out.data_ptr() : nullptr,
                                     own_out.defined() ? own_group : -1,
                                     B, S, H, D, S_out, row_offset, G, qkv_groups, in_place,
                                     static_cast<float>(q_eps),
                                     static_cast<float>(k_eps)};
  const cudaError_t err = detail::launch_qkv_norm_rope(type, args, c10::cuda::getCurrentCUDAStream(qkv.device().index()));
  PARDIT_CHECK(err == cudaSuccess, "qkv_norm_rope: kernel launch failed: {}", cudaGetErrorString(err));
#else
  PARDIT_CHECK(false, "qkv_norm_rope: this pardit was built without the CUDA kernels (check fused_kernels_for() first)");
#endif
}

}  // namespace pardit::kernels
