// NcclCommunicator on GPUs (CUDA builds, label gpu): the data of every operation, group
// membership through ncclCommSplit, stream ordering against compute, and a stalled rank caught by
// the watchdog (the last is in the fault probe when run with PARDIT_FAULT on GPU machines).
// Run under mpirun with one GPU per rank.
#include <ATen/ATen.h>
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <numeric>
#include <vector>

#include "pardit/comm/comm_groups.hpp"
#include "pardit/common/error.hpp"
#include "pardit/comm/nccl_communicator.hpp"
#include "pardit/model/attention.hpp"
#include "pardit/parallel/sequence_parallel.hpp"
#include "pardit/runtime/device.hpp"
#include "pardit/runtime/mesh.hpp"
#include "pardit/runtime/mpi_session.hpp"

using namespace pardit::comm;

namespace {

const pardit::runtime::MpiSession& session() {
  static pardit::runtime::MpiSession s;
  return s;
}

int device() {
  static int d = pardit::runtime::select_device(session());
  return d;
}

NcclCommunicator& world() {
  static auto comm = [] {
    device();
    return NcclCommunicator::world(pardit::runtime::gather_topology(session(), device()));
  }();
  return *comm;
}

at::Tensor pattern(int rank, at::IntArrayRef shape, at::ScalarType dtype) {
  const int64_t n = c10::multiply_integers(shape);
  at::Tensor idx = at::arange(n, at::kLong);
  return ((idx * 7 + rank * 3) % 29).reshape(shape).to(dtype).to(at::Device(at::kCUDA, device()));
}

const std::vector<at::ScalarType> kDtypes = {at::kFloat, at::kBFloat16, at::kHalf, at::kInt, at::kLong};

}  // namespace

TEST(NcclCollectives, AllToAll) {
  auto& c = world();
  for (auto dtype : kDtypes) {
    at::Tensor in = pattern(c.rank(), {c.size() * 3, 5, 7}, dtype);
    at::Tensor out = at::empty_like(in);
    c.all_to_all(in, out);
    for (int src = 0; src < c.size(); ++src)
      EXPECT_TRUE(at::equal(out.narrow(0, src * 3, 3), pattern(src, {c.size() * 3, 5, 7}, dtype).narrow(0, c.rank() * 3, 3)));
  }
}

TEST(NcclCollectives, AllGatherAllReduceBroadcast) {
  auto& c = world();
  for (auto dtype : kDtypes) {
    at::Tensor in = pattern(c.rank(), {3, 11}, dtype);
    at::Tensor out = at::empty({c.size() * 3, 11}, in.options());
    c.all_gather(in, out);
    for (int src = 0; src < c.size(); ++src) EXPECT_TRUE(at::equal(out.narrow(0, src * 3, 3), pattern(src, {3, 11}, dtype)));

    at::Tensor t = pattern(c.rank(), {13}, dtype);
    c.all_reduce(t);
    at::Tensor expected = at::zeros({13}, at::kDouble);
    for (int r = 0; r < c.size(); ++r) expected += pattern(r, {13}, at::kDouble).cpu();
    EXPECT_TRUE(at::allclose(t.cpu().to(at::kDouble), expected));

    at::Tensor b = pattern(c.rank(), {5}, dtype);
    c.broadcast(b, c.size() - 1);
    EXPECT_TRUE(at::equal(b, pattern(c.size() - 1, {5}, dtype)));
  }
}

TEST(NcclCollectives, RingExchangeOverlapsCompute) {
  auto& c = world();
  const int n = c.size(), next = (c.rank() + 1) % n, prev = (c.rank() + n - 1) % n;
  at::Tensor block = pattern(c.rank(), {1024, 64}, at::kBFloat16);
  for (int hop = 1; hop < n; ++hop) {
    at::Tensor incoming = at::empty_like(block);
    auto request = c.exchange(block, next, incoming, prev);
    at::Tensor busy = at::matmul(block.to(at::kFloat), block.to(at::kFloat).t());  // compute meanwhile
    request->wait();
    block = incoming;
    EXPECT_TRUE(at::equal(block, pattern((c.rank() - hop + n) % n, {1024, 64}, at::kBFloat16)));
  }
}

TEST(NcclCollectives, OrderedOnASideComputeStream) {
  // The result must be visible to work on whatever stream is current at the call.
  auto& c = world();
  auto side = c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(device()));
  c10::cuda::CUDAStreamGuard guard(side);
  at::Tensor t = at::full({1 << 20}, c.rank() + 1.0f, at::TensorOptions().device(at::kCUDA, device()));
  c.all_reduce(t);
  at::Tensor s = t.sum();
  EXPECT_DOUBLE_EQ(s.item<double>(), static_cast<double>(1 << 20) * c.size() * (c.size() + 1) / 2);
}

