// Ulysses sequence parallelism: trade the sequence shard for a head shard with one all-to-all,
// attend over the whole sequence locally, trade back. The exchanges move pieces (see
// Communicator::start_all_to_all): nothing is packed before or unpacked after the q/k/v exchange.
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include "pardit/parallel/sequence_parallel.hpp"

namespace pardit::parallel {
namespace {

// The inputs as [U, 3, B, S, H/U, D]: head group u's q, k and v for rank u. The model's kernel
// writes them so (AttentionInputs with U groups): then this is the buffer itself.
at::Tensor grouped_for(const model::AttentionInputs& in, int64_t U) { return in.regrouped(U).qkv.contiguous(); }

}  // namespace

PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const model::AttentionInputs& in) {
  PendingScatter p;
  const int64_t U = ulysses.size();
  if (U == 1) {
    p.result_ = {in.q(), in.k(), in.v()};
    return p;
  }
  p.send_ = grouped_for(in, U);
  const int64_t B = p.send_.size(2), S = p.send_.size(3), Hl = p.send_.size(4), D = p.send_.size(5);
  // Rank u's q, k, v rows land straight in rows [u*S, (u+1)*S) of the attention inputs: one
  // piece per (rank, q|k|v, batch entry), nothing to unpack afterwards.
  p.recv_ = at::empty({3, B, U * S, Hl, D}, p.send_.options());
  std::vector<at::Tensor> send, recv;
  for (int64_t u = 0; u < U; ++u)
    for (int64_t w = 0; w < 3; ++w)
      for (int64_t b = 0; b < B; ++b) {
        send.push_back(p.send_[u][w][b]);
        recv.push_back(p.recv_[w][b].narrow(0, u * S, S));
      }
  p.request_ = ulysses.start_all_to_all(send, recv);
  return p;
}

std::array<at::Tensor, 3> PendingScatter::wait() {
  if (!request_) return result_;
  request_->wait();
  request_.reset();
  const at::Tensor qkv = recv_;  // [3, B, U*S, H/U, D], rank-major sequence
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
  p.send_ = out.contiguous();  // [B, U*S, H/U, D]: rows of rank u's tokens are contiguous per batch entry
  const int64_t B = p.send_.size(0), S = p.send_.size(1) / U, Hl = p.send_.size(2), D = p.send_.size(3);
  p.recv_ = at::empty({U, B, S, Hl, D}, p.send_.options());  // block u: head group u of my tokens
  std::vector<at::Tensor> send, recv;
  for (int64_t u = 0; u < U; ++u)
    for (int64_t b = 0; b < B; ++b) {
      send.push_back(p.send_[b].narrow(0, u * S, S));
      recv.push_back(p.recv_[u][b]);
    }
  p.request_ = ulysses.start_all_to_all(send, recv);
  return p;
}

at::Tensor PendingGather::wait() {
  if (!request_) return result_;
  request_->wait();
  request_.reset();
  // [U, B, S, H/U, D] -> [B, S, U*H/U, D]
  const int64_t U = recv_.size(0), B = recv_.size(1), S = recv_.size(2), Hl = recv_.size(3), D = recv_.size(4);
  at::Tensor out = recv_.permute({1, 2, 0, 3, 4}).reshape({B, S, U * Hl, D});
  send_ = recv_ = at::Tensor();
  return out;
}

std::array<at::Tensor, 3> ulysses_scatter_heads(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                                const at::Tensor& v) {
  return start_ulysses_scatter(ulysses, model::AttentionInputs::stack(q, k, v)).wait();
}

at::Tensor ulysses_gather_heads(comm::Communicator& ulysses, const at::Tensor& out) {
  return start_ulysses_gather(ulysses, out).wait();
}

namespace {

// Runs `work` while an exchange is in flight. Its matrix products leave sm_carveout() of the
// GPU's multiprocessors free: a cuBLAS kernel that takes them all holds the NCCL kernel, queued
// at the same moment on the communication stream, until it ends (seen on H200: no overlap).
void run_beside_communication(const std::function<void()>& work, bool on_gpu) {
  if (!work) return;
  if (!on_gpu || sm_carveout() == 0) return work();
  at::Context& ctx = at::globalContext();
  const std::optional<int32_t> before = ctx._SMCarveout_EXPERIMENTAL();
  {
    // LibTorch warns that the setting is experimental: said once in docs/performance.md instead.
    struct Quiet final : c10::WarningHandler {
      void process(const c10::Warning&) override {}
    } quiet;
    const c10::WarningUtils::WarningHandlerGuard guard(&quiet);
    ctx._setSMCarveout_EXPERIMENTAL(sm_carveout());
  }
  try {
    work();
  } catch (...) {
    ctx._setSMCarveout_EXPERIMENTAL(before);
    throw;
  }
  ctx._setSMCarveout_EXPERIMENTAL(before);
}

}  // namespace

PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const model::AttentionInputs& in,
                                     const std::function<void()>& work) {
  if (!overlap_communication()) model::OverlapWork::run(work);
  PendingScatter pending = start_ulysses_scatter(ulysses, in);
  if (overlap_communication()) run_beside_communication(work, in.qkv.is_cuda());
  return pending;
}

PendingGather start_ulysses_gather(comm::Communicator& ulysses, const at::Tensor& out,
                                   const std::function<void()>& work) {
  if (!overlap_communication()) model::OverlapWork::run(work);
  PendingGather pending = start_ulysses_gather(ulysses, out);
  if (overlap_communication()) run_beside_communication(work, out.is_cuda());
  return pending;
}

int64_t ulysses_chunks() {
  static const int64_t chunks = [] {
    const char* env = std::getenv("PARDIT_ULYSSES_CHUNKS");
    return env ? std::max<int64_t>(1, std::atoll(env)) : int64_t{2};
  }();
  return chunks;
}

int64_t ulysses_head_groups(int64_t ulysses_size, int64_t heads) {
  if (ulysses_size == 1 || !overlap_communication()) return ulysses_size;
  int64_t chunks = std::min(ulysses_chunks(), heads / ulysses_size);
  while (chunks > 1 && (heads / ulysses_size) % chunks != 0) --chunks;  // chunks of whole heads
  return ulysses_size * std::max<int64_t>(chunks, 1);
}

at::Tensor ulysses_attention(comm::Communicator& ulysses, const model::AttentionInputs& in,
                             const model::OverlapWork& overlap) {
  const int64_t U = ulysses.size(), G = in.groups();
  if (U == 1 || G <= U || G % U != 0 || !overlap_communication()) {
    auto [q, k, v] = start_ulysses_scatter(ulysses, in, overlap.during_inputs).wait();
    return start_ulysses_gather(ulysses, model::local_attention(q, k, v).contiguous(), overlap.during_output).wait();
  }
  // in.qkv: [U*C, 3, B, S, Hc, D], group u*C + c = chunk c of rank u's heads (Hc = H/(U*C)).
  const int64_t C = G / U;
  const at::Tensor& qkv = in.qkv;
  const int64_t B = qkv.size(2), S = qkv.size(3), Hc = qkv.size(4), D = qkv.size(5);
  // Every chunk's q/k/v exchange is queued at once (the communication stream runs them in
  // order); chunk c's attention waits only for chunk c, so later chunks travel meanwhile.
  std::vector<at::Tensor> inputs;  // per chunk [3, B, U*S, Hc, D]
  std::vector<comm::RequestPtr> scatters;
  for (int64_t c = 0; c < C; ++c) {
    inputs.push_back(at::empty({3, B, U * S, Hc, D}, qkv.options()));
    std::vector<at::Tensor> send, recv;
    for (int64_t u = 0; u < U; ++u)
      for (int64_t w = 0; w < 3; ++w)
        for (int64_t b = 0; b < B; ++b) {
          send.push_back(qkv[u * C + c][w][b]);
          recv.push_back(inputs.back()[w][b].narrow(0, u * S, S));
        }
    scatters.push_back(ulysses.start_all_to_all(send, recv));
  }
  run_beside_communication(overlap.during_inputs, qkv.is_cuda());
  // Each chunk's output goes back as soon as it is computed, beside the next chunk's attention.
  std::vector<at::Tensor> outputs, landed;  // per chunk [B, U*S, Hc, D] sent, [U, B, S, Hc, D] received
  std::vector<comm::RequestPtr> gathers;
  for (int64_t c = 0; c < C; ++c) {
    scatters[c]->wait();
    const at::Tensor& x = inputs[c];
    outputs.push_back(model::local_attention(x[0], x[1], x[2]).contiguous());
    landed.push_back(at::empty({U, B, S, Hc, D}, qkv.options()));
    std::vector<at::Tensor> send, recv;
    for (int64_t u = 0; u < U; ++u)
      for (int64_t b = 0; b < B; ++b) {
        send.push_back(outputs[c][b].narrow(0, u * S, S));
        recv.push_back(landed[c][u][b]);
      }
    gathers.push_back(ulysses.start_all_to_all(send, recv));
  }
  run_beside_communication(overlap.during_output, qkv.is_cuda());
  at::Tensor gathered = at::empty({U, B, S, C, Hc, D}, qkv.options());  // [u][b][s][c]: rank u's heads
  for (int64_t c = 0; c < C; ++c) {
    gathers[c]->wait();
    gathered.select(3, c).copy_(landed[c]);
  }
  // [U, B, S, C, Hc, D] -> [B, S, U*C*Hc, D]: head u*(C*Hc) + c*Hc + h, as the model numbers them.
  return gathered.permute({1, 2, 0, 3, 4, 5}).reshape({B, S, U * C * Hc, D});
}

int sm_carveout() {
  static const int carveout = [] {
    const char* env = std::getenv("PARDIT_SM_CARVEOUT");
    return env ? std::max(0, std::atoi(env)) : 16;
  }();
  return carveout;
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
