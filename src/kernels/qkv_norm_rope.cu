// Fused q/k/v preparation for attention: RMSNorm of q and k per head, the rotary embedding of
// q and k, and the scatter of q, k and v from the projection's [B, S, 3, H, D] output into one
// [G, B, S_out, 3, H/G, D] buffer at a row offset (the text and image streams of a double block
// write into the same buffer: no concatenation; head group g is Ulysses rank g's message, one
// contiguous block). A few threads per (token, q|k|v, head), 16-byte loads; float arithmetic.
// No LibTorch headers here: the ATen-facing checks live in qkv_norm_rope.cpp.
#include "elements.cuh"
#include "qkv_norm_rope_launch.hpp"

namespace pardit::kernels::detail {
namespace {

constexpr int kWarp = 32;
constexpr int kThreads = 256;

// One item = one head of q, k or v of one token, handled by `lanes` neighbouring threads (a power
// of two, at most a warp), each holding kChunks chunks of kVec elements: kVec is 16 bytes' worth
// when the data allows such loads, else 2 (a rotary pair). Every thread reaches the shuffles of
// the RMS reduction (they span the warp); the loads and stores are masked.
template <typename T, int kVec, int kChunks>
__global__ void __launch_bounds__(kThreads) qkv_norm_rope_kernel(QkvNormRopeArgs a, int lanes) {
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int lane = static_cast<int>(threadIdx.x) & (lanes - 1);
  const int64_t item = thread / lanes;
  // Items enumerate (b, s, which, h), which over q, k, v (or q, k only when v stays in place).
  const int kinds = a.in_place ? 2 : 3;
  const bool valid = item < a.batch * a.seq * kinds * a.heads;
  const int64_t h = item % a.heads;
  const int which = static_cast<int>((item / a.heads) % kinds);  // 0 q, 1 k, 2 v
  const int64_t bs = item / (kinds * a.heads);
  const int64_t s = bs % a.seq, b = bs / a.seq;
  const int64_t row = a.row_offset + s;
  const int64_t d = a.head_dim;

  const T* in = static_cast<const T*>(a.qkv) + ((bs * 3 + which) * a.heads + h) * d;
  const int64_t group_heads = a.heads / a.groups, g = h / group_heads, hl = h % group_heads;
  T* out = static_cast<T*>(a.out) + ((((g * a.batch + b) * a.out_seq + row) * 3 + which) * group_heads + hl) * d;

  using V = Vec<T, kVec>;
  float x[kChunks][kVec];
  float sum_sq = 0.f;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int64_t e0 = (static_cast<int64_t>(c) * lanes + lane) * kVec;
    V raw{};
    if (valid && e0 < d) raw = *reinterpret_cast<const V*>(in + e0);
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      x[c][j] = to_float(raw.v[j]);
      sum_sq += x[c][j] * x[c][j];
    }
  }
  for (int offset = lanes / 2; offset > 0; offset /= 2) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, offset);
  if (!valid) return;
  const float inv_rms = rsqrtf(sum_sq / static_cast<float>(d) + (which == 0 ? a.q_eps : a.k_eps));
  const T* weight = static_cast<const T*>(which == 0 ? a.q_weight : a.k_weight);
  const float* cos_row = a.cos + row * d;
  const float* sin_row = a.sin + row * d;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int64_t e0 = (static_cast<int64_t>(c) * lanes + lane) * kVec;
    if (e0 >= d) continue;
    V result;
    if (which == 2) {  // v: moved as it is
#pragma unroll
      for (int j = 0; j < kVec; ++j) result.v[j] = from_float<T>(x[c][j]);
    } else {
      const V w = *reinterpret_cast<const V*>(weight + e0);
#pragma unroll
      for (int j = 0; j < kVec; j += 2) {
        // The normalised value is rounded to T as the unfused path stores it, then rotated in
        // float by the pair's angle (cos/sin hold each angle twice; the first copy is read).
        const float y0 = to_float(from_float<T>(x[c][j] * inv_rms * to_float(w.v[j])));
        const float y1 = to_float(from_float<T>(x[c][j + 1] * inv_rms * to_float(w.v[j + 1])));
        const float cs = cos_row[e0 + j], sn = sin_row[e0 + j];
        result.v[j] = from_float<T>(y0 * cs - y1 * sn);
        result.v[j + 1] = from_float<T>(y1 * cs + y0 * sn);
      }
    }
    *reinterpret_cast<V*>(out + e0) = result;
  }
}

template <typename T, int kVec>
cudaError_t launch_chunks(const QkvNormRopeArgs& a, cudaStream_t stream) {
  const int64_t chunks = a.head_dim / kVec;
  int lanes = 1;
  while (lanes < chunks && lanes < kWarp) lanes *= 2;
  const int64_t per_lane = (chunks + lanes - 1) / lanes;
  const int64_t items = a.batch * a.seq * (a.in_place ? 2 : 3) * a.heads;
  const int64_t blocks = (items * lanes + kThreads - 1) / kThreads;
  if (blocks == 0) return cudaSuccess;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(blocks));
  if (per_lane == 1)
    qkv_norm_rope_kernel<T, kVec, 1><<<grid, kThreads, 0, stream>>>(a, lanes);
  else if (per_lane == 2)
    qkv_norm_rope_kernel<T, kVec, 2><<<grid, kThreads, 0, stream>>>(a, lanes);
  else if (per_lane <= 4)
    qkv_norm_rope_kernel<T, kVec, 4><<<grid, kThreads, 0, stream>>>(a, lanes);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

bool aligned(const void* p, int64_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <typename T>
cudaError_t launch_typed(const QkvNormRopeArgs& a, cudaStream_t stream) {
  if (a.groups < 1 || a.heads % a.groups != 0 || a.head_dim % 2 != 0) return cudaErrorInvalidValue;
  constexpr int kWide = 16 / sizeof(T);
  const bool wide = a.head_dim % kWide == 0 && aligned(a.qkv, 16) && aligned(a.out, 16) &&
                    aligned(a.q_weight, 16) && aligned(a.k_weight, 16);
  return wide ? launch_chunks<T, kWide>(a, stream) : launch_chunks<T, 2>(a, stream);
}

}  // namespace

cudaError_t launch_qkv_norm_rope(ElementType type, const QkvNormRopeArgs& args, cudaStream_t stream) {
  return with_element_type(type, [&](auto zero) { return launch_typed<decltype(zero)>(args, stream); });
}

bool qkv_norm_rope_runs_on_current_device() {
  cudaFuncAttributes attributes{};
  const bool ok = cudaFuncGetAttributes(&attributes, qkv_norm_rope_kernel<__nv_bfloat16, 8, 1>) == cudaSuccess;
  if (!ok) (void)cudaGetLastError();  // clear the error this query left
  return ok;
}

}  // namespace pardit::kernels::detail
