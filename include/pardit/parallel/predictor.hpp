// Builds the NoisePredictor that runs one request under the job's parallel layout.
#pragma once

#include <memory>

#include "pardit/comm/comm_groups.hpp"
#include "pardit/model/flux.hpp"
#include "pardit/pipeline/denoise.hpp"
#include "pardit/runtime/mesh.hpp"

namespace pardit::parallel {

struct PredictorSetup {
  const model::FluxTransformer* model = nullptr;
  const runtime::Mesh* mesh = nullptr;
  comm::CommGroups* groups = nullptr;
  int world_rank = 0;
  pipeline::LatentShape latent_shape;
  int64_t text_tokens = 0;
};

// Collective over the ranks of one replica (cfg x pipefusion x ring x ulysses).
std::unique_ptr<pipeline::NoisePredictor> make_predictor(const PredictorSetup& setup);

// Before make_predictor, once the weights are bound: arranges `model` for the layout. Ulysses:
// q/k/v weights in head groups (model::FluxTransformer::group_heads), so that a rank projects and
// sends the other ranks' heads before its own; PARDIT_GROUPED_QKV=0 keeps the checkpoint's order
// (for before/after measurements). The model's visit() refuses afterwards.
void arrange_model(model::FluxTransformer& model, const runtime::ParallelConfig& parallel);

}  // namespace pardit::parallel
