// Ulysses sequence parallelism: trade the sequence shard for a head shard with one all-to-all,
// attend over the whole sequence locally, trade back.
#include <ATen/ATen.h>

#include "pardit/parallel/sequence_parallel.hpp"

namespace pardit::parallel {
namespace {

// q, k, v as one [3, B, S, H, D] tensor: a view when they are consecutive blocks of one buffer
// (as the fused q/k/v kernel of src/kernels writes them), otherwise a copy.
at::Tensor stacked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t bytes = q.numel() * q.element_size();
  auto next = [&](const at::Tensor& a, const at::Tensor& b) {
    return a.is_contiguous() && b.is_contiguous() && a.sizes() == b.sizes() && a.dtype() == b.dtype() &&
           a.storage().is_alias_of(b.storage()) &&
           static_cast<const char*>(b.const_data_ptr()) == static_cast<const char*>(a.const_data_ptr()) + bytes;
  };
  if (!next(q, k) || !next(k, v)) return at::stack({q, k, v});
  std::vector<int64_t> sizes{3}, strides{q.numel()};
  for (int64_t d = 0; d < q.dim(); ++d) {
    sizes.push_back(q.size(d));
    strides.push_back(q.stride(d));
  }
  return q.as_strided(sizes, strides, q.storage_offset());
}

}  // namespace

std::array<at::Tensor, 3> ulysses_scatter_heads(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                                const at::Tensor& v) {
  const int64_t U = ulysses.size();
  if (U == 1) return {q, k, v};
  const int64_t B = q.size(0), S = q.size(1), H = q.size(2), D = q.size(3);
  // [3, B, S, U, H/U, D] -> [U, 3, B, S, H/U, D]: block j (dim 0) holds head group j for rank j.
  at::Tensor send = stacked(q, k, v).view({3, B, S, U, H / U, D}).permute({3, 0, 1, 2, 4, 5}).contiguous();
  at::Tensor recv = at::empty_like(send);
  ulysses.all_to_all(send, recv);
  // recv block i: rank i's tokens of my head group -> [3, B, U*S, H/U, D], rank-major sequence.
  at::Tensor qkv = recv.permute({1, 2, 0, 3, 4, 5}).reshape({3, B, U * S, H / U, D});
  return {qkv[0], qkv[1], qkv[2]};
}

at::Tensor ulysses_gather_heads(comm::Communicator& ulysses, const at::Tensor& out) {
  const int64_t U = ulysses.size();
  if (U == 1) return out;
  const int64_t B = out.size(0), S = out.size(1) / U, Hl = out.size(2), D = out.size(3);
  // [B, U*S, H/U, D] -> [U, B, S, H/U, D]: block j holds rank j's tokens.
  at::Tensor send = out.view({B, U, S, Hl, D}).permute({1, 0, 2, 3, 4}).contiguous();
  at::Tensor recv = at::empty_like(send);
  ulysses.all_to_all(send, recv);
  // recv block i: head group i of my tokens -> [B, S, U*H/U, D]
  return recv.permute({1, 2, 0, 3, 4}).reshape({B, S, U * Hl, D});
}

TokenSlice TokenSlice::of(int64_t total, int parts, int index) {
  const int64_t count = total / parts;
  return {count * index, count};
}

}  // namespace pardit::parallel
