// Placement on synthetic topologies: which world ranks form each axis group.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "pardit/runtime/mesh.hpp"

using namespace pardit::runtime;
using Groups = std::vector<std::vector<int>>;

namespace {

ParallelConfig make(int dp, int cfg, int pf, int ring, int u) {
  ParallelConfig c;
  c.dp = dp;
  c.cfg = cfg;
  c.pipefusion = pf;
  c.ring = ring;
  c.ulysses = u;
  return c;
}

// Every rank has one slot, coords round-trip, groups partition the world.
void expect_consistent(const Mesh& mesh) {
  std::set<std::array<int, kNumAxes>> seen;
  for (int r = 0; r < mesh.world_size(); ++r) {
    EXPECT_TRUE(seen.insert(mesh.coords(r)).second);
    EXPECT_EQ(mesh.rank_at(mesh.coords(r)), r);
    for (Axis a : kAllAxes) {
      const auto g = mesh.group(a, r);
      ASSERT_EQ(static_cast<int>(g.size()), degree(mesh.config(), a));
      EXPECT_EQ(g[static_cast<size_t>(mesh.coords(r)[static_cast<size_t>(a)])], r);
    }
  }
}

bool mentions(const std::vector<std::string>& warnings, const std::string& axis) {
  return std::any_of(warnings.begin(), warnings.end(), [&](const std::string& w) { return w.rfind(axis + " ", 0) == 0; });
}

}  // namespace

