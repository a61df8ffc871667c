// flow_match_schedule vs diffusers' FlowMatchEulerDiscreteScheduler as FluxPipeline drives it.
#include <gtest/gtest.h>

#include <vector>

#include "pardit/common/error.hpp"
#include "pardit/pipeline/scheduler.hpp"

namespace pardit::pipeline {
namespace {

// Generated with diffusers 0.42 / numpy 2 (values printed with %.9g, which round-trips float32):
//   from diffusers import FlowMatchEulerDiscreteScheduler
//   from diffusers.pipelines.flux.pipeline_flux import calculate_shift
//   cfg = dict(base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15,
//              num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True)  # FLUX.1 scheduler_config
//   s = FlowMatchEulerDiscreteScheduler(**cfg)
//   mu = calculate_shift(seq, 256, 4096, 0.5, 1.15)
//   s.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
//   print(mu, s.sigmas.tolist(), s.timesteps.tolist())
struct Case {
  int64_t steps, image_seq_len;
  double mu;
  std::vector<float> sigmas, timesteps;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {1, 256, 0.5, {1.f, 0.f}, {1000.f}},
      {3, 96, 0.47291666666666665, {1.f, 0.762432814f, 0.445163816f, 0.f}, {1000.f, 762.4328f, 445.163818f}},
      {4, 1024, 0.63, {1.f, 0.849234819f, 0.652489424f, 0.384944737f, 0.f},
       {1000.f, 849.234802f, 652.489441f, 384.944733f}},
      {7, 3000, 0.9644791666666666,
       {1.f, 0.940264702f, 0.867699564f, 0.777673841f, 0.663023472f, 0.512044787f, 0.304220438f, 0.f},
       {1000.f, 940.264709f, 867.699585f, 777.673828f, 663.023499f, 512.0448f, 304.220428f}},
      {28, 4096, 1.15,
       {1.f,          0.988408625f, 0.976222456f, 0.963394403f, 0.949872553f, 0.93559891f,  0.920508981f,
        0.904530764f, 0.887583435f, 0.869575918f, 0.850405693f, 0.829956412f, 0.808095515f, 0.784671605f,
        0.759510934f, 0.732412815f, 0.703144729f, 0.67143482f,  0.6369645f,   0.599356711f, 0.558162868f,
        0.512844145f, 0.462748408f, 0.407078415f, 0.344848931f, 0.274827987f, 0.195454597f, 0.104720898f, 0.f},
       {1000.f,      988.40863f,  976.222473f, 963.394409f, 949.872559f, 935.598938f, 920.508972f,
        904.530762f, 887.583435f, 869.575928f, 850.405701f, 829.956421f, 808.09552f,  784.671631f,
        759.510925f, 732.412842f, 703.144714f, 671.434814f, 636.964478f, 599.356689f, 558.162842f,
        512.844116f, 462.748413f, 407.07843f,  344.848938f, 274.827972f, 195.45459f,  104.720901f}},
      // 2048x2048: 16384 tokens, mu extrapolated beyond max_image_seq_len as FluxPipeline does.
      {50, 16384, 3.2299999999999995,
       {1.f,          0.999193311f, 0.998354495f, 0.997481406f, 0.996572018f, 0.995623946f, 0.994634748f,
        0.99360162f,  0.992521644f, 0.991391361f, 0.990207493f, 0.988965869f, 0.987662256f, 0.986291945f,
        0.984849572f, 0.983329415f, 0.981724858f, 0.980028868f, 0.978233218f, 0.976328969f, 0.974305928f,
        0.972152591f, 0.969855964f, 0.967401326f, 0.964771748f, 0.961947739f, 0.958907008f, 0.955623627f,
        0.952067256f, 0.948202491f, 0.94398731f,  0.939371824f, 0.934296191f, 0.928687871f, 0.92245841f,
        0.915498674f, 0.907672226f, 0.898806334f, 0.888679266f, 0.877001226f, 0.863386393f, 0.847309411f,
        0.82803607f,  0.804507792f, 0.775140703f, 0.73745364f,  0.687327206f, 0.617385209f, 0.51298362f,
        0.340330839f, 0.f},
       {1000.f,      999.193298f, 998.354492f, 997.481384f, 996.572021f, 995.623962f, 994.634766f,
        993.601624f, 992.521667f, 991.391357f, 990.20752f,  988.965881f, 987.662231f, 986.291931f,
        984.849548f, 983.329407f, 981.724854f, 980.02887f,  978.233215f, 976.328979f, 974.305908f,
        972.152588f, 969.855957f, 967.401306f, 964.771729f, 961.947754f, 958.906982f, 955.623657f,
        952.067261f, 948.202515f, 943.987305f, 939.371826f, 934.296204f, 928.687866f, 922.458435f,
        915.498657f, 907.672241f, 898.806335f, 888.67926f,  877.001221f, 863.386414f, 847.309387f,
        828.036072f, 804.507812f, 775.140686f, 737.453613f, 687.327209f, 617.385193f, 512.983643f,
        340.330841f}},
  };
  return c;
}

TEST(FlowMatchSchedule, MuEqualsFluxPipelineCalculateShift) {
  FlowMatchShift shift;
  for (const auto& c : cases()) EXPECT_DOUBLE_EQ(shift.mu(c.image_seq_len), c.mu) << c.image_seq_len;
}

TEST(FlowMatchSchedule, EqualsDiffusersExactly) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(::testing::Message() << "steps " << c.steps << ", image_seq_len " << c.image_seq_len);
    FlowMatchSchedule s = flow_match_schedule(c.steps, c.image_seq_len);
    EXPECT_EQ(s.steps(), c.steps);
    ASSERT_EQ(s.sigmas.size(), c.sigmas.size());
    ASSERT_EQ(s.timesteps.size(), c.timesteps.size());
    // float32 arithmetic in the same order as diffusers: bit-identical is the contract.
    for (size_t i = 0; i < c.sigmas.size(); ++i) EXPECT_EQ(s.sigmas[i], c.sigmas[i]) << "sigma " << i;
    for (size_t i = 0; i < c.timesteps.size(); ++i) EXPECT_EQ(s.timesteps[i], c.timesteps[i]) << "timestep " << i;
  }
}

TEST(FlowMatchSchedule, MonotoneAndEndsAtZero) {
  FlowMatchSchedule s = flow_match_schedule(20, 1024);
  ASSERT_EQ(s.sigmas.size(), 21u);
  EXPECT_EQ(s.sigmas.front(), 1.f);
  EXPECT_EQ(s.sigmas.back(), 0.f);
  for (size_t i = 1; i < s.sigmas.size(); ++i) EXPECT_LT(s.sigmas[i], s.sigmas[i - 1]) << i;
}

TEST(FlowMatchSchedule, RefusesZeroSteps) {
  EXPECT_THROW(flow_match_schedule(0, 256), InputError);
  EXPECT_THROW(flow_match_schedule(-3, 256), InputError);
}

}  // namespace
}  // namespace pardit::pipeline