TEST(NcclCollectives, WaitSecondsAreTheComputeStreamsWaitForAPeer) {
  // The last rank's compute stream is busy ~0.2 s before an all_to_all: the others' compute
  // streams stand still at the exchange for that long, its own does not (device time, events).
  auto& c = world();
  if (c.size() < 2) GTEST_SKIP() << "needs two ranks";
  at::Tensor in = pattern(c.rank(), {c.size() * 64, 128}, at::kFloat), out = at::empty_like(in);
  // A first all_to_all connects the peers: NCCL does that on the host, inside the call, where
  // the device timing would not see the late rank.
  c.all_to_all(in, out);
  c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device())).synchronize();
  c.take_wait_seconds();  // what came before
  const bool late = c.rank() == c.size() - 1;
  if (late) at::cuda::sleep(static_cast<int64_t>(4e8));  // ~0.2 s at up to 1.98 GHz, on the device only
  c.all_to_all(in, out);
  const double waited = c.take_wait_seconds();
  if (late)
    EXPECT_LT(waited, 0.05);
  else
    EXPECT_GT(waited, 0.1);
  EXPECT_EQ(c.take_wait_seconds(), 0.0);  // taken
  EXPECT_TRUE(at::equal(out.narrow(0, 0, 64), pattern(0, {c.size() * 64, 128}, at::kFloat).narrow(0, c.rank() * 64, 64)));
}

// all_to_all of pieces (Ulysses' form): unequal pieces per rank, received into strided places
// of a larger buffer, on the non-blocking world and on a blocking split, as the mesh axes are.
TEST(NcclCollectives, AllToAllPiecesIntoViews) {
  std::vector<int> all(static_cast<size_t>(world().size()));
  std::iota(all.begin(), all.end(), 0);
  auto axis = world().split(all, "ulysses");
  for (Communicator* c : {static_cast<Communicator*>(&world()), static_cast<Communicator*>(axis.get())}) {
    const int n = c->size();
    auto value = [](int from, int to, int piece, int64_t i) { return from * 1000 + to * 100 + piece * 10 + i; };
    const auto gpu = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, device());
    std::vector<at::Tensor> send, recv;
    at::Tensor buffer = at::full({2, n * 8}, -1.0, gpu);
    for (int p = 0; p < n; ++p)
      for (int piece = 0; piece < 2; ++piece) {
        const int64_t len = piece == 0 ? 2 : 5;
        at::Tensor t = at::empty({len});
        for (int64_t i = 0; i < len; ++i) t[i] = value(c->rank(), p, piece, i);
        send.push_back(t.to(gpu));
        recv.push_back(buffer[piece].narrow(0, p * 8 + 1, len));
      }
    c->start_all_to_all(send, recv)->wait();
    const at::Tensor got = buffer.cpu();
    for (int p = 0; p < n; ++p)
      for (int piece = 0; piece < 2; ++piece) {
        const int64_t len = piece == 0 ? 2 : 5;
        for (int64_t i = 0; i < len; ++i)
          EXPECT_EQ(got[piece][p * 8 + 1 + i].item<double>(), value(p, c->rank(), piece, i)) << c->name();
        EXPECT_EQ(got[piece][p * 8].item<double>(), -1.0) << "gap overwritten on " << c->name();
      }
  }
}

// Exchange buffers ([Note: symmetric exchange buffers]): on a blocking split (where NCCL 2.28
// gives symmetric windows and copy-engine all-to-alls) the data of the contiguous and the
// piece-wise all_to_all, a slot that grows, two slots apart, and a mix with ordinary memory.
TEST(NcclCollectives, ExchangeBuffers) {
  std::vector<int> all(static_cast<size_t>(world().size()));
  std::iota(all.begin(), all.end(), 0);
  setenv("PARDIT_PEER_EXCHANGE", "0", 1);  // NCCL's windows, not pardit's peer copies
  auto axis = world().split(all, "ulysses");
  unsetenv("PARDIT_PEER_EXCHANGE");
  const int n = axis->size(), me = axis->rank();
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0)
  if (std::getenv("PARDIT_NCCL_SYMMETRIC") == nullptr) {
    EXPECT_TRUE(axis->has_exchange_buffers());
  }
