// Ulysses sequence parallelism: trade the sequence shard for a head shard with one all-to-all,
// attend over the whole sequence locally, trade back. The exchanges move pieces (see
// Communicator::start_all_to_all): nothing is packed before or unpacked after the q/k/v exchange.
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include "pardit/common/env.hpp"
#include "pardit/common/error.hpp"
#include "pardit/parallel/sequence_parallel.hpp"

namespace pardit::parallel {
namespace {

// The communicator's exchange buffers (Communicator::exchange_buffer) of the two exchanges: a
// slot is reused by the next attention call, which stream order makes safe (the q/k/v sent and
// received are consumed by this call's attention, the output's by its gather). Used for a batch
// of one, where every rank's block is one contiguous piece (what the copy-engine all-to-all
// takes); larger batches use ordinary memory on both sides.
// qkv_received_alternate: the q/k/v receive buffer of every other attention call where Ulysses
// sends its output early (UspAttention::receive_parity).
enum Slot : int { qkv_sent, qkv_received, output_sent, output_received, qkv_received_alternate };

Slot qkv_receive_slot(int parity) { return parity == 0 ? qkv_received : qkv_received_alternate; }

bool use_exchange_buffers(const comm::Communicator& ulysses, int64_t batch) {
  return ulysses.has_exchange_buffers() && ulysses.size() > 1 && batch == 1;
}

at::Tensor exchange_buffer(comm::Communicator& ulysses, Slot slot, at::IntArrayRef sizes,
                           const at::TensorOptions& options) {
  return ulysses.exchange_buffer(slot, sizes, options.dtype().toScalarType());
}

// `t` in the slot's buffer: itself when it is there already (the model wrote it there through
// UspAttention::input_buffer), else a copy.
at::Tensor in_exchange_buffer(comm::Communicator& ulysses, Slot slot, const at::Tensor& t) {
  at::Tensor buffer = exchange_buffer(ulysses, slot, t.sizes(), t.options());
  if (buffer.data_ptr() != t.data_ptr() || !t.is_contiguous()) buffer.copy_(t);
  return buffer;
}

}  // namespace

at::Tensor UspAttention::input_buffer(at::IntArrayRef sizes, const at::TensorOptions& options) {
  // sizes: [G, B, S, 3, H/G, D]
  if (!use_exchange_buffers(ulysses_, sizes[1])) return at::empty(sizes, options);
  return exchange_buffer(ulysses_, qkv_sent, sizes, options);
}

std::optional<model::StagedInputs> UspAttention::staged_input_buffers(at::IntArrayRef sizes,
                                                                      const at::TensorOptions& options) {
  // sizes: [G, B, S, 3, H/G, D]. Peer exchanges only: they send from anywhere and skip a piece
  // that is in place, which the own group then is (NCCL's windows would copy it). With overlap
  // off (PARDIT_OVERLAP=0) the exchange is not started early either.
  const int64_t U = ulysses_.size();
  if (sizes[0] != U || !ulysses_attention_sends_early(ulysses_, sizes[1]) || !overlap_communication())
    return std::nullopt;
  PARDIT_CHECK(!staged_.has_value(), "staged_input_buffers() again before attend() took the last ones");
  const int64_t S = sizes[2], Hl = sizes[4], D = sizes[5], me = ulysses_.rank();
  model::StagedInputs staged;
  staged.others = exchange_buffer(ulysses_, qkv_sent, sizes, options);
  const at::Tensor received =
      exchange_buffer(ulysses_, qkv_receive_slot(receive_parity()), {1, U * S, 3, Hl, D}, options);
  // Setting up the first buffers may have turned peer exchanges off (on every member alike):
  // then the ordinary path, with these same buffers.
  if (!ulysses_.pitched_exchanges()) return std::nullopt;
  staged.own = received.narrow(1, me * S, S).unsqueeze(0);
  staged.own_group = me;
  return staged;
}

void UspAttention::send_staged(const model::StagedInputs& staged) {
  PARDIT_CHECK(!staged_.has_value(), "send_staged() twice before attend()");
  staged_ = start_ulysses_scatter(ulysses_, staged.others, staged.own, receive_parity());
}

int UspAttention::receive_parity() const {
  // Sending the output early lets a peer finish this call's exchanges before this rank's own
  // rows have read the received q/k/v, so the peer's next q/k/v must land elsewhere: two receive
  // buffers in turn. The peer writes this call's buffer again two calls later, after this rank
  // has started the next call's output exchange, which comes after that read in stream order
  // ([Note: peer exchanges]'s read rule).
  return sends_early_ && ring_.size() == 1 ? static_cast<int>(attend_calls_ % 2) : 0;
}

PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const at::Tensor& send, const at::Tensor& own,
                                     int parity) {
  PendingScatter p;
  const int64_t U = ulysses.size();
  const bool buffers = use_exchange_buffers(ulysses, send.size(1));
  p.send_ = send;
  const int64_t B = send.size(1), S = send.size(2), Hl = send.size(4), D = send.size(5), me = ulysses.rank();
  // Rank u's tokens land straight in rows [u*S, (u+1)*S) of the attention inputs, q, k and v
  // side by side per token: one piece per rank (and batch entry), nothing to unpack.
  p.recv_ = buffers ? exchange_buffer(ulysses, qkv_receive_slot(parity), {B, U * S, 3, Hl, D}, send.options())
                    : at::empty({B, U * S, 3, Hl, D}, send.options());
  std::vector<at::Tensor> sends, recvs;
  for (int64_t u = 0; u < U; ++u)
    for (int64_t b = 0; b < B; ++b) {
      recvs.push_back(p.recv_[b].narrow(0, u * S, S));
      sends.push_back(u == me && own.defined() ? recvs.back() : send[u][b]);
    }
  if (own.defined())
    PARDIT_CHECK(own.data_ptr() == recvs[static_cast<size_t>(me * B)].data_ptr(),
                 "Ulysses: the own head group was not written where this rank receives it");
  p.request_ = ulysses.start_all_to_all(sends, recvs);
  return p;
}

PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const model::AttentionInputs& in, int parity) {
  if (ulysses.size() == 1) {
    PendingScatter p;
    p.result_ = {in.q(), in.k(), in.v()};
    return p;
  }
  // [U, B, S, 3, H/U, D]: rank u's message is block u (the model's kernel writes it so when the
  // strategy asked for U head groups; otherwise one copy here).
  const at::Tensor qkv = in.regrouped(ulysses.size()).qkv;
  const bool buffers = use_exchange_buffers(ulysses, qkv.size(1));
  return start_ulysses_scatter(ulysses, buffers ? in_exchange_buffer(ulysses, qkv_sent, qkv) : qkv.contiguous(),
                               at::Tensor(), parity);
}

std::array<at::Tensor, 3> PendingScatter::wait() {
  if (!request_) return result_;
  request_->wait();
  request_.reset();
  const at::Tensor qkv = recv_;  // [B, U*S, 3, H/U, D], rank-major sequence
  send_ = recv_ = at::Tensor();
  return {qkv.select(2, 0), qkv.select(2, 1), qkv.select(2, 2)};
}

PendingGather start_ulysses_gather(comm::Communicator& ulysses, const at::Tensor& out) {
  PendingGather p;
  const int64_t U = ulysses.size();
  if (U == 1) {
    p.result_ = out;
    return p;
  }
  // [B, U*S, H/U, D]: rows of rank u's tokens are contiguous per batch entry (copied into the
  // exchange buffer for NCCL's copy engines, which gain more than the copy costs; peer copies
  // send from anywhere).
  const int64_t B = out.size(0), S = out.size(1) / U, Hl = out.size(2), D = out.size(3);
  const bool buffers = use_exchange_buffers(ulysses, B);
  if (buffers && ulysses.pitched_exchanges())
    p.recv_ = exchange_buffer(ulysses, output_received, {B, S, U, Hl, D}, out.options());
  const bool pitched = p.recv_.defined() && ulysses.pitched_exchanges();  // still: the first call may fall back
  p.send_ = buffers && !pitched ? in_exchange_buffer(ulysses, output_sent, out) : out.contiguous();
  std::vector<at::Tensor> send, recv;
  if (pitched) {
    // Head group u of my tokens straight into its columns of [B, S, U, H/U, D] = [B, S, H, D]: each
    // piece is S rows of H/U*D elements, H*D apart. Nothing to reorder afterwards.
    for (int64_t u = 0; u < U; ++u)
      for (int64_t b = 0; b < B; ++b) {
        send.push_back(p.send_[b].narrow(0, u * S, S));
        recv.push_back(p.recv_[b].select(1, u));
      }
    p.result_ = p.recv_.view({B, S, U * Hl, D});
  } else {
    // Block u: head group u of my tokens, reordered by wait().
    p.recv_ = buffers ? exchange_buffer(ulysses, output_received, {U, B, S, Hl, D}, p.send_.options())
                      : at::empty({U, B, S, Hl, D}, p.send_.options());
    for (int64_t u = 0; u < U; ++u)
      for (int64_t b = 0; b < B; ++b) {
        send.push_back(p.send_[b].narrow(0, u * S, S));
        recv.push_back(p.recv_[u][b]);
      }
  }
  p.request_ = ulysses.start_all_to_all(send, recv);
  return p;
}

