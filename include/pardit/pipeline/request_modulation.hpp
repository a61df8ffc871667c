// The AdaLN modulation table of one request, for the conditioning branches a predictor runs.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "pardit/model/flux.hpp"

namespace pardit::pipeline {

struct RequestPlan;

// Every predictor holds one: begin() at begin_request(), select() for each transformer pass.
// Rows of every branch and step are in one model::ModulationTable, so each modulation layer's
// weight is read once per request (see [Note: modulation table]). Every rank that runs a branch
// computes the same rows itself: no communication.
class RequestModulation {
 public:
  // Builds the table for the plan's steps and `branches` (0: the prompt, 1: the negative prompt
  // of true CFG), or, when the plan says per step, drops the last request's.
  void begin(const model::FluxTransformer& model, const RequestPlan& plan, const std::vector<int>& branches);
  // Points `in` at the rows of (step, branch); on the per-step path leaves it as it is.
  // in.pooled_projections must be the branch's pooled embeddings of the planned conditioning:
  // checked, so that a prompt run without begin() fails instead of using another prompt's rows.
  void select(model::FluxInputs& in, int64_t step, int branch) const;

 private:
  model::ModulationTable table_;
  std::vector<int> branches_;
  std::vector<at::Tensor> pooled_;  // per branch: the pooled embeddings its rows were made from
  int64_t steps_ = 0, batch_ = 1;
};

}  // namespace pardit::pipeline
