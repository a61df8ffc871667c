// Data of every MpiCommunicator operation, on odd sizes and several dtypes, under mpirun.
// Each rank fills its input with values derived from (rank, index), so every received element can
// be checked against the formula.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <thread>

#include "pardit/comm/mpi_communicator.hpp"
#include "pardit/runtime/mesh.hpp"

using namespace pardit::comm;

namespace {

MpiCommunicator& world() {
  static auto comm = MpiCommunicator::world();
  return *comm;
}

// Small integers: exact in every dtype, including bf16/half (sums of 8 ranks stay <= 256).
at::Tensor pattern(int rank, at::IntArrayRef shape, at::ScalarType dtype) {
  const int64_t n = c10::multiply_integers(shape);
  at::Tensor idx = at::arange(n, at::kLong);
  return ((idx * 7 + rank * 3) % 29).reshape(shape).to(dtype);
}

const std::vector<at::ScalarType> kDtypes = {at::kFloat, at::kDouble, at::kBFloat16, at::kHalf,
                                             at::kInt,   at::kLong,   at::kByte};

}  // namespace

// all_to_all of pieces: each rank's block split into pieces of unequal sizes, received into
// strided places of a larger buffer, as Ulysses does; misuse is refused before communicating.
TEST(MpiCollectives, AllToAllPiecesIntoViews) {
  auto& c = world();
  const int n = c.size();
  // To rank p: pieces of 2 and 5 elements (values encode sender, receiver, piece, index).
  auto value = [](int from, int to, int piece, int64_t i) { return from * 1000 + to * 100 + piece * 10 + i; };
  std::vector<at::Tensor> send, recv;
  at::Tensor buffer = at::full({2, n * 8}, -1.0);  // row j: piece j from each rank, with a gap of 1
  for (int p = 0; p < n; ++p) {
    for (int piece = 0; piece < 2; ++piece) {
      const int64_t len = piece == 0 ? 2 : 5;
      at::Tensor t = at::empty({len});
      for (int64_t i = 0; i < len; ++i) t[i] = value(c.rank(), p, piece, i);
      send.push_back(t);
      recv.push_back(buffer[piece].narrow(0, p * 8 + 1, len));
    }
  }
  c.start_all_to_all(send, recv)->wait();
  for (int p = 0; p < n; ++p)
    for (int piece = 0; piece < 2; ++piece) {
      const int64_t len = piece == 0 ? 2 : 5;
      for (int64_t i = 0; i < len; ++i)
        EXPECT_EQ(buffer[piece][p * 8 + 1 + i].item<double>(), value(p, c.rank(), piece, i));
      EXPECT_EQ(buffer[piece][p * 8].item<double>(), -1.0) << "gap overwritten";
    }
  std::vector<at::Tensor> short_recv(recv.begin(), recv.end() - 1);
  EXPECT_THROW(c.start_all_to_all(send, short_recv), pardit::Error);  // counts differ
  std::vector<at::Tensor> wrong = recv;
  wrong[0] = at::empty({3});
  EXPECT_THROW(c.start_all_to_all(send, wrong), pardit::Error);  // piece sizes differ
  std::vector<at::Tensor> mixed_send = send, mixed_recv = recv;
  mixed_send[1] = send[1].to(at::kDouble);
  mixed_recv[1] = at::empty_like(mixed_send[1]);
  EXPECT_THROW(c.start_all_to_all(mixed_send, mixed_recv), pardit::Error);  // one dtype for all pieces
}

TEST(MpiCollectives, AllToAllOddShapes) {
  auto& c = world();
  const int n = c.size();
  for (auto dtype : kDtypes) {
    // [size*3, 5, 7]: blocks of 3 rows of 35 elements
    at::Tensor in = pattern(c.rank(), {n * 3, 5, 7}, dtype);
    at::Tensor out = at::empty_like(in);
    c.all_to_all(in, out);
    for (int src = 0; src < n; ++src) {
      at::Tensor expected = pattern(src, {n * 3, 5, 7}, dtype).narrow(0, c.rank() * 3, 3);
      EXPECT_TRUE(at::equal(out.narrow(0, src * 3, 3), expected)) << c10::toString(dtype) << " from " << src;
    }
  }
}

TEST(MpiCollectives, AllGatherOddShapes) {
  auto& c = world();
  for (auto dtype : kDtypes) {
    at::Tensor in = pattern(c.rank(), {3, 11}, dtype);
    at::Tensor out = at::empty({c.size() * 3, 11}, in.options());
    c.all_gather(in, out);
    for (int src = 0; src < c.size(); ++src)
      EXPECT_TRUE(at::equal(out.narrow(0, src * 3, 3), pattern(src, {3, 11}, dtype))) << c10::toString(dtype);
  }
}

TEST(MpiCollectives, AllReduceSumAndMax) {
  auto& c = world();
  for (auto dtype : kDtypes) {
    at::Tensor t = pattern(c.rank(), {13}, dtype);
    c.all_reduce(t, ReduceOp::sum);
    at::Tensor expected = at::zeros({13}, at::kDouble);
    for (int r = 0; r < c.size(); ++r) expected += pattern(r, {13}, at::kDouble);
    if (dtype == at::kByte) expected = expected.remainder(256);  // uint8 wraps
    EXPECT_TRUE(at::allclose(t.to(at::kDouble), expected)) << c10::toString(dtype) << t;

    at::Tensor m = pattern(c.rank(), {13}, dtype);
    c.all_reduce(m, ReduceOp::max);
    at::Tensor expected_max = pattern(0, {13}, at::kDouble);
    for (int r = 1; r < c.size(); ++r) expected_max = at::maximum(expected_max, pattern(r, {13}, at::kDouble));
    EXPECT_TRUE(at::equal(m.to(at::kDouble), expected_max)) << c10::toString(dtype);
  }
}

