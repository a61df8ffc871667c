#include "pardit/pipeline/request_modulation.hpp"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>

#include "pardit/common/error.hpp"
#include "pardit/common/log.hpp"
#include "pardit/pipeline/denoise.hpp"

namespace pardit::pipeline {

void RequestModulation::begin(const model::FluxTransformer& model, const RequestPlan& plan,
                              const std::vector<int>& branches) {
  table_ = {};
  branches_.clear();
  pooled_.clear();
  if (!plan.modulation_table) return;
  PARDIT_CHECK(plan.conditioning != nullptr && plan.timesteps.defined(), "request plan without conditioning");
  const Conditioning& c = *plan.conditioning;
  steps_ = plan.steps();
  // Rows of branch k's step i: [(k * steps + i) * batch, + batch), the inputs a step would
  // give the model for them.
  std::vector<at::Tensor> timesteps, pooled;
  for (int branch : branches) {
    const at::Tensor& p = branch == 0 ? c.pooled_prompt_embeds : c.negative_pooled_prompt_embeds;
    PARDIT_CHECK(p.defined(), "true CFG needs negative prompt embeddings");
    PARDIT_CHECK(pooled_.empty() || p.size(0) == batch_,
                 "the prompt's and the negative prompt's pooled embeddings have batches {} and {}", batch_, p.size(0));
    batch_ = p.size(0);
    timesteps.push_back(plan.timesteps.repeat_interleave(batch_));
    pooled.push_back(p.repeat({steps_, 1}));
    pooled_.push_back(p);
  }
  at::Tensor t = at::cat(timesteps);
  const int64_t bytes = model.modulation_table_bytes(t.size(0));
  if (bytes > plan.modulation_table_max_bytes) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true))
      log::warn("the AdaLN modulation table of {} rows would take {:.1f} MiB (limit {:.1f} MiB): modulations are "
                "computed at every step instead",
                t.size(0), static_cast<double>(bytes) / (1 << 20),
                static_cast<double>(plan.modulation_table_max_bytes) / (1 << 20));
    pooled_.clear();
    return;
  }
  at::Tensor guidance;
  if (plan.guidance.defined()) {
    PARDIT_CHECK(plan.guidance.numel() == 1, "one guidance value per request, not {}", plan.guidance.numel());
    guidance = plan.guidance.reshape({1}).expand({t.size(0)});
  }
  table_ = model.modulation_table(model.conditioning_vectors(t, guidance, at::cat(pooled)));
  branches_ = branches;
}

void RequestModulation::select(model::FluxInputs& in, int64_t step, int branch) const {
  if (!table_.defined()) return;
  const auto it = std::find(branches_.begin(), branches_.end(), branch);
  PARDIT_CHECK(it != branches_.end(), "no modulation rows for conditioning branch {} (planned: {})", branch,
               fmt::join(branches_, ", "));
  const auto k = static_cast<size_t>(it - branches_.begin());
  PARDIT_CHECK(in.pooled_projections.is_same(pooled_[k]),
               "step {} runs a prompt that begin_request() did not plan for: call it before every request", step);
  PARDIT_CHECK(step >= 0 && step < steps_, "step {} is outside the request's {} planned steps", step, steps_);
  PARDIT_CHECK(in.hidden_states.size(0) == batch_, "a batch of {} latents for modulation rows planned for {}",
               in.hidden_states.size(0), batch_);
  in.modulation = &table_;
  in.modulation_row = (static_cast<int64_t>(k) * steps_ + step) * batch_;
}

}  // namespace pardit::pipeline
