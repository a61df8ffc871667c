// ParallelConfig validation: every violation is reported with the valid values.
#include <gtest/gtest.h>

#include "pardit/runtime/parallel_config.hpp"

using namespace pardit::runtime;

namespace {
std::string message_of(const ParallelConfig& c, int world, const ModelShape& m = ModelShape::flux_dev()) {
  try {
    validate(c, world, m);
  } catch (const pardit::InputError& e) {
    EXPECT_EQ(e.code(), pardit::ExitCode::bad_input);
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ParallelConfig, ValidLayoutsPass) {
  ParallelConfig c;
  c.ulysses = 2;
  c.ring = 2;
  c.pipefusion = 2;
  EXPECT_NO_THROW(validate(c, 8, ModelShape::flux_dev()));
  EXPECT_EQ(c.mesh_name(), "pf2u2r2");
  EXPECT_EQ(ParallelConfig{}.mesh_name(), "1");
}

TEST(ParallelConfig, UlyssesMustDivideHeads) {
  ParallelConfig c;
  c.ulysses = 5;
  const auto m = message_of(c, 5);
  EXPECT_NE(m.find("ulysses=5 does not divide 24 heads; valid: 1,2,3,4,6,8,12,24"), std::string::npos) << m;
}

TEST(ParallelConfig, ProductMustEqualWorldSize) {
  ParallelConfig c;
  c.ulysses = 2;
  c.ring = 3;
  const auto m = message_of(c, 4);
  EXPECT_NE(m.find("dp*cfg*pipefusion*ring*ulysses = 6 but the job has 4 ranks"), std::string::npos) << m;
}

TEST(ParallelConfig, SequenceParallelMustDivideTokens) {
  ParallelConfig c;
  c.ulysses = 3;  // divides 24 heads, not 512 text tokens
  const auto m = message_of(c, 3);
  EXPECT_NE(m.find("ring*ulysses=3 must divide both 512 text tokens and 4096 image tokens"), std::string::npos) << m;
  EXPECT_NE(m.find("valid ring*ulysses: 1,2,4,8,16,32,64,128,256,512"), std::string::npos) << m;
}

TEST(ParallelConfig, PipelineLimits) {
  ParallelConfig c;
  c.pipefusion = 2;
  c.num_pipeline_patches = 5;
  auto m = message_of(c, 2);
  EXPECT_NE(m.find("5 pipeline patches do not divide the 64 latent rows"), std::string::npos) << m;
  c.pipefusion = 60;
  c.num_pipeline_patches = 0;
  m = message_of(c, 60);
  EXPECT_NE(m.find("pipefusion=60 exceeds the 57 transformer blocks"), std::string::npos) << m;
}

TEST(ParallelConfig, CfgNeedsTwoBranches) {
  ParallelConfig c;
  c.cfg = 2;
  ModelShape m = ModelShape::flux_dev();
  m.cfg_max = 1;
  EXPECT_NE(message_of(c, 2, m).find("cfg=2 but this run has 1 guidance branch"), std::string::npos);
  c.cfg = 3;
  EXPECT_NE(message_of(c, 3).find("valid: 1..2"), std::string::npos);
}

TEST(ParallelConfig, ListsEveryViolation) {
  ParallelConfig c;
  c.ulysses = 5;
  c.dp = 0;
  const auto m = message_of(c, 4);
  EXPECT_NE(m.find("dp=0 must be at least 1"), std::string::npos) << m;
  EXPECT_NE(m.find("ulysses=5"), std::string::npos) << m;
}
