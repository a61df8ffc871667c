#include "pardit/parallel/predictor.hpp"

#include "pardit/common/error.hpp"

namespace pardit::parallel {
namespace {

// The single-rank predictor owns its attention strategy.
class LocalPredictor final : public pipeline::NoisePredictor {
 public:
  explicit LocalPredictor(const PredictorSetup& s)
      : inner_(*s.model, attention_, s.latent_shape, s.text_tokens) {}
  at::Tensor predict(const pipeline::StepInputs& in) override { return inner_.predict(in); }

 private:
  model::LocalAttention attention_;
  pipeline::ModelPredictor inner_;
};

}  // namespace

std::unique_ptr<pipeline::NoisePredictor> make_predictor(const PredictorSetup& setup) {
  const runtime::ParallelConfig& pc = setup.mesh->config();
  if (pc.cfg == 1 && pc.pipefusion == 1 && pc.ring == 1 && pc.ulysses == 1)
    return std::make_unique<LocalPredictor>(setup);
  throw InputError(fmt::format("parallel layout {} is not available in this build yet: use data parallel "
                               "(--dp-degree) only",
                               pc.str()));
}

}  // namespace pardit::parallel
