#include "pardit/parallel/predictor.hpp"

#include "hybrid_predictor.hpp"
#include "pipefusion.hpp"

namespace pardit::parallel {

std::unique_ptr<pipeline::NoisePredictor> make_predictor(const PredictorSetup& setup) {
  if (setup.mesh->config().pipefusion > 1) return std::make_unique<PipeFusionPredictor>(setup);
  return std::make_unique<HybridPredictor>(setup);
}

}  // namespace pardit::parallel