at::Tensor PendingGather::wait() {
  if (!request_) return result_;
  request_->wait();
  request_.reset();
  if (result_.defined()) {  // received in place
    send_ = recv_ = at::Tensor();
    return result_;
  }
  // [U, B, S, H/U, D] -> [B, S, U*H/U, D]
  const int64_t U = recv_.size(0), B = recv_.size(1), S = recv_.size(2), Hl = recv_.size(3), D = recv_.size(4);
  at::Tensor out = recv_.permute({1, 2, 0, 3, 4}).reshape({B, S, U * Hl, D});
  send_ = recv_ = at::Tensor();
  return out;
}

bool ulysses_attention_sends_early(const comm::Communicator& ulysses, int64_t batch) {
  return use_exchange_buffers(ulysses, batch) && ulysses.pitched_exchanges();  // two or more ranks, a batch of one
}

at::Tensor ulysses_attention_sending_early(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v) {
  PARDIT_CHECK(ulysses_attention_sends_early(ulysses, q.size(0)), "ulysses_attention_sending_early: not applicable");
  const int64_t U = ulysses.size(), me = ulysses.rank();
  const int64_t S = q.size(1) / U, Hl = q.size(2), D = q.size(3);
  // The other ranks' query rows, before and after this rank's: at most two attention calls.
  auto attend_rows = [&](int64_t first, int64_t count) {
    return model::local_attention(q.narrow(1, first * S, count * S), k, v).contiguous();  // [1, count*S, Hl, D]
  };
  const at::Tensor before = me > 0 ? attend_rows(0, me) : at::Tensor();
  const at::Tensor after = me + 1 < U ? attend_rows(me + 1, U - me - 1) : at::Tensor();
  // Into [1, S, U, Hl, D] = [1, S, H, D]: head group u of this rank's rows in columns u.
  const at::Tensor recv = exchange_buffer(ulysses, output_received, {1, S, U, Hl, D}, q.options());
  std::vector<at::Tensor> send, pieces;
  for (int64_t u = 0; u < U; ++u) {
    pieces.push_back(recv[0].select(1, u));
    if (u == me)
      send.push_back(pieces.back());  // in place: filled below, after the exchange has started
    else
      send.push_back(u < me ? before[0].narrow(0, u * S, S) : after[0].narrow(0, (u - me - 1) * S, S));
  }
  const comm::RequestPtr request = ulysses.start_all_to_all(send, pieces);
  pieces[static_cast<size_t>(me)].copy_(attend_rows(me, 1)[0]);
  request->wait();
  return recv.view({1, S, U * Hl, D});
}

std::array<at::Tensor, 3> ulysses_scatter_heads(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                                const at::Tensor& v) {
  return start_ulysses_scatter(ulysses, model::AttentionInputs::stack(q, k, v)).wait();
}

at::Tensor ulysses_gather_heads(comm::Communicator& ulysses, const at::Tensor& out) {
  return start_ulysses_gather(ulysses, out).wait();
}

namespace {

// Runs `work` while an exchange is in flight. When kernels move the data, its matrix products
// leave sm_carveout() of the GPU's multiprocessors free: a cuBLAS kernel that takes them all holds
// the NCCL kernel, queued at the same moment on the communication stream, until it ends (seen on
// H200: no overlap). Copy engines need no multiprocessor: then the products take them all.
void run_beside_communication(const std::function<void()>& work, bool exchanging_with_kernels) {
  if (!work) return;
  if (!exchanging_with_kernels || sm_carveout() == 0) return work();
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
                                     const std::function<void()>& work, int parity) {
  if (!overlap_communication()) model::OverlapWork::run(work);
  PendingScatter pending = start_ulysses_scatter(ulysses, in, parity);
  if (overlap_communication())
    run_beside_communication(work, in.qkv.is_cuda() && ulysses.size() > 1 &&
                                       !use_exchange_buffers(ulysses, in.qkv.size(1)));
  return pending;
}

PendingGather start_ulysses_gather(comm::Communicator& ulysses, const at::Tensor& out,
                                   const std::function<void()>& work) {
  if (!overlap_communication()) model::OverlapWork::run(work);
  PendingGather pending = start_ulysses_gather(ulysses, out);
  if (overlap_communication())
    run_beside_communication(work, out.is_cuda() && ulysses.size() > 1 && !use_exchange_buffers(ulysses, out.size(0)));
  return pending;
}

int sm_carveout() {
  static const int carveout = [] {
    // At most 64: cuBLASLt is given (multiprocessors - carve-out), which must stay positive.
    const char* env = std::getenv("PARDIT_SM_CARVEOUT");
    return env ? std::clamp(std::atoi(env), 0, 64) : 16;
  }();
  return carveout;
}

bool overlap_communication() {
  static const bool enabled = !env_is("PARDIT_OVERLAP", "0");
  return enabled;
}

TokenSlice TokenSlice::of(int64_t total, int parts, int index) {
  const int64_t count = total / parts;
  return {count * index, count};
}

}  // namespace pardit::parallel
