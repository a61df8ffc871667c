#include "pardit/kernels/residual_norm_modulate.hpp"

#include <ATen/ATen.h>

#include <fmt/ranges.h>

#include <cstdint>

#include "pardit/common/error.hpp"
#include "pardit/kernels/common.hpp"
#include "tensor_checks.hpp"

#ifdef PARDIT_HAVE_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "residual_norm_modulate_launch.hpp"
#endif

namespace pardit::kernels {
namespace {

bool aligned16(const at::Tensor& t) { return detail::aligned_to(t, 16); }

int64_t max_dim(const at::Tensor& t) { return 1024 * 4 * (16 / t.element_size()); }

// The kernel reads rows b of gate, shift and scale `stride` elements apart (any stride with one row).
int64_t modulation_stride(const at::Tensor& m) { return m.dim() == 2 && m.size(0) > 1 ? m.stride(0) : 0; }

}  // namespace

bool residual_norm_modulate_supports(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y,
                                     const at::Tensor& shift, const at::Tensor& scale) {
  const at::ScalarType t = x.scalar_type();
  if (!(kernels_run_on(x) && (t == at::kFloat || t == at::kHalf || t == at::kBFloat16) && x.dim() == 3 &&
        x.is_contiguous() && (x.size(2) * x.element_size()) % 16 == 0 && x.size(2) <= max_dim(x) && aligned16(x) &&
        y.sizes() == x.sizes() && y.scalar_type() == t && y.is_contiguous() && aligned16(y) &&
        y.device() == x.device()))
    return false;
  const int64_t stride = modulation_stride(gate);
  for (const at::Tensor* m : {&gate, &shift, &scale})
    if (!(m->dim() == 2 && m->size(0) == x.size(0) && m->size(1) == x.size(2) && m->stride(1) == 1 &&
          modulation_stride(*m) == stride && (stride * m->element_size()) % 16 == 0 && m->scalar_type() == t &&
          aligned16(*m) && m->device() == x.device()))
      return false;
  return true;
}

std::pair<at::Tensor, at::Tensor> residual_norm_modulate(const at::Tensor& x, const at::Tensor& gate,
                                                         const at::Tensor& y, const at::Tensor& shift,
                                                         const at::Tensor& scale, double eps) {
#ifdef PARDIT_HAVE_CUDA_KERNELS
  PARDIT_CHECK(residual_norm_modulate_supports(x, gate, y, shift, scale),
               "residual_norm_modulate: x [{}], y [{}] and gate/shift/scale [{}] of {} not supported (see "
               "residual_norm_modulate_supports)",
               fmt::join(x.sizes(), ", "), fmt::join(y.sizes(), ", "), fmt::join(gate.sizes(), ", "),
               c10::toString(x.scalar_type()));
  const int64_t B = x.size(0), S = x.size(1), C = x.size(2), stride = modulation_stride(gate);
  const c10::cuda::CUDAGuard device_guard(x.device());
  at::Tensor out = at::empty_like(x), normed = at::empty_like(x);
  const detail::ElementType type = detail::element_type_of(x);
  const detail::ResidualNormModulateArgs args{x.const_data_ptr(), y.const_data_ptr(), gate.const_data_ptr(),
                                              shift.const_data_ptr(), scale.const_data_ptr(), out.data_ptr(),
                                              normed.data_ptr(), B, S, C, stride, static_cast<float>(eps)};
  const cudaError_t err =
      detail::launch_residual_norm_modulate(type, args, c10::cuda::getCurrentCUDAStream(x.device().index()));
  PARDIT_CHECK(err == cudaSuccess, "residual_norm_modulate: kernel launch failed: {}", cudaGetErrorString(err));
  return {out, normed};
#else
  (void)x, (void)gate, (void)y, (void)shift, (void)scale, (void)eps;
  PARDIT_CHECK(false, "residual_norm_modulate: this pardit was built without the CUDA kernels");
  return {};
#endif
}

}  // namespace pardit::kernels