TEST(MpiCollectives, BroadcastFromEveryRoot) {
  auto& c = world();
  for (int root = 0; root < c.size(); ++root) {
    at::Tensor t = pattern(c.rank(), {5, 3}, at::kBFloat16);
    c.broadcast(t, root);
    EXPECT_TRUE(at::equal(t, pattern(root, {5, 3}, at::kBFloat16)));
  }
}

TEST(MpiCollectives, SendRecvAndRingExchange) {
  auto& c = world();
  const int n = c.size();
  const int next = (c.rank() + 1) % n, prev = (c.rank() + n - 1) % n;
  if (n < 2) GTEST_SKIP();
  // Blocking pair: even ranks send first.
  at::Tensor got = at::empty({9}, at::kHalf);
  if (c.rank() % 2 == 0) {
    c.send(pattern(c.rank(), {9}, at::kHalf), next);
    c.recv(got, prev);
  } else {
    c.recv(got, prev);
    c.send(pattern(c.rank(), {9}, at::kHalf), next);
  }
  if (n % 2 == 0 || c.rank() != 0) EXPECT_TRUE(at::equal(got, pattern(prev, {9}, at::kHalf)));
  // Ring shift, R-1 hops, like Ring attention's K/V rotation.
  at::Tensor block = pattern(c.rank(), {4, 3}, at::kFloat);
  for (int hop = 1; hop < n; ++hop) {
    at::Tensor incoming = at::empty_like(block);
    auto request = c.exchange(block, next, incoming, prev);
    request->wait();
    block = incoming;
    EXPECT_TRUE(at::equal(block, pattern((c.rank() - hop + n) % n, {4, 3}, at::kFloat))) << "hop " << hop;
  }
  // isend / irecv with a later wait.
  at::Tensor in = at::empty({2}, at::kLong);
  auto r = c.irecv(in, prev);
  auto s = c.isend(pattern(c.rank(), {2}, at::kLong), next);
  s->wait();
  r->wait();
  EXPECT_TRUE(at::equal(in, pattern(prev, {2}, at::kLong)));
}

TEST(MpiCollectives, CountersAndBarrier) {
  auto& c = world();
  const int64_t before = c.bytes_sent();
  at::Tensor in = at::ones({c.size() * 2}, at::kFloat);
  at::Tensor out = at::empty_like(in);
  c.all_to_all(in, out);
  c.barrier();
  EXPECT_EQ(c.bytes_sent() - before, 2 * 4 * (c.size() - 1));  // bytes, not elements
  EXPECT_GT(c.seconds_in_comm(), 0.0);
}

TEST(MpiCollectives, WaitSecondsAreTheTimeSpentWaitingForAPeer) {
  // The last rank reaches an all_to_all 0.3 s late: the others wait for it there, it does not.
  auto& c = world();
  if (c.size() < 2) GTEST_SKIP() << "needs two ranks";
  c.barrier();
  c.take_wait_seconds();  // what came before
  const bool late = c.rank() == c.size() - 1;
  if (late) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  at::Tensor in = at::ones({c.size() * 4}, at::kFloat), out = at::empty_like(in);
  c.all_to_all(in, out);
  const double waited = c.take_wait_seconds();
  if (late)
    EXPECT_LT(waited, 0.15);
  else
    EXPECT_GT(waited, 0.25);
  EXPECT_EQ(c.take_wait_seconds(), 0.0);  // taken
  EXPECT_GE(c.stats().wait_seconds, waited);
}

TEST(MpiCollectives, MisuseIsCaughtBeforeCommunicating) {
  auto& c = world();
  at::Tensor in = at::ones({c.size() * 2 + 1}, at::kFloat);
  at::Tensor out = at::empty_like(in);
  if (c.size() > 1) EXPECT_THROW(c.all_to_all(in, out), pardit::Error);
  at::Tensor small = at::empty({c.size()}, at::kFloat);
  EXPECT_THROW(c.all_gather(at::ones({2}, at::kFloat), small), pardit::Error);
  at::Tensor wrong_dtype = at::empty({c.size() * 2}, at::kDouble);
  EXPECT_THROW(c.all_gather(at::ones({2}, at::kFloat), wrong_dtype), pardit::Error);
  EXPECT_THROW(c.send(at::ones({1}), c.rank()), pardit::Error);
}

TEST(MpiCollectives, SubGroupsOnEveryAxis) {
  // Each ulysses pair all-reduces its members' ranks: the sums tell the groups apart.
  const int n = world().size();
  if (n % 2 != 0) GTEST_SKIP();
  pardit::runtime::ParallelConfig config;
  config.ulysses = 2;
  config.dp = n / 2;
  std::vector<pardit::runtime::RankInfo> ranks(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    ranks[static_cast<size_t>(r)].world_rank = r;
    ranks[static_cast<size_t>(r)].node_name = "n";
  }
  const auto mesh = pardit::runtime::Mesh::place(config, pardit::runtime::Topology(ranks));
  int me = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MpiCommunicator u(MPI_COMM_WORLD, mesh.group(pardit::runtime::Axis::ulysses, me), "ulysses");
  at::Tensor t = at::full({3}, me, at::kInt);
  u.all_reduce(t);
  const auto g = mesh.group(pardit::runtime::Axis::ulysses, me);
  EXPECT_EQ(t[2].item<int>(), g[0] + g[1]);
}