TEST(Placement, OneNodeOfEightUsp) {
  const Mesh mesh = Mesh::place(make(1, 1, 2, 2, 2), Topology::synthetic({8}));
  expect_consistent(mesh);
  EXPECT_EQ(mesh.groups(Axis::ulysses), (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(mesh.groups(Axis::ring), (Groups{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(mesh.groups(Axis::pipefusion), (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_TRUE(mesh.cross_node_warnings().empty());
  EXPECT_EQ(mesh.coords(5), (std::array<int, 5>{0, 0, 1, 0, 1}));
}

TEST(Placement, TwoNodesOfEightUlyssesInsideRingAcross) {
  const Mesh mesh = Mesh::place(make(1, 1, 1, 2, 8), Topology::synthetic({8, 8}));
  expect_consistent(mesh);
  EXPECT_EQ(mesh.group(Axis::ulysses, 3), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(mesh.group(Axis::ring, 3), (std::vector<int>{3, 11}));
  const auto warnings = mesh.cross_node_warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(mentions(warnings, "ring")) << warnings[0];
  EXPECT_NE(warnings[0].find("MiB per rank per step"), std::string::npos) << warnings[0];
}

TEST(Placement, TwoNodesOfEightCfgInsideDpAcross) {
  const Mesh mesh = Mesh::place(make(2, 2, 1, 1, 4), Topology::synthetic({8, 8}));
  expect_consistent(mesh);
  EXPECT_EQ(mesh.groups(Axis::ulysses), (Groups{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}, {12, 13, 14, 15}}));
  EXPECT_EQ(mesh.group(Axis::cfg, 1), (std::vector<int>{1, 5}));
  EXPECT_EQ(mesh.group(Axis::dp, 1), (std::vector<int>{1, 9}));
  const auto warnings = mesh.cross_node_warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(mentions(warnings, "dp"));
}

TEST(Placement, FourNodesOfFourUlyssesMustCross) {
  const Mesh mesh = Mesh::place(make(1, 1, 1, 2, 8), Topology::synthetic({4, 4, 4, 4}));
  expect_consistent(mesh);
  EXPECT_EQ(mesh.group(Axis::ulysses, 9), (std::vector<int>{8, 9, 10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(mesh.group(Axis::ring, 0), (std::vector<int>{0, 8}));
  const auto warnings = mesh.cross_node_warnings();
  EXPECT_TRUE(mentions(warnings, "ulysses"));
  EXPECT_TRUE(mentions(warnings, "ring"));
}

TEST(Placement, FourNodesOfFourUlyssesInsideRingAcross) {
  const Mesh mesh = Mesh::place(make(1, 1, 1, 4, 4), Topology::synthetic({4, 4, 4, 4}));
  expect_consistent(mesh);
  EXPECT_EQ(mesh.group(Axis::ulysses, 6), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(mesh.group(Axis::ring, 6), (std::vector<int>{2, 6, 10, 14}));
  const auto warnings = mesh.cross_node_warnings();
  EXPECT_FALSE(mentions(warnings, "ulysses"));
  EXPECT_TRUE(mentions(warnings, "ring"));
}

TEST(Placement, ThreeUnevenNodes) {
  // node00: 0,1,2  node01: 3,4,5  node02: 6,7 — one ulysses pair has to span two nodes.
  const Mesh mesh = Mesh::place(make(1, 1, 1, 4, 2), Topology::synthetic({3, 3, 2}));
  expect_consistent(mesh);
  EXPECT_EQ(mesh.groups(Axis::ulysses), (Groups{{0, 1}, {2, 5}, {3, 4}, {6, 7}}));
  EXPECT_EQ(mesh.group(Axis::ring, 0), (std::vector<int>{0, 2, 3, 6}));
  const auto warnings = mesh.cross_node_warnings();
  ASSERT_TRUE(mentions(warnings, "ulysses"));
  EXPECT_NE(warnings[1].find("1 of 4 groups"), std::string::npos) << warnings[1];
}

TEST(Placement, ThreeUnevenNodesPipelineAcross) {
  // 4,2,2 with u=2, pf=4: every ulysses pair fits in a node; pipefusion spans them.
  const Mesh mesh = Mesh::place(make(1, 1, 4, 1, 2), Topology::synthetic({4, 2, 2}));
  expect_consistent(mesh);
  EXPECT_EQ(mesh.groups(Axis::ulysses), (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  const auto warnings = mesh.cross_node_warnings();
  EXPECT_FALSE(mentions(warnings, "ulysses"));
  EXPECT_TRUE(mentions(warnings, "pipefusion"));
}

TEST(Placement, RoundRobinRankNumbering) {
  // The launcher placed ranks round-robin: even ranks on nodeA, odd on nodeB.
  std::vector<RankInfo> ranks(8);
  for (int r = 0; r < 8; ++r) {
    ranks[static_cast<size_t>(r)].world_rank = r;
    ranks[static_cast<size_t>(r)].node_name = r % 2 == 0 ? "nodeA" : "nodeB";
  }
  const Mesh mesh = Mesh::place(make(1, 1, 1, 2, 4), Topology(ranks));
  expect_consistent(mesh);
  EXPECT_EQ(mesh.groups(Axis::ulysses), (Groups{{0, 2, 4, 6}, {1, 3, 5, 7}}));
  EXPECT_EQ(mesh.group(Axis::ring, 2), (std::vector<int>{2, 3}));
  EXPECT_EQ(Topology(ranks).rank(5).local_rank, 2);
}

TEST(Placement, DeterministicAndDescribed) {
  const auto topo = Topology::synthetic({3, 3, 2});
  const Mesh a = Mesh::place(make(2, 1, 1, 2, 2), topo);
  const Mesh b = Mesh::place(make(2, 1, 1, 2, 2), topo);
  for (int r = 0; r < 8; ++r) EXPECT_EQ(a.coords(r), b.coords(r));
  const std::string text = a.describe();
  EXPECT_NE(text.find("ulysses groups"), std::string::npos) << text;
  EXPECT_NE(topo.describe().find("node02"), std::string::npos);
}

TEST(Placement, WrongWorldSizeIsInputError) {
  EXPECT_THROW(Mesh::place(make(1, 1, 1, 1, 4), Topology::synthetic({8})), pardit::InputError);
}

TEST(Traffic, UlyssesHeavierThanRingHeavierThanCfg) {
  const auto bytes = estimate_bytes_per_step(make(1, 2, 1, 2, 2), ModelShape::flux_dev());
  EXPECT_GT(bytes[static_cast<int>(Axis::ulysses)], bytes[static_cast<int>(Axis::cfg)]);
  EXPECT_GT(bytes[static_cast<int>(Axis::ring)], bytes[static_cast<int>(Axis::cfg)]);
  EXPECT_EQ(bytes[static_cast<int>(Axis::dp)], 0);
}
