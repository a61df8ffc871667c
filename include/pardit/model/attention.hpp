// The one place where the model meets parallelism: attention over a token shard.
//
// The model computes q/k/v for the tokens this rank holds; an AttentionStrategy (injected,
// implementations in src/parallel/) returns attention outputs for those same tokens, whatever
// communication that needs. The model never includes MPI or NCCL.
#pragma once

#include <ATen/core/Tensor.h>

namespace pardit::model {

class AttentionStrategy {
 public:
  virtual ~AttentionStrategy() = default;
  // q, k, v: [B, S_local, H, D], RoPE applied. Returns [B, S_local, H, D].
  // `layer`: index of the attention layer (0..num_blocks-1), for strategies that keep per-layer
  // state such as PipeFusion's stale K/V buffers. Every rank of the strategy's groups calls it
  // for the same layers in the same order.
  virtual at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int layer) = 0;
};

// Scaled dot-product attention on the tokens at hand (one rank, no communication).
// q/k/v: [B, S, H, D] -> [B, S, H, D].
at::Tensor local_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

class LocalAttention final : public AttentionStrategy {
 public:
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int) override {
    return local_attention(q, k, v);
  }
};

}  // namespace pardit::model
