// The launcher of the fused q/k/v kernel: plain pointers and sizes, so the .cu file compiles
// without LibTorch's headers. Checked and called by qkv_norm_rope.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "element_type.hpp"

namespace pardit::kernels::detail {

struct QkvNormRopeArgs {
  const void* qkv;       // [batch, seq, in_groups, 3, heads / in_groups, head_dim], contiguous
  const void* q_weight;  // [head_dim]
  const void* k_weight;  // [head_dim]
  const float* cos;      // [out_seq, head_dim], each angle twice (pair layout)
  const float* sin;      // [out_seq, head_dim]
  void* out;             // [groups, batch, out_seq, 3, heads / groups, head_dim], contiguous
  void* own_out;         // null, or where group own_group goes instead: [batch, out_seq, 3, heads / groups, head_dim]
  int64_t own_group;     // -1 with no own_out
  int64_t batch, seq, heads, head_dim, out_seq, row_offset, groups, in_groups;
  bool in_place;  // out is qkv itself (groups 1, same rows): v is already where it belongs
  float q_eps, k_eps;
};

cudaError_t launch_qkv_norm_rope(ElementType type, const QkvNormRopeArgs& args, cudaStream_t stream);

// Whether this build holds code the current device can run (its architecture was compiled, or
// the embedded PTX can be compiled for it).
bool qkv_norm_rope_runs_on_current_device();

}  // namespace pardit::kernels::detail