#endif
  for (int64_t rows : {int64_t{3}, int64_t{4096}, int64_t{2}}) {  // grows, then fits in the grown window
    for (auto dtype : {at::kBFloat16, at::kFloat}) {
      at::Tensor in = axis->exchange_buffer(0, {n * rows, 5, 7}, dtype);
      at::Tensor out = axis->exchange_buffer(1, {n * rows, 5, 7}, dtype);
      ASSERT_EQ(in.device(), at::Device(at::kCUDA, device()));
      ASSERT_NE(in.data_ptr(), out.data_ptr());
      in.copy_(pattern(me, {n * rows, 5, 7}, dtype));
      out.fill_(-1);
      axis->all_to_all(in, out);
      for (int src = 0; src < n; ++src)
        EXPECT_TRUE(at::equal(out.narrow(0, src * rows, rows),
                              pattern(src, {n * rows, 5, 7}, dtype).narrow(0, me * rows, rows)))
            << rows << " rows from rank " << src;
      // Ulysses' form: one piece per peer, back to back.
      std::vector<at::Tensor> send, recv;
      out.fill_(-1);
      for (int p = 0; p < n; ++p) {
        send.push_back(in.narrow(0, p * rows, rows));
        recv.push_back(out.narrow(0, p * rows, rows));
      }
      axis->start_all_to_all(send, recv)->wait();
      for (int src = 0; src < n; ++src)
        EXPECT_TRUE(at::equal(out.narrow(0, src * rows, rows),
                              pattern(src, {n * rows, 5, 7}, dtype).narrow(0, me * rows, rows)));
      // Ordinary memory on one side: refused when the other is a window (NCCL mis-delivers the
      // mix), else the kernel path with the same result.
      at::Tensor plain = at::full_like(out, -1);
      if (axis->has_exchange_buffers()) {
        EXPECT_THROW(axis->all_to_all(in, plain), pardit::Error);
        std::vector<at::Tensor> plain_pieces;
        for (int p = 0; p < n; ++p) plain_pieces.push_back(plain.narrow(0, p * rows, rows));
        EXPECT_THROW(axis->start_all_to_all(send, plain_pieces), pardit::Error);
        axis->all_to_all(in.clone(), plain);
      } else {
        axis->all_to_all(in, plain);
      }
      EXPECT_TRUE(at::equal(plain, out));
    }
  }
}

// Peer exchanges ([Note: peer exchanges]): on one node (by default for two members), an axis
// communicator's exchange buffers are written by the peers' copies: the contiguous all_to_all, a
// slot that grows, Ulysses' gather into row-pitched pieces from ordinary memory, and many
// alternating exchanges on two slots with no handshake before the copies (each one's data checked).
TEST(NcclCollectives, PeerExchanges) {
  std::vector<int> all(static_cast<size_t>(world().size()));
  std::iota(all.begin(), all.end(), 0);
  setenv("PARDIT_PEER_EXCHANGE", "1", 1);  // also beyond two members, where it is not the default
  auto axis = world().split(all, "ulysses");
  unsetenv("PARDIT_PEER_EXCHANGE");
  const int n = axis->size(), me = axis->rank();
  const auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA, device());
  for (int64_t rows : {int64_t{3}, int64_t{4096}, int64_t{2}}) {
    at::Tensor in = pattern(me, {n * rows, 5, 7}, at::kBFloat16);  // ordinary memory
    at::Tensor out = axis->exchange_buffer(1, {n * rows, 5, 7}, at::kBFloat16).fill_(-1);
    ASSERT_TRUE(axis->pitched_exchanges()) << "all ranks of this test run on one node";
    axis->barrier();  // the fill is done before any peer writes (no handshake before the copies)
    axis->all_to_all(in, out);
    for (int src = 0; src < n; ++src)
      EXPECT_TRUE(at::equal(out.narrow(0, src * rows, rows),
                            pattern(src, {n * rows, 5, 7}, at::kBFloat16).narrow(0, me * rows, rows)))
          << rows << " rows from rank " << src;
  }
  // Two slots in turn, as Ulysses uses them: "q/k/v" [n*S, W] in rank order, then the "output"
  // gathered into columns of [S, n, W] (row-pitched receive pieces), each round's data different.
  const int64_t S = 257, W = 96;
  for (int round = 0; round < 40; ++round) {
    at::Tensor sent = (pattern(me, {n * S, W}, at::kFloat) + round).to(gpu);
    at::Tensor qkv = axis->exchange_buffer(2, {n * S, W}, at::kBFloat16);
    std::vector<at::Tensor> send, recv;
    for (int p = 0; p < n; ++p) {
      send.push_back(sent.narrow(0, p * S, S));
      recv.push_back(qkv.narrow(0, p * S, S));
    }
    axis->start_all_to_all(send, recv)->wait();
    // "attention": reads what arrived, on the compute stream, before the next exchange.
    at::Tensor attended = qkv * 2;
    at::Tensor gathered = axis->exchange_buffer(3, {S, n, W}, at::kBFloat16);
    send.clear();
    recv.clear();
    for (int p = 0; p < n; ++p) {
      send.push_back(attended.narrow(0, p * S, S));
      recv.push_back(gathered.select(1, p));
    }
    axis->start_all_to_all(send, recv)->wait();
    const at::Tensor got = gathered.cpu().to(at::kFloat);
    for (int p = 0; p < n; ++p) {
      // Rank p's "attention" of what it received from me: my rows [p*S, (p+1)*S) of my pattern... sent
      // to p, doubled there, and sent back: my own rows of block p.
      const at::Tensor expected = ((pattern(me, {n * S, W}, at::kFloat) + round).to(at::kBFloat16).to(at::kFloat) * 2)
                                      .narrow(0, p * S, S).cpu();
      ASSERT_TRUE(at::equal(got.select(1, p), expected)) << "round " << round << ", block from rank " << p;
    }
  }
  // A pitched piece outside a peer buffer is refused with the rule.
  at::Tensor plain = at::empty({S, n, W}, gpu);
  std::vector<at::Tensor> send, recv;
  at::Tensor sent = at::zeros({n * S, W}, gpu);
  for (int p = 0; p < n; ++p) {
    send.push_back(sent.narrow(0, p * S, S));
    recv.push_back(plain.select(1, p));
  }
  EXPECT_THROW(axis->start_all_to_all(send, recv), pardit::Error);
}

