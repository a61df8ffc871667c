// Device helpers the kernels share: float conversion of the storage types and aligned vectors.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "element_type.hpp"

namespace pardit::kernels::detail {

__device__ inline float to_float(float x) { return x; }
__device__ inline float to_float(__half x) { return __half2float(x); }
__device__ inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T>
__device__ inline T from_float(float x);
template <>
__device__ inline float from_float<float>(float x) { return x; }
template <>
__device__ inline __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// kVec elements moved as one aligned load or store.
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Vec {
  T v[kVec];
};

// launch(T{}) with T the device type of `type`: one instantiation per storage type.
template <typename Launch>
cudaError_t with_element_type(ElementType type, Launch&& launch) {
  switch (type) {
    case ElementType::f32:
      return launch(float{});
    case ElementType::f16:
      return launch(__half{});
    case ElementType::bf16:
      return launch(__nv_bfloat16{});
  }
  return cudaErrorInvalidValue;
}

}  // namespace pardit::kernels::detail
