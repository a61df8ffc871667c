#include "pardit/parallel/predictor.hpp"

#include "hybrid_predictor.hpp"
#include "pardit/common/error.hpp"

namespace pardit::parallel {

std::unique_ptr<pipeline::NoisePredictor> make_predictor(const PredictorSetup& setup) {
  const runtime::ParallelConfig& pc = setup.mesh->config();
  if (pc.pipefusion == 1) return std::make_unique<HybridPredictor>(setup);
  throw InputError(fmt::format("parallel layout {}: PipeFusion is not available in this build yet; use Ulysses, "
                               "Ring, CFG and data parallelism",
                               pc.str()));
}

}  // namespace pardit::parallel
