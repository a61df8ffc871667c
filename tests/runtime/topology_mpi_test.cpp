// Bootstrap, topology gather and mesh-axis communicators under mpirun (and as a singleton).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <functional>

#include "pardit/comm/comm_groups.hpp"
#include "pardit/runtime/deadline.hpp"
#include "pardit/runtime/mesh.hpp"
#include "pardit/runtime/mpi_session.hpp"
#include "pardit/runtime/topology.hpp"

using namespace pardit::runtime;

namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// The same session the test main created (MpiSession tolerates an initialised MPI).
const MpiSession& session() {
  static MpiSession s;
  return s;
}

}  // namespace

TEST(Bootstrap, SessionAndThreadLevel) {
  EXPECT_EQ(session().world_rank(), world_rank());
  EXPECT_EQ(session().world_size(), world_size());
  EXPECT_GE(session().thread_level(), MPI_THREAD_FUNNELED) << session().thread_level_name();
  EXPECT_LT(session().local_rank(), session().local_size());
  if (const char* emulated = std::getenv("PARDIT_NODE_NAME")) EXPECT_EQ(session().node_name(), emulated);
}

TEST(Topology, GatheredIdenticallyOnAllRanks) {
  const Topology topo = gather_topology(session());
  ASSERT_EQ(topo.world_size(), world_size());
  EXPECT_EQ(topo.rank(world_rank()).node_name, session().node_name());
  EXPECT_EQ(topo.rank(world_rank()).hostname, host_name());

  std::string all;
  for (const auto& info : topo.ranks()) all += to_json(info);
  long long hash = static_cast<long long>(std::hash<std::string>{}(all) & 0x7fffffffffffffffULL);
  long long lo = 0, hi = 0;
  MPI_Allreduce(&hash, &lo, 1, MPI_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&hash, &hi, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_EQ(lo, hi) << "ranks disagree on the topology";

  // Emulated nodes: PARDIT_EMULATED_NODES="3,3,2" gives node sizes and local ranks.
  if (const char* spec = std::getenv("PARDIT_EMULATED_NODES"); spec != nullptr && *spec != '\0') {
    std::vector<int> sizes;
    for (const char* p = spec; *p != '\0';) {
      sizes.push_back(std::atoi(p));
      while (*p != '\0' && *p != ',') ++p;
      if (*p == ',') ++p;
    }
    ASSERT_EQ(topo.num_nodes(), static_cast<int>(sizes.size())) << topo.describe();
    for (int n = 0; n < topo.num_nodes(); ++n) EXPECT_EQ(static_cast<int>(topo.ranks_on_node(n).size()), sizes[static_cast<size_t>(n)]);
    int first = 0;
    for (int n = 0; n < topo.num_nodes(); ++n) {
      for (int i = 0; i < sizes[static_cast<size_t>(n)]; ++i) EXPECT_EQ(topo.rank(first + i).local_rank, i);
      first += sizes[static_cast<size_t>(n)];
    }
  }
  if (world_rank() == 0) std::printf("%s", topo.describe().c_str());
}

TEST(Topology, JsonRoundTrip) {
  RankInfo info = discover_local(session(), -1);
  info.nvlink_peer_pci = {"0000:1B:00.0", "0000:2C:00.0"};
  const RankInfo back = rank_info_from_json(to_json(info));
  EXPECT_EQ(to_json(back), to_json(info));
}

TEST(CommGroups, MembershipMatchesMesh) {
  const Topology topo = gather_topology(session());
  const int n = world_size();
  ParallelConfig config;
  // Use as many axes as the world size allows: 8 = pf2 r2 u2, 4 = r2 u2, 2 = u2, else dp.
  if (n % 2 == 0) config.ulysses = 2;
  if (n % 4 == 0) config.ring = 2;
  if (n % 8 == 0) config.pipefusion = 2;
  config.dp = n / (config.ulysses * config.ring * config.pipefusion);
  const Mesh mesh = Mesh::place(config, topo);
  pardit::comm::CommGroups groups(mesh, topo, world_rank(), pardit::comm::Backend::mpi);
  EXPECT_EQ(groups.world().size(), n);
  for (Axis axis : kAllAxes) {
    auto& comm = groups.axis(axis);
    const auto expected = mesh.group(axis, world_rank());
    EXPECT_EQ(comm.size(), degree(config, axis)) << axis_name(axis);
    EXPECT_EQ(comm.rank(), mesh.coords(world_rank())[static_cast<size_t>(axis)]) << axis_name(axis);
    // Ask the communicator itself who its members are.
    at::Tensor mine = at::full({1}, world_rank(), at::kLong);
    at::Tensor members = at::empty({comm.size()}, at::kLong);
    comm.all_gather(mine, members);
    for (int i = 0; i < comm.size(); ++i) EXPECT_EQ(members[i].item<int64_t>(), expected[static_cast<size_t>(i)]) << axis_name(axis);
  }
  if (world_rank() == 0) {
    std::printf("%s", mesh.describe().c_str());
    for (const auto& w : mesh.cross_node_warnings()) std::printf("warning: %s\n", w.c_str());
  }
}
