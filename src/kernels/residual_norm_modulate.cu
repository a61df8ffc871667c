// Fused gated residual, LayerNorm (no affine) and AdaLN modulation of one row per thread block:
//   out = x + gate * y;  normed = (out - mean) / sqrt(var + eps) * (1 + scale) + shift
// with the roundings of the LibTorch path (addcmul, then layer_norm with weight 1 + scale rounded
// to the storage type and bias shift): out is rounded before it is normalised. The row stays in
// registers, so the mean and the variance are two exact passes over it. 16-byte loads and stores.
// No LibTorch headers here: the ATen-facing checks live in residual_norm_modulate.cpp.
#include "elements.cuh"
#include "residual_norm_modulate_launch.hpp"

namespace pardit::kernels::detail {
namespace {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 1024;

// Sum over the block; every thread gets the result. `shared` holds one float per warp.
__device__ float block_sum(float v, float* shared) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, warps = (blockDim.x + kWarp - 1) / kWarp;
  __syncthreads();  // shared is reused between calls
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < warps; ++w) total += shared[w];
  return total;
}

template <typename T, int kChunks>
__global__ void __launch_bounds__(kMaxThreads) residual_norm_modulate_kernel(ResidualNormModulateArgs a) {
  constexpr int kVec = 16 / sizeof(T);
  using V = Vec<T, kVec>;
  __shared__ float shared[kMaxThreads / kWarp];
  const int64_t row = blockIdx.x;
  const int64_t b = row / a.seq;
  const T* x = static_cast<const T*>(a.x) + row * a.dim;
  const T* y = static_cast<const T*>(a.y) + row * a.dim;
  const T* gate = static_cast<const T*>(a.gate) + b * a.mod_stride;
  const T* shift = static_cast<const T*>(a.shift) + b * a.mod_stride;
  const T* scale = static_cast<const T*>(a.scale) + b * a.mod_stride;
  T* out = static_cast<T*>(a.out) + row * a.dim;
  T* normed = static_cast<T*>(a.normed) + row * a.dim;

  float v[kChunks][kVec];
  float sum = 0.f;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int64_t e0 = (static_cast<int64_t>(c) * blockDim.x + threadIdx.x) * kVec;
    if (e0 >= a.dim) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[c][j] = 0.f;
      continue;
    }
    const V xv = *reinterpret_cast<const V*>(x + e0), yv = *reinterpret_cast<const V*>(y + e0);
    const V gv = *reinterpret_cast<const V*>(gate + e0);
    V ov;
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      ov.v[j] = from_float<T>(to_float(xv.v[j]) + to_float(gv.v[j]) * to_float(yv.v[j]));
      v[c][j] = to_float(ov.v[j]);  // normalised as stored
      sum += v[c][j];
    }
    *reinterpret_cast<V*>(out + e0) = ov;
  }
  const float mean = block_sum(sum, shared) / static_cast<float>(a.dim);
  float sq = 0.f;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int64_t e0 = (static_cast<int64_t>(c) * blockDim.x + threadIdx.x) * kVec;
    if (e0 >= a.dim) continue;
#pragma unroll
    for (int j = 0; j < kVec; ++j) sq += (v[c][j] - mean) * (v[c][j] - mean);
  }
  const float rstd = rsqrtf(block_sum(sq, shared) / static_cast<float>(a.dim) + a.eps);
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int64_t e0 = (static_cast<int64_t>(c) * blockDim.x + threadIdx.x) * kVec;
    if (e0 >= a.dim) continue;
    const V sv = *reinterpret_cast<const V*>(scale + e0), hv = *reinterpret_cast<const V*>(shift + e0);
    V nv;
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      const float w = to_float(from_float<T>(1.f + to_float(sv.v[j])));  // the path's bf16/fp16 weight
      nv.v[j] = from_float<T>((v[c][j] - mean) * rstd * w + to_float(hv.v[j]));
    }
    *reinterpret_cast<V*>(normed + e0) = nv;
  }
}

template <typename T>
cudaError_t launch_typed(const ResidualNormModulateArgs& a, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  if (a.dim <= 0 || a.dim % kVec != 0) return cudaErrorInvalidValue;
  const int64_t vectors = a.dim / kVec;
  const int64_t chunks = (vectors + kMaxThreads - 1) / kMaxThreads;
  const int64_t threads_needed = (vectors + chunks - 1) / chunks;
  const int threads = static_cast<int>((threads_needed + kWarp - 1) / kWarp * kWarp);
  const int64_t rows = a.batch * a.seq;
  if (rows == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(rows));
  if (chunks == 1)
    residual_norm_modulate_kernel<T, 1><<<grid, threads, 0, stream>>>(a);
  else if (chunks == 2)
    residual_norm_modulate_kernel<T, 2><<<grid, threads, 0, stream>>>(a);
  else if (chunks <= 4)
    residual_norm_modulate_kernel<T, 4><<<grid, threads, 0, stream>>>(a);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_residual_norm_modulate(ElementType type, const ResidualNormModulateArgs& args,
                                          cudaStream_t stream) {
  return with_element_type(type, [&](auto zero) { return launch_typed<decltype(zero)>(args, stream); });
}

}  // namespace pardit::kernels::detail
