// PipeFusion (internal to src/parallel): blocks split into stages, the image into row patches
// that flow through the stages; attention reads a full-sequence K/V buffer whose rows of patches
// not yet recomputed this step are one step stale.
#pragma once

#include <map>
#include <vector>

#include "pardit/parallel/predictor.hpp"
#include "pardit/parallel/sequence_parallel.hpp"

namespace pardit::parallel {

// Attention for one micro-batch (a contiguous row range of [txt ; img]) against the stage's
// per-layer K/V buffers, with Ulysses inside the stage.
class PipeFusionAttention final : public model::AttentionStrategy {
 public:
  explicit PipeFusionAttention(comm::Communicator& ulysses) : ulysses_(ulysses) {}
  // Which buffer set (conditioning branch) and which rows of the full sequence the next
  // attend() calls cover; `total_rows` sizes the buffers.
  void set_micro_batch(int branch, int64_t row_begin, int64_t row_end, int64_t total_rows);
  using AttentionStrategy::attend;
  int64_t head_groups() const override { return ulysses_.size(); }
  at::Tensor attend(const model::AttentionInputs& in, int layer, const model::OverlapWork& overlap) override;

 private:
  struct KV {
    at::Tensor k, v;  // [B, S_full, H/U, D]
  };
  comm::Communicator& ulysses_;
  std::map<std::pair<int, int>, KV> buffers_;  // (branch, layer)
  int branch_ = 0;
  int64_t row_begin_ = 0, row_end_ = 0, total_rows_ = 0;
};

class PipeFusionPredictor final : public pipeline::NoisePredictor {
 public:
  explicit PipeFusionPredictor(const PredictorSetup& setup);
  void begin_request(const pipeline::RequestPlan& plan) override;
  at::Tensor predict(const pipeline::StepInputs& in) override;

 private:
  struct Rows {
    int64_t begin = 0, end = 0;  // rows of [txt ; img]
  };
  // One conditioning branch through all stages; returns the full prediction on every rank.
  at::Tensor run_branch(const pipeline::StepInputs& in, const at::Tensor& embeds, const at::Tensor& pooled, int branch,
                        bool synchronous);

  const model::FluxTransformer& model_;
  comm::Communicator& pf_;
  comm::Communicator& ulysses_;
  comm::Communicator& cfg_;
  PipeFusionAttention attention_;
  int64_t text_ = 0, image_ = 0;
  int block_begin_ = 0, block_end_ = 0;
  int warmup_steps_ = 1;
  std::vector<Rows> patches_;
  model::RotaryTable rope_;  // all rows of [txt ; img]
  pipeline::RequestModulation modulation_;  // rows of the branches this rank runs
};

}  // namespace pardit::parallel
