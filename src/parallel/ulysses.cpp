// Ulysses sequence parallelism: trade the sequence shard for a head shard with one all-to-all,
// attend over the whole sequence locally, trade back.
#include <ATen/ATen.h>

#include <cstdlib>
#include <string>

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

PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v) {
  PendingScatter p;
  const int64_t U = ulysses.size();
  if (U == 1) {
    p.result_ = {q, k, v};
    return p;
  }
  const int64_t B = q.size(0), S = q.size(1), H = q.size(2), D = q.size(3);
  // [3, B, S, U, H/U, D] -> [U, 3, B, S, H/U, D]: block j (dim 0) holds head group j for rank j.
  p.send_ = stacked(q, k, v).view({3, B, S, U, H / U, D}).permute({3, 0, 1, 2, 4, 5}).contiguous();
  p.recv_ = at::empty_like(p.send_);
  p.request_ = ulysses.start_all_to_all(p.send_, p.recv_);
  return p;
}

std::array<at::Tensor, 3> PendingScatter::wait() {
  if (!request_) return result_;
  request_->wait();
  request_.reset();
  // recv block i: rank i's tokens of my head group -> [3, B, U*S, H/U, D], rank-major sequence.
  const int64_t U = recv_.size(0), B = recv_.size(2), S = recv_.size(3), Hl = recv_.size(4), D = recv_.size(5);
  at::Tensor qkv = recv_.permute({1, 2, 0, 3, 4, 5}).reshape({3, B, U * S, Hl, D});
  send_ = recv_ = at::Tensor();
  return {qkv[0], qkv[1], qkv[2]};
}

PendingGather start_ulysses_gather(comm::Communicator& ulysses, const at::Tensor& out) {
  PendingGather p;
  const int64_t U = ulysses.size();
  if (U == 1) {
    p.result_ = out;
    return p;
  }
  const int64_t B = out.size(0), S = out.size(1) / U, Hl = out.size(2), D = out.size(3);
  // [B, U*S, H/U, D] -> [U, B, S, H/U, D]: block j holds rank j's tokens.
  p.send_ = out.reshape({B, U, S, Hl, D}).permute({1, 0, 2, 3, 4}).contiguous();
  p.recv_ = at::empty_like(p.send_);
  p.request_ = ulysses.start_all_to_all(p.send_, p.recv_);
  return p;
}

at::Tensor PendingGather::wait() {
  if (!request_) return result_;
  request_->wait();
  request_.reset();
  // recv block i: head group i of my tokens -> [B, S, U*H/U, D]
  const int64_t U = recv_.size(0), B = recv_.size(1), S = recv_.size(2), Hl = recv_.size(3), D = recv_.size(4);
  at::Tensor out = recv_.permute({1, 2, 0, 3, 4}).reshape({B, S, U * Hl, D});
  send_ = recv_ = at::Tensor();
  return out;
}

std::array<at::Tensor, 3> ulysses_scatter_heads(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                                const at::Tensor& v) {
  return start_ulysses_scatter(ulysses, q, k, v).wait();
}

at::Tensor ulysses_gather_heads(comm::Communicator& ulysses, const at::Tensor& out) {
  return start_ulysses_gather(ulysses, out).wait();
}

PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v, const std::function<void()>& work) {
  if (!overlap_communication()) model::OverlapWork::run(work);
  PendingScatter pending = start_ulysses_scatter(ulysses, q, k, v);
  if (overlap_communication()) model::OverlapWork::run(work);
  return pending;
}

PendingGather start_ulysses_gather(comm::Communicator& ulysses, const at::Tensor& out,
                                   const std::function<void()>& work) {
  if (!overlap_communication()) model::OverlapWork::run(work);
  PendingGather pending = start_ulysses_gather(ulysses, out);
  if (overlap_communication()) model::OverlapWork::run(work);
  return pending;
}

bool overlap_communication() {
  static const bool enabled = [] {
    const char* env = std::getenv("PARDIT_OVERLAP");
    return !(env && std::string(env) == "0");
  }();
  return enabled;
}

TokenSlice TokenSlice::of(int64_t total, int parts, int index) {
  const int64_t count = total / parts;
  return {count * index, count};
}

}  // namespace pardit::parallel
