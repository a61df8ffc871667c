// The one place where the model meets parallelism: attention over a token shard.
//
// The model computes q/k/v for the tokens this rank holds; an AttentionStrategy (injected,
// implementations in src/parallel/) returns attention outputs for those same tokens, whatever
// communication that needs. The model never includes MPI or NCCL.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>

namespace pardit::model {

// Compute that does not depend on an attention call, handed to it so that it runs while the
// strategy's communication is in flight (Ulysses: the q/k/v all-to-all, then the output's).
// A strategy runs each function once, `during_inputs` before `during_output`, before attend()
// returns; one without communication runs them around its attention. Either may be empty.
struct OverlapWork {
  std::function<void()> during_inputs;
  std::function<void()> during_output;
  static void run(const std::function<void()>& f) {
    if (f) f();
  }
};

// q, k and v of one attention call in one buffer, qkv [G, B, S, 3, H/G, D]: the heads in G
// groups of H/G, each group one contiguous block with q, k and v side by side per token. G is what
// the strategy asks for (AttentionStrategy::head_groups): Ulysses takes group g to rank g, so the
// model's q/k/v kernel writes each rank's message in place, and the receiving rank's rows land
// where attention reads them (q, k, v are strided views; no pack, no unpack).
struct AttentionInputs {
  at::Tensor qkv;

  int64_t groups() const { return qkv.size(0); }
  int64_t heads() const { return qkv.size(0) * qkv.size(4); }
  // [B, S, H, D]: views into qkv when G == 1, copies otherwise.
  at::Tensor q() const { return part(0); }
  at::Tensor k() const { return part(1); }
  at::Tensor v() const { return part(2); }
  // G = 1 from separate [B, S, H, D] tensors: a view when they are q, k, v of one [B, S, 3, H, D]
  // buffer, otherwise a copy.
  static AttentionInputs stack(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
  // The same values in `groups` head groups (itself when it has them already, else a copy).
  AttentionInputs regrouped(int64_t groups) const;

 private:
  at::Tensor part(int which) const;
};

// Where the model writes the next attend()'s q/k/v when the strategy sends them away and can
// start before the model has written them all (Ulysses with peer exchanges, a batch of one):
// `others` [G, B, S, 3, H/G, D] takes every head group but `own_group`, whose rows go to `own`
// [1, B, S, 3, H/G, D] instead, where the strategy's attention reads them (others' block of that
// group is left stale: AttentionInputs{others} is only for attend()). The model writes `others`,
// calls AttentionStrategy::send_staged(), writes `own`, then calls attend() with
// AttentionInputs{others}.
struct StagedInputs {
  at::Tensor others, own;
  int64_t own_group = 0;
};

class AttentionStrategy {
 public:
  virtual ~AttentionStrategy() = default;
  // The head grouping G that attend() takes without re-arranging its inputs (1 unless overridden).
  virtual int64_t head_groups() const { return 1; }
  // Memory for the next attend()'s AttentionInputs::qkv, which the model's q/k/v kernel writes:
  // a strategy that sends it from buffers of its own (Ulysses: the communicator's exchange
  // buffers) returns one, valid until the next call. at::empty unless overridden.
  virtual at::Tensor input_buffer(at::IntArrayRef sizes, const at::TensorOptions& options);
  // Buffers for q/k/v of `sizes` [G, B, S, 3, H/G, D] written in stages, or none (then
  // input_buffer()). A strategy that gives them takes the next attend()'s inputs this way.
  virtual std::optional<StagedInputs> staged_input_buffers(at::IntArrayRef sizes, const at::TensorOptions& options);
  // `staged.others` is written: start sending it. Called once per staged_input_buffers().
  virtual void send_staged(const StagedInputs& staged);
  // q, k, v of [B, S_local, H, D] each, RoPE applied, in any grouping. Returns [B, S_local, H, D].
  // `layer`: index of the attention layer (0..num_blocks-1), for strategies that keep per-layer
  // state such as PipeFusion's stale K/V buffers. Every rank of the strategy's groups calls it
  // for the same layers in the same order.
  virtual at::Tensor attend(const AttentionInputs& in, int layer, const OverlapWork& overlap) = 0;
  at::Tensor attend(const AttentionInputs& in, int layer) { return attend(in, layer, OverlapWork{}); }
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int layer,
                    const OverlapWork& overlap = {}) {
    return attend(AttentionInputs::stack(q, k, v), layer, overlap);
  }
};

// Scaled dot-product attention on the tokens at hand (one rank, no communication).
// q/k/v: [B, S, H, D] -> [B, S, H, D].
at::Tensor local_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

class LocalAttention final : public AttentionStrategy {
 public:
  using AttentionStrategy::attend;
  at::Tensor attend(const AttentionInputs& in, int, const OverlapWork& overlap) override {
    OverlapWork::run(overlap.during_inputs);
    at::Tensor out = local_attention(in.q(), in.k(), in.v());
    OverlapWork::run(overlap.during_output);
    return out;
  }
};

}  // namespace pardit::model
