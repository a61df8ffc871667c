// Fused q/k/v preparation for attention: RMSNorm of q and k per head, the rotary embedding of
// q and k, and the scatter of q, k and v from the projection's [B, S, 3, H, D] output into one
// [G, B, S_out, 3, H/G, D] buffer at a row offset (the text and image streams of a double block
// write into the same buffer: no concatenation; head group g is Ulysses rank g's message, one
// contiguous block). One warp per (token, q|k|v, head); float arithmetic.
// No LibTorch headers here: the ATen-facing checks live in qkv_norm_rope.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "qkv_norm_rope_launch.hpp"

namespace pardit::kernels::detail {
namespace {

constexpr int kWarp = 32;
constexpr int kThreads = 256;

// Two neighbouring elements (a rotary pair) loaded and stored as one word, converted to float.
template <typename T>
struct Pair;

template <>
struct Pair<float> {
  static __device__ float2 load(const float* p) { return *reinterpret_cast<const float2*>(p); }
  static __device__ void store(float* p, float2 v) { *reinterpret_cast<float2*>(p) = v; }
  static __device__ float2 round(float2 v) { return v; }
};

template <>
struct Pair<__half> {
  static __device__ float2 load(const __half* p) { return __half22float2(*reinterpret_cast<const __half2*>(p)); }
  static __device__ void store(__half* p, float2 v) { *reinterpret_cast<__half2*>(p) = __float22half2_rn(v); }
  static __device__ float2 round(float2 v) { return __half22float2(__float22half2_rn(v)); }
};

template <>
struct Pair<__nv_bfloat16> {
  static __device__ float2 load(const __nv_bfloat16* p) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
  }
  static __device__ void store(__nv_bfloat16* p, float2 v) {
    *reinterpret_cast<__nv_bfloat162*>(p) = __float22bfloat162_rn(v);
  }
  static __device__ float2 round(float2 v) { return __bfloat1622float2(__float22bfloat162_rn(v)); }
};

// kPairs: rotary pairs per lane (head_dim <= 64 * kPairs).
template <typename T, int kPairs>
__global__ void __launch_bounds__(kThreads) qkv_norm_rope_kernel(QkvNormRopeArgs a) {
  const int64_t item = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / kWarp;
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  // item enumerates (b, s, which, h) in the input's row-major order; a whole warp shares it.
  if (item >= a.batch * a.seq * 3 * a.heads) return;
  const int64_t h = item % a.heads;
  const int which = static_cast<int>((item / a.heads) % 3);  // 0 q, 1 k, 2 v
  const int64_t bs = item / (3 * a.heads);
  const int64_t s = bs % a.seq, b = bs / a.seq;
  if (which == 2 && a.in_place) return;  // v is already in place
  const int64_t row = a.row_offset + s;
  const int64_t d = a.head_dim, pairs = a.head_dim / 2;

  const T* in = static_cast<const T*>(a.qkv) + item * d;
  const int64_t group_heads = a.heads / a.groups, g = h / group_heads, hl = h % group_heads;
  T* out = static_cast<T*>(a.out) +
           ((((g * a.batch + b) * a.out_seq + row) * 3 + which) * group_heads + hl) * d;

  float2 x[kPairs];
  float sum_sq = 0.f;
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    const int64_t p = lane + kWarp * i;
    x[i] = p < pairs ? Pair<T>::load(in + 2 * p) : make_float2(0.f, 0.f);
    sum_sq += x[i].x * x[i].x + x[i].y * x[i].y;
  }
  if (which == 2) {  // v: moved as it is
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      const int64_t p = lane + kWarp * i;
      if (p < pairs) Pair<T>::store(out + 2 * p, x[i]);
    }
    return;
  }
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, offset);
  const float inv_rms = rsqrtf(sum_sq / static_cast<float>(d) + (which == 0 ? a.q_eps : a.k_eps));
  const T* weight = static_cast<const T*>(which == 0 ? a.q_weight : a.k_weight);
  const float* cos_row = a.cos + row * d;
  const float* sin_row = a.sin + row * d;
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    const int64_t p = lane + kWarp * i;
    if (p >= pairs) continue;
    const float2 w = Pair<T>::load(weight + 2 * p);
    // The normalised value is rounded to T as the unfused path stores it, then rotated in float.
    const float2 y = Pair<T>::round(make_float2(x[i].x * inv_rms * w.x, x[i].y * inv_rms * w.y));
    const float c = cos_row[2 * p], sn = sin_row[2 * p];
    Pair<T>::store(out + 2 * p, make_float2(y.x * c - y.y * sn, y.y * c + y.x * sn));
  }
}

template <typename T>
cudaError_t launch_typed(const QkvNormRopeArgs& a, cudaStream_t stream) {
  const int64_t items = a.batch * a.seq * 3 * a.heads;
  if (a.groups < 1 || a.heads % a.groups != 0) return cudaErrorInvalidValue;
  const int64_t blocks = (items * kWarp + kThreads - 1) / kThreads;
  if (blocks == 0) return cudaSuccess;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(blocks));
  const int64_t pairs = a.head_dim / 2;
  if (pairs <= kWarp)
    qkv_norm_rope_kernel<T, 1><<<grid, kThreads, 0, stream>>>(a);
  else if (pairs <= 2 * kWarp)
    qkv_norm_rope_kernel<T, 2><<<grid, kThreads, 0, stream>>>(a);
  else if (pairs <= 4 * kWarp)
    qkv_norm_rope_kernel<T, 4><<<grid, kThreads, 0, stream>>>(a);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_qkv_norm_rope(ElementType type, const QkvNormRopeArgs& args, cudaStream_t stream) {
  switch (type) {
    case ElementType::f32:
      return launch_typed<float>(args, stream);
    case ElementType::f16:
      return launch_typed<__half>(args, stream);
    case ElementType::bf16:
      return launch_typed<__nv_bfloat16>(args, stream);
  }
  return cudaErrorInvalidValue;
}

bool qkv_norm_rope_runs_on_current_device() {
  cudaFuncAttributes attributes{};
  const bool ok = cudaFuncGetAttributes(&attributes, qkv_norm_rope_kernel<__nv_bfloat16, 2>) == cudaSuccess;
  if (!ok) (void)cudaGetLastError();  // clear the error this query left
  return ok;
}

}  // namespace pardit::kernels::detail
