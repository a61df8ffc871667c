// Sequence parallelism for Flux joint attention: Ulysses (all-to-all over heads), Ring (K/V
// blocks around a ring, log-sum-exp merge) and their product USP (Ulysses inside groups,
// Ring across them). Each rank holds an equal slice of the text tokens and of the image tokens.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <functional>
#include <optional>

#include "pardit/comm/communicator.hpp"
#include "pardit/common/env.hpp"
#include "pardit/model/attention.hpp"

namespace pardit::parallel {

// Ulysses exchange of one attention call. q/k/v: [B, S_local, H, D] ->
// [B, U*S_local, H/U, D] each (the group's sequences concatenated in rank order), in ONE
// all-to-all for q, k and v together. Collective over `ulysses`. Inputs grouped in U head groups
// (model::AttentionInputs, as UspAttention::head_groups() asks) are sent without a copy.
std::array<at::Tensor, 3> ulysses_scatter_heads(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                                const at::Tensor& v);
// The inverse for the attention output: [B, U*S_local, H/U, D] -> [B, S_local, H, D].
at::Tensor ulysses_gather_heads(comm::Communicator& ulysses, const at::Tensor& out);

// The same two exchanges started without waiting, so independent compute can run meanwhile
// (model::OverlapWork); wait() returns what the blocking functions above return.
class PendingScatter {
 public:
  std::array<at::Tensor, 3> wait();

 private:
  friend PendingScatter start_ulysses_scatter(comm::Communicator&, const at::Tensor&, const at::Tensor&, int);
  friend PendingScatter start_ulysses_scatter(comm::Communicator&, const model::AttentionInputs&, int);
  friend class UspAttention;
  comm::RequestPtr request_;
  at::Tensor send_, recv_;
  std::array<at::Tensor, 3> result_;  // U == 1: q, k, v themselves
};
// `parity` 1 receives into a second exchange buffer (UspAttention::receive_parity).
PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const model::AttentionInputs& in, int parity = 0);
// The same from the send blocks send [U, B, S, 3, H/U, D]; `own` (if defined) is this rank's
// block already in place in the receive buffer (model::StagedInputs::own), so block `rank` of
// `send` is not read.
PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const at::Tensor& send, const at::Tensor& own,
                                     int parity = 0);

class PendingGather {
 public:
  at::Tensor wait();

 private:
  friend PendingGather start_ulysses_gather(comm::Communicator&, const at::Tensor&);
  comm::RequestPtr request_;
  at::Tensor send_, recv_;
  at::Tensor result_;  // U == 1: the output itself
};
PendingGather start_ulysses_gather(comm::Communicator& ulysses, const at::Tensor& out);

// The exchanges with `work` (a model::OverlapWork part) run while they are in flight, or before
// they start when overlap_communication() is off.
PendingScatter start_ulysses_scatter(comm::Communicator& ulysses, const model::AttentionInputs& in,
                                     const std::function<void()>& work, int parity = 0);
PendingGather start_ulysses_gather(comm::Communicator& ulysses, const at::Tensor& out,
                                   const std::function<void()>& work);

// Ulysses attention (no Ring) whose output exchange overlaps attention: the other ranks' query
// rows are attended first and sent, this rank's own rows are attended meanwhile and put in place.
// q/k/v [1, U*S, H/U, D] (after the q/k/v exchange) -> [1, S, H, D]. Only where
// ulysses_attention_sends_early() (peer exchanges, a batch of one); collective over `ulysses`.
bool ulysses_attention_sends_early(const comm::Communicator& ulysses, int64_t batch);
at::Tensor ulysses_attention_sending_early(comm::Communicator& ulysses, const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v);

// Whether strategies overlap their exchanges with the model's OverlapWork (default yes;
// PARDIT_OVERLAP=0 runs that work before communicating, for before/after measurements).
bool overlap_communication();
// Multiprocessors that the overlapped work's matrix products leave to the communication kernels
// (PARDIT_SM_CARVEOUT, default 16, at most 64; 0: none). Only while NCCL kernels move an
// exchange: none when the copy engines do ([Note: symmetric exchange buffers]).
int sm_carveout();

// Attention output and per-row log-sum-exp of the scores: out [B, S, H, D], lse [B, H, S] float32.
std::pair<at::Tensor, at::Tensor> attention_with_lse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Ring attention: the K/V block of every rank of `ring` visits this rank once; partial outputs
// merge by log-sum-exp. The transfer of the next block is started before the current block's
// attention, so it overlaps. q/k/v: [B, S_local, H, D] -> [B, S_local, H, D]. Collective over `ring`.
at::Tensor ring_attention(comm::Communicator& ring, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// USP: Ulysses over `ulysses`, Ring over `ring` (either may have size 1).
class UspAttention final : public model::AttentionStrategy {
 public:
  UspAttention(comm::Communicator& ulysses, comm::Communicator& ring) : ulysses_(ulysses), ring_(ring) {}
  using AttentionStrategy::attend;
  int64_t head_groups() const override { return ulysses_.size(); }
  // The q/k/v kernel writes straight into the exchange's send buffer (ulysses_exchange_buffer).
  at::Tensor input_buffer(at::IntArrayRef sizes, const at::TensorOptions& options) override;
  // With peer exchanges and a batch of one: the other ranks' head groups in the send buffer, this
  // rank's own straight into its rows of the receive buffer; send_staged() starts the exchange,
  // which attend() then waits for.
  std::optional<model::StagedInputs> staged_input_buffers(at::IntArrayRef sizes,
                                                          const at::TensorOptions& options) override;
  void send_staged(const model::StagedInputs& staged) override;
  at::Tensor attend(const model::AttentionInputs& in, int layer, const model::OverlapWork& overlap) override;

 private:
  comm::Communicator& ulysses_;
  comm::Communicator& ring_;
  // Which q/k/v receive buffer this attention call uses (0 or 1; see its definition).
  int receive_parity() const;
  std::optional<PendingScatter> staged_;  // started by send_staged(), taken by attend()
  int64_t attend_calls_ = 0;
  // ulysses_attention_sending_early() where it applies (PARDIT_EARLY_OUTPUT=0: never, for
  // before/after measurements).
  bool sends_early_ = !env_is("PARDIT_EARLY_OUTPUT", "0");
};

// This rank's slice [begin, begin+count) of `total` tokens split evenly over `parts`.
struct TokenSlice {
  int64_t begin = 0, count = 0;
  static TokenSlice of(int64_t total, int parts, int index);
};

}  // namespace pardit::parallel
