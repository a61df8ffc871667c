// The one place where the model meets parallelism: attention over a token shard.
//
// The model computes q/k/v for the tokens this rank holds; an AttentionStrategy (injected,
// implementations in src/parallel/) returns attention outputs for those same tokens, whatever
// communication that needs. The model never includes MPI or NCCL.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>

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

class AttentionStrategy {
 public:
  virtual ~AttentionStrategy() = default;
  // q, k, v: [B, S_local, H, D], RoPE applied. Returns [B, S_local, H, D].
  // `layer`: index of the attention layer (0..num_blocks-1), for strategies that keep per-layer
  // state such as PipeFusion's stale K/V buffers. Every rank of the strategy's groups calls it
  // for the same layers in the same order.
  virtual at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int layer,
                            const OverlapWork& overlap) = 0;
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int layer) {
    return attend(q, k, v, layer, OverlapWork{});
  }
};

// Scaled dot-product attention on the tokens at hand (one rank, no communication).
// q/k/v: [B, S, H, D] -> [B, S, H, D].
at::Tensor local_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

class LocalAttention final : public AttentionStrategy {
 public:
  using AttentionStrategy::attend;
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int,
                    const OverlapWork& overlap) override {
    OverlapWork::run(overlap.during_inputs);
    at::Tensor out = local_attention(q, k, v);
    OverlapWork::run(overlap.during_output);
    return out;
  }
};

}  // namespace pardit::model
