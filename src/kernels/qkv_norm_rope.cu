// Fused q/k/v preparation for attention: RMSNorm of q and k per head, the rotary embedding of
// q and k, and the scatter of q, k and v from the projection's [B, S, 3, H, D] output (or
// [B, S, G_in, 3, H/G_in, D], from weights in head-group order) into one
// [G, B, S_out, 3, H/G, D] buffer at a row offset (the text and image streams of a double block
// write into the same buffer: no concatenation; head group g is Ulysses rank g's message, one
// contiguous block). One thread block per token row (several rows when the heads are few), a few
// threads per head, each doing q and k of its part of the head, of two heads at once when a head
// is one 16-byte chunk per thread (v in a second grid row, a copy):
// the index arithmetic is a handful of 32-bit operations per thread, and the row's rotary angles
// are loaded once for q and k of all heads. 16-byte loads; float arithmetic.
// No LibTorch headers here: the ATen-facing checks live in qkv_norm_rope.cpp.
#include <algorithm>
#include <climits>

#include "elements.cuh"
#include "qkv_norm_rope_launch.hpp"

namespace pardit::kernels::detail {
namespace {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 512;  // a row's heads are split into passes beyond this
constexpr int kRowThreads = 256;  // blocks of fewer threads per row take several rows

// Where the threads of a block go, set by the launcher. threadIdx.x = slot << lane_bits | lane:
// 1 << lane_bits lanes per head, `slots` thread slots each holding kHeads heads (slot,
// slot + slots, ...), a row's heads in passes of kHeads * slots (threads past slots * lanes only
// pad a row to whole warps, so no warp spans two rows); threadIdx.y picks the row of the block.
struct Mapping {
  int lane_bits, slots, rows;  // rows: batch * seq
  int64_t group_stride;        // elements of one group of out: batch * out_seq * 3 * heads / groups * head_dim
  bool wide_tables;            // cos and sin 16-byte aligned: float4 loads
};

// The kVec / 2 angles of the pairs of the chunk of kVec elements at p in a row of cos or sin
// (which hold each angle twice; the first copy is read).
template <int kVec>
__device__ inline void load_angles(const float* p, bool wide, float (&angle)[kVec / 2]) {
  if constexpr (kVec % 4 == 0) {
    if (wide) {
#pragma unroll
      for (int i = 0; i < kVec / 4; ++i) {
        const float4 f = __ldg(reinterpret_cast<const float4*>(p) + i);
        angle[2 * i] = f.x;
        angle[2 * i + 1] = f.z;
      }
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < kVec / 2; ++i) angle[i] = __ldg(p + 2 * i);
}

// Each thread holds kChunks chunks of kVec elements of its head, of q and k (blockIdx.y 0) or of
// v (blockIdx.y 1): kVec is 16 bytes' worth when the data allows such loads, else 2 (a rotary
// pair); chunk c of lane l starts at element (c * lanes + l) * kVec. Every thread of a q/k block
// runs the same passes and reaches the shuffles of the RMS reductions (they span the warp); the
// loads and stores are masked. A thread holds kHeads heads at once (slot, slot + slots, ...):
// with one 16-byte chunk per head, two heads put twice the loads in flight per thread.
// With one chunk per lane (Flux's heads) the registers are capped so that two of the largest
// blocks, six of Flux's 192-thread ones, fit on a multiprocessor (bf16: 80 -> 64 registers, 12
// bytes spilled, nvcc 13.0): outputs identical, 2-7% faster alone (perf/kernel_bench,
// perf/results/2026-11-30-h200-qkv-kernel-bench.txt). More chunks would spill far more.
template <typename T, int kVec, int kChunks, int kHeads>
__global__ void __launch_bounds__(kMaxThreads, kChunks == 1 ? 2 : 1) qkv_norm_rope_kernel(QkvNormRopeArgs a, Mapping m) {
  using V = Vec<T, kVec>;
  const int lanes = 1 << m.lane_bits;
  const int lane = static_cast<int>(threadIdx.x) & (lanes - 1), slot = static_cast<int>(threadIdx.x) >> m.lane_bits;
  const int bs = static_cast<int>(blockIdx.x * blockDim.y + threadIdx.y);  // b * seq + s
  const bool row_valid = bs < m.rows;
  const int seq = static_cast<int>(a.seq), b = bs / seq, s = bs - b * seq, row = static_cast<int>(a.row_offset) + s;
  const int heads = static_cast<int>(a.heads), d = static_cast<int>(a.head_dim);
  const int group_heads = heads / static_cast<int>(a.groups), in_group_heads = heads / static_cast<int>(a.in_groups);
  // 64 bits only for the rows' bases: offsets in a row ([G_in, 3, H/G_in, D] in, [3, H/G, D] out)
  // fit in 32.
  const T* in = static_cast<const T*>(a.qkv) + static_cast<int64_t>(bs) * (3 * heads * d);
  // Element offset of head h's q (which 0), k (1) or v (2) in an input row.
  auto in_head = [&](int which, int h) {
    const int g = h / in_group_heads;
    return ((3 * g + which) * in_group_heads + h - g * in_group_heads) * d;
  };
  const int64_t out_row = (static_cast<int64_t>(b) * a.out_seq + row) * (3 * group_heads * d);
  T* const out = static_cast<T*>(a.out) + out_row;
  T* const own = a.own_out == nullptr ? nullptr : static_cast<T*>(a.own_out) + out_row;
  // Group g's part of this row: in out, or in own_out for the own group.
  auto group_out = [&](int g) { return g == a.own_group ? own : out + g * m.group_stride; };

  if (blockIdx.y == 1) {  // v: moved as it is
    if (!row_valid || slot >= m.slots) return;
    for (int h = slot; h < heads; h += m.slots) {
      const int g = h / group_heads, hl = h - g * group_heads;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int e0 = ((c << m.lane_bits) + lane) * kVec;
        if (e0 < d)
          *reinterpret_cast<V*>(group_out(g) + (2 * group_heads + hl) * d + e0) =
              *reinterpret_cast<const V*>(in + in_head(2, h) + e0);
      }
    }
    return;
  }

  // The row's angles serve q and k of every head.
  float cs[kChunks][kVec / 2], sn[kChunks][kVec / 2];
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int e0 = ((c << m.lane_bits) + lane) * kVec;
#pragma unroll
    for (int j = 0; j < kVec / 2; ++j) cs[c][j] = sn[c][j] = 0.f;
    if (!row_valid || e0 >= d) continue;
    load_angles<kVec>(a.cos + static_cast<int64_t>(row) * d + e0, m.wide_tables, cs[c]);
    load_angles<kVec>(a.sin + static_cast<int64_t>(row) * d + e0, m.wide_tables, sn[c]);
  }

