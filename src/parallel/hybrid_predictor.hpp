// CFG x Ring x Ulysses noise predictor (internal to src/parallel).
#pragma once

#include "pardit/parallel/predictor.hpp"
#include "pardit/parallel/sequence_parallel.hpp"

namespace pardit::parallel {

class HybridPredictor final : public pipeline::NoisePredictor {
 public:
  explicit HybridPredictor(const PredictorSetup& setup);
  void begin_request(const pipeline::RequestPlan& plan) override;
  at::Tensor predict(const pipeline::StepInputs& in) override;

 private:
  // All blocks on this rank's token slice, output gathered over the sequence groups: [1, S_img, C].
  // branch 0: the prompt, 1: the negative prompt.
  at::Tensor forward_slice(const pipeline::StepInputs& in, const at::Tensor& prompt_embeds, const at::Tensor& pooled,
                           int branch);
  at::Tensor gather_sequence(const at::Tensor& slice);

  const model::FluxTransformer& model_;
  comm::Communicator& ulysses_;
  comm::Communicator& ring_;
  comm::Communicator& cfg_;
  UspAttention attention_;
  TokenSlice text_, image_;
  model::RotaryTable rope_;  // rows of [text slice ; image slice]
  pipeline::RequestModulation modulation_;  // rows of the branches this rank runs
};

}  // namespace pardit::parallel
