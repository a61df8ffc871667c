// FluxTransformer::forward as a replayed CUDA graph: the ~2000 kernels of a step are launched by
// one cudaGraphLaunch instead of one by one from the host, so the GPU no longer waits for the
// launches of small kernels (the text stream, the modulation vectors). For a rank whose attention
// strategy does not communicate (one rank per sequence group); see docs/performance.md.
//
// The first call runs eagerly; the second runs eagerly on a side stream and captures the graph
// there; later calls copy their inputs into the graph's static buffers and replay it. Inputs of
// another shape, or another rotary table, capture again. Results equal the eager ones.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "pardit/model/attention.hpp"
#include "pardit/model/flux.hpp"

namespace pardit::model {

class ForwardGraph {
 public:
  ForwardGraph();
  ~ForwardGraph();
  ForwardGraph(const ForwardGraph&) = delete;
  ForwardGraph& operator=(const ForwardGraph&) = delete;

  // True when this build has CUDA, the inputs are on a GPU and graphs are asked for
  // (PARDIT_CUDA_GRAPHS=1).
  static bool enabled_for(const FluxInputs& in);

  // model.forward(in, attention), through the graph. `attention` must not communicate.
  at::Tensor forward(const FluxTransformer& model, const FluxInputs& in, AttentionStrategy& attention);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pardit::model