  for (int h0 = 0; h0 < heads; h0 += kHeads * m.slots) {  // the same passes for every thread
    int h[kHeads];
    bool valid[kHeads];
    V raw[kHeads][2][kChunks];  // per head: q, k
#pragma unroll
    for (int i = 0; i < kHeads; ++i) {
      h[i] = h0 + i * m.slots + slot;
      valid[i] = row_valid && slot < m.slots && h[i] < heads;
#pragma unroll
      for (int which = 0; which < 2; ++which) {
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          const int e0 = ((c << m.lane_bits) + lane) * kVec;
          raw[i][which][c] = V{};
          if (valid[i] && e0 < d) raw[i][which][c] = *reinterpret_cast<const V*>(in + in_head(which, h[i]) + e0);
        }
      }
    }
    float sum_sq[kHeads][2];
#pragma unroll
    for (int i = 0; i < kHeads; ++i) {
#pragma unroll
      for (int which = 0; which < 2; ++which) {
        sum_sq[i][which] = 0.f;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
#pragma unroll
          for (int j = 0; j < kVec; ++j) {
            const float x = to_float(raw[i][which][c].v[j]);
            sum_sq[i][which] += x * x;
          }
        }
      }
    }
    // Over the lanes, offsets lanes / 2 down to 1; a fixed unrolled loop (the shuffles past the
    // lanes are dropped) takes fewer registers than one bounded by lanes.
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
#pragma unroll
      for (int i = 0; i < kHeads; ++i) {
        const float q = __shfl_xor_sync(0xffffffffu, sum_sq[i][0], offset);
        const float k = __shfl_xor_sync(0xffffffffu, sum_sq[i][1], offset);
        if (offset < lanes) sum_sq[i][0] += q, sum_sq[i][1] += k;
      }
    }
#pragma unroll
    for (int i = 0; i < kHeads; ++i) {
      if (!valid[i]) continue;
      const int g = h[i] / group_heads, hl = h[i] - g * group_heads;
      T* out_head = group_out(g) + hl * d;
#pragma unroll
      for (int which = 0; which < 2; ++which) {
        const float inv_rms = rsqrtf(sum_sq[i][which] / static_cast<float>(d) + (which == 0 ? a.q_eps : a.k_eps));
        const T* weight = static_cast<const T*>(which == 0 ? a.q_weight : a.k_weight);
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          const int e0 = ((c << m.lane_bits) + lane) * kVec;
          if (e0 >= d) continue;
          // Loaded here, not once before the passes: fewer registers, and an L1 hit.
          const V w = *reinterpret_cast<const V*>(weight + e0);
          const V& x = raw[i][which][c];
          V result;
#pragma unroll
          for (int j = 0; j < kVec; j += 2) {
            // The normalised value is rounded to T as the unfused path stores it, then rotated in
            // float by the pair's angle.
            const float y0 = to_float(from_float<T>(to_float(x.v[j]) * inv_rms * to_float(w.v[j])));
            const float y1 = to_float(from_float<T>(to_float(x.v[j + 1]) * inv_rms * to_float(w.v[j + 1])));
            const float cos_a = cs[c][j / 2], sin_a = sn[c][j / 2];
            result.v[j] = from_float<T>(y0 * cos_a - y1 * sin_a);
            result.v[j + 1] = from_float<T>(y1 * cos_a + y0 * sin_a);
          }
          *reinterpret_cast<V*>(out_head + which * group_heads * d + e0) = result;
        }
      }
    }
  }
}

