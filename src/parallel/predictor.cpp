#include "pardit/parallel/predictor.hpp"

#include "hybrid_predictor.hpp"
#include "pardit/common/env.hpp"
#include "pipefusion.hpp"

namespace pardit::parallel {

std::unique_ptr<pipeline::NoisePredictor> make_predictor(const PredictorSetup& setup) {
  if (setup.mesh->config().pipefusion > 1) return std::make_unique<PipeFusionPredictor>(setup);
  return std::make_unique<HybridPredictor>(setup);
}

void arrange_model(model::FluxTransformer& model, const runtime::ParallelConfig& parallel) {
  if (parallel.ulysses > 1 && !env_is("PARDIT_GROUPED_QKV", "0")) model.group_heads(parallel.ulysses);
}

}  // namespace pardit::parallel