// Ulysses' attention that sends the other ranks' rows before attending its own
// (parallel::ulysses_attention_sending_early, a double block's path with peer exchanges): the same
// output as attention followed by the gather, over several rounds through the same buffers.
TEST(NcclCollectives, UlyssesAttentionSendingEarly) {
  std::vector<int> all(static_cast<size_t>(world().size()));
  std::iota(all.begin(), all.end(), 0);
  setenv("PARDIT_PEER_EXCHANGE", "1", 1);
  auto axis = world().split(all, "ulysses");
  unsetenv("PARDIT_PEER_EXCHANGE");
  const int64_t U = axis->size(), S = 300, Hl = 2, D = 64;
  ASSERT_TRUE(pardit::parallel::ulysses_attention_sends_early(*axis, 1) || U == 1);
  if (U == 1) GTEST_SKIP() << "needs two ranks";
  for (int round = 0; round < 4; ++round) {
    at::manual_seed(100 * round + axis->rank());
    const auto gpu = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA, device());
    const at::Tensor q = at::randn({1, U * S, Hl, D}, gpu), k = at::randn({1, U * S, Hl, D}, gpu),
                     v = at::randn({1, U * S, Hl, D}, gpu);
    const at::Tensor early = pardit::parallel::ulysses_attention_sending_early(*axis, q, k, v).clone();
    const at::Tensor plain =
        pardit::parallel::ulysses_gather_heads(*axis, pardit::model::local_attention(q, k, v).contiguous()).clone();
    ASSERT_EQ(early.sizes(), plain.sizes());
    const double diff = (early.to(at::kFloat) - plain.to(at::kFloat)).abs().max().item<double>();
    EXPECT_LE(diff, 1e-2) << "round " << round;
    EXPECT_GT(plain.to(at::kFloat).abs().max().item<double>(), 0.1);
  }
}

TEST(NcclCollectives, SplitGroupsMatchMesh) {
  const auto topo = pardit::runtime::gather_topology(session(), device());
  const int n = topo.world_size();
  if (n % 2 != 0) GTEST_SKIP();
  pardit::runtime::ParallelConfig config;
  config.ulysses = 2;
  config.dp = n / 2;
  const auto mesh = pardit::runtime::Mesh::place(config, topo);
  CommGroups groups(mesh, topo, session().world_rank(), Backend::nccl);
  auto& u = groups.axis(pardit::runtime::Axis::ulysses);
  at::Tensor me = at::full({1}, session().world_rank(), at::TensorOptions().dtype(at::kLong).device(at::kCUDA, device()));
  at::Tensor members = at::empty({2}, me.options());
  u.all_gather(me, members);
  const auto expected = mesh.group(pardit::runtime::Axis::ulysses, session().world_rank());
  EXPECT_EQ(members[0].item<int64_t>(), expected[0]);
  EXPECT_EQ(members[1].item<int64_t>(), expected[1]);
}