bool aligned(const void* p, int64_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <typename T, int kVec>
cudaError_t launch_chunks(const QkvNormRopeArgs& a, cudaStream_t stream) {
  const int64_t rows = a.batch * a.seq;
  if (rows == 0 || a.heads == 0 || a.head_dim == 0) return cudaSuccess;
  if (rows > INT_MAX / 2 || a.out_seq > INT_MAX || 3 * a.heads * a.head_dim > INT_MAX)
    return cudaErrorInvalidValue;  // past the kernel's 32-bit index arithmetic
  const int64_t chunks = a.head_dim / kVec;
  Mapping m{0, 0, static_cast<int>(rows), a.batch * a.out_seq * 3 * (a.heads / a.groups) * a.head_dim,
            kVec % 4 == 0 && aligned(a.cos, 16) && aligned(a.sin, 16)};
  while ((int64_t{1} << m.lane_bits) < chunks && (1 << m.lane_bits) < kWarp) ++m.lane_bits;
  const int lanes = 1 << m.lane_bits;
  const int64_t per_lane = (chunks + lanes - 1) / lanes;
  // Two heads per thread where a head is one chunk per lane; a row's heads in as few passes as
  // kMaxThreads allows, split evenly; rows stacked in a block up to kRowThreads.
  const int heads_at_once = per_lane == 1 && a.heads >= 2 ? 2 : 1;
  const int64_t thread_heads = (a.heads + heads_at_once - 1) / heads_at_once;
  const int64_t passes = (thread_heads * lanes + kMaxThreads - 1) / kMaxThreads;
  m.slots = static_cast<int>((thread_heads + passes - 1) / passes);
  const int row_threads = (m.slots * lanes + kWarp - 1) / kWarp * kWarp;
  const int block_rows = static_cast<int>(std::min<int64_t>(std::max(1, kRowThreads / row_threads), rows));
  const dim3 block(row_threads, block_rows);
  // Grid row 1 moves v; in place, v already is where it belongs.
  const dim3 grid(static_cast<unsigned>((rows + block_rows - 1) / block_rows), a.in_place ? 1 : 2);
  if (per_lane == 1 && heads_at_once == 2)
    qkv_norm_rope_kernel<T, kVec, 1, 2><<<grid, block, 0, stream>>>(a, m);
  else if (per_lane == 1)
    qkv_norm_rope_kernel<T, kVec, 1, 1><<<grid, block, 0, stream>>>(a, m);
  else if (per_lane == 2)
    qkv_norm_rope_kernel<T, kVec, 2, 1><<<grid, block, 0, stream>>>(a, m);
  else if (per_lane <= 4)
    qkv_norm_rope_kernel<T, kVec, 4, 1><<<grid, block, 0, stream>>>(a, m);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_typed(const QkvNormRopeArgs& a, cudaStream_t stream) {
  if (a.groups < 1 || a.heads % a.groups != 0 || a.in_groups < 1 || a.heads % a.in_groups != 0 ||
      a.head_dim % 2 != 0)
    return cudaErrorInvalidValue;
  constexpr int kWide = 16 / sizeof(T);
  const bool wide = a.head_dim % kWide == 0 && aligned(a.qkv, 16) && aligned(a.out, 16) &&
                    aligned(a.own_out, 16) &&
                    aligned(a.q_weight, 16) && aligned(a.k_weight, 16);
  return wide ? launch_chunks<T, kWide>(a, stream) : launch_chunks<T, 2>(a, stream);
}

}  // namespace

cudaError_t launch_qkv_norm_rope(ElementType type, const QkvNormRopeArgs& args, cudaStream_t stream) {
  return with_element_type(type, [&](auto zero) { return launch_typed<decltype(zero)>(args, stream); });
}

bool qkv_norm_rope_runs_on_current_device() {
  cudaFuncAttributes attributes{};
  const bool ok = cudaFuncGetAttributes(&attributes, qkv_norm_rope_kernel<__nv_bfloat16, 8, 1, 2>) == cudaSuccess;
  if (!ok) (void)cudaGetLastError();  // clear the error this query left
  return ok;
}

}  // namespace pardit::kernels::detail
