// What the custom CUDA kernels (src/kernels/) share: whether they may run on a tensor. Each kernel
// has a LibTorch path that computes the same; the model takes the kernel when its *_supports()
// says so. PARDIT_FUSED_KERNELS=0 turns them all off (benchmarks measure before/after with it).
#pragma once

#include <ATen/core/Tensor.h>

namespace pardit::kernels {

// True when this build has the CUDA kernels, the tensor is on a GPU and they are not turned off.
bool fused_kernels_for(const at::Tensor& t);

// fused_kernels_for(t), and this build holds kernel code that t's GPU can run.
bool kernels_run_on(const at::Tensor& t);

}  // namespace pardit::kernels
