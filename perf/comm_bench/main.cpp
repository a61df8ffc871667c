// pardit-comm-bench: bandwidth of pardit's Communicator (MPI or NCCL backend) in the style of
// nccl-tests. Run under a launcher, one rank per GPU:
//
//   mpirun -np 8 build/bin/pardit-comm-bench --ops all_reduce,all_gather --min-bytes 1K --max-bytes 1G
//
// For each op and size: allocate the buffers, fill them with rank-dependent values, run the op
// once and verify the result ("#wrong", outside any timed region), warm up, then time `iters`
// back-to-back operations between two synchronisation points (NCCL: device synchronize; MPI:
// barrier, the operations are blocking) with the host wall clock. The time reported is the mean
// per operation of the slowest rank (MPI_Allreduce MAX). Sizes, algbw and busbw follow nccl-tests;
// the convention and the formulas are in bench.hpp and README.md:
//   algbw = bytes / time
//   busbw = algbw * factor, factor = 2(n-1)/n all_reduce, (n-1)/n all_gather (bytes = total output),
//           (n-1)/n all_to_all (bytes = total input), 1 sendrecv (ring shift through exchange()).
// all_reduce is in place (the Communicator has no out-of-place form): one "time" column, not
// nccl-tests' out-of-place and in-place pairs.
#include <ATen/ATen.h>
#ifdef PARDIT_HAVE_CUDA
#include <ATen/detail/CUDAHooksInterface.h>
#endif
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench.hpp"
#include "pardit/comm/communicator.hpp"
#include "pardit/comm/mpi_communicator.hpp"
#include "pardit/common/error.hpp"
#include "pardit/runtime/abort.hpp"
#include "pardit/runtime/device.hpp"
#include "pardit/runtime/mpi_session.hpp"
#include "pardit/runtime/topology.hpp"
#ifdef PARDIT_HAVE_CUDA
#include "pardit/comm/nccl_communicator.hpp"
#endif

namespace {

using pardit::perf::Op;

struct Options {
  std::string backend = "auto";
  std::vector<std::string> ops{"all_to_all", "all_gather", "all_reduce", "sendrecv"};
  std::string min_bytes = "1K", max_bytes = "1G";
  int64_t factor = 2;
  int warmup = 5, iters = 20;
  std::string dtype = "bf16";
  std::string json;
  bool exchange_buffers = false;
};

// Everything one (op, size) needs: buffers, the operation, and the check.
struct Case {
  Op op;
  int64_t count = 0;  // elements of the named buffer (bench.hpp)
  at::Tensor in, out;
};

class Bench {
 public:
  Bench(pardit::comm::Communicator& comm, at::ScalarType dtype, at::Device device, bool nccl, bool exchange_buffers)
      : comm_(comm), dtype_(dtype), device_(device), nccl_(nccl), exchange_buffers_(exchange_buffers),
        n_(comm.size()), r_(comm.rank()) {}

  Case make(Op op, int64_t count) const {
    Case c{op, count, {}, {}};
    auto opt = at::TensorOptions().dtype(dtype_).device(device_);
    switch (op) {
      case Op::all_reduce: c.in = at::empty({count}, opt); break;
      case Op::all_gather:
        c.in = at::empty({count / n_}, opt);
        c.out = at::empty({count}, opt);
        break;
      case Op::all_to_all:
        if (exchange_buffers_) {  // the communicator's own memory (NCCL: symmetric windows)
          c.in = comm_.exchange_buffer(0, {count}, dtype_);
          c.out = comm_.exchange_buffer(1, {count}, dtype_);
          break;
        }
        [[fallthrough]];
      case Op::sendrecv:
        c.in = at::empty({count}, opt);
        c.out = at::empty({count}, opt);
        break;
    }
    return c;
  }

  void run(Case& c) {
    switch (c.op) {
      case Op::all_reduce: comm_.all_reduce(c.in); break;
      case Op::all_gather: comm_.all_gather(c.in, c.out); break;
      case Op::all_to_all: comm_.all_to_all(c.in, c.out); break;
      case Op::sendrecv: comm_.exchange(c.in, (r_ + 1) % n_, c.out, (r_ - 1 + n_) % n_)->wait(); break;
    }
  }

  // Fills the inputs (values in bench.hpp), runs once, counts wrong output elements on this rank.
  int64_t check(Case& c) {
    const int64_t m = (c.op == Op::all_gather || c.op == Op::all_to_all) ? c.count / n_ : c.count;
    auto iopt = at::TensorOptions().dtype(at::kInt).device(device_);
    at::Tensor i = at::arange(m, iopt);
    at::Tensor expected;
    switch (c.op) {
      case Op::all_reduce: {
        c.in.copy_(at::remainder(i + r_, 4));
        auto table = pardit::perf::all_reduce_expected_table(n_);
        expected = at::tensor(std::vector<int64_t>(table.begin(), table.end()), iopt.dtype(at::kLong))
                       .index_select(0, at::remainder(i, 4));
        break;
      }
      case Op::all_gather: {
        c.in.copy_(at::remainder(i + 3 * r_, 7));
        at::Tensor blk = at::arange(n_, iopt).view({n_, 1});
        expected = at::remainder(blk * 3 + i.view({1, m}), 7).reshape({-1});
        break;
      }
      case Op::all_to_all: {
        at::Tensor blk = at::arange(n_, iopt).view({n_, 1});
        c.in.copy_(at::remainder(blk * 3 + i.view({1, m}) + 5 * r_, 11).reshape({-1}));
        expected = at::remainder(blk * 5 + i.view({1, m}) + 3 * r_, 11).reshape({-1});
        break;
      }
      case Op::sendrecv: {
        c.in.copy_(at::remainder(i + 3 * r_, 13));
        expected = at::remainder(i + 3 * ((r_ - 1 + n_) % n_), 13);
        break;
      }
    }
    if (c.out.defined()) c.out.fill_(-1);
    run(c);
    const at::Tensor& result = c.op == Op::all_reduce ? c.in : c.out;
    return at::ne(result, expected.to(dtype_)).sum().item<int64_t>();
  }

  void synchronize() {
#ifdef PARDIT_HAVE_CUDA
    if (nccl_) at::detail::getCUDAHooks().deviceSynchronize(device_.index());
#endif
  }

  // Mean seconds per operation of `iters` back-to-back runs on this rank.
  double time(Case& c, int warmup, int iters) {
    if (c.op == Op::all_reduce) c.in.zero_();  // in place: keep the repeated sums finite
    for (int k = 0; k < warmup; ++k) run(c);
    synchronize();
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < iters; ++k) run(c);
    synchronize();
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double>(t1 - t0).count() / std::max(iters, 1);
  }

 private:
  pardit::comm::Communicator& comm_;
  at::ScalarType dtype_;
  at::Device device_;
  bool nccl_;
  bool exchange_buffers_;
  int n_, r_;
};

int bench_main(pardit::runtime::MpiSession& session, const Options& o) {
  const int rank = session.world_rank();
  const at::ScalarType dtype = o.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  const int64_t elem = o.dtype == "bf16" ? 2 : 4;

  int gpu = -1;
#ifdef PARDIT_HAVE_CUDA
  if (o.backend != "mpi") gpu = pardit::runtime::select_device(session);
#endif
  std::string backend = o.backend;
  if (backend == "auto") backend = gpu >= 0 ? "nccl" : "mpi";
#ifndef PARDIT_HAVE_CUDA
  if (backend == "nccl")
    throw pardit::InputError("--backend nccl needs a build with CUDA (PARDIT_CUDA=ON); this build is CPU-only");
#else
  if (backend == "nccl" && gpu < 0) throw pardit::InputError("--backend nccl: no visible GPU on this rank");
#endif
  const bool nccl = backend == "nccl";

  auto topology = pardit::runtime::gather_topology(session, nccl ? gpu : -1);
  std::unique_ptr<pardit::comm::Communicator> world, comm;
  at::Device device(at::kCPU);
#ifdef PARDIT_HAVE_CUDA
  if (nccl) {
    auto nccl_world = pardit::comm::NcclCommunicator::world(topology);
    if (o.exchange_buffers) {
      // As the model's exchanges run: on a communicator split from the world (blocking, with the
      // CTA policy and windows of [Note: symmetric exchange buffers]).
      std::vector<int> all(static_cast<size_t>(nccl_world->size()));
      for (int r = 0; r < nccl_world->size(); ++r) all[static_cast<size_t>(r)] = r;
      comm = nccl_world->split(all, "bench");
    } else {
      comm = std::move(nccl_world);
    }
    world = std::move(nccl_world);
    device = at::Device(at::kCUDA, static_cast<at::DeviceIndex>(gpu));
  }
#endif
  if (o.exchange_buffers && !nccl)
    throw pardit::InputError("--exchange-buffers needs the NCCL backend (--backend nccl)");
  if (!comm) comm = pardit::comm::MpiCommunicator::world(topology);
  const int n = comm->size();

  std::vector<Op> ops;
  for (const auto& name : o.ops) ops.push_back(pardit::perf::op_from_name(name));
  const auto sizes =
      pardit::perf::size_sweep(pardit::perf::parse_bytes(o.min_bytes), pardit::perf::parse_bytes(o.max_bytes), o.factor);

  std::ofstream json;
  if (rank == 0 && !o.json.empty()) {
    json.open(o.json, std::ios::trunc);
    if (!json) throw pardit::InputError(fmt::format("--json: cannot write {}", o.json));
  }
  if (rank == 0) {
    std::printf("# pardit-comm-bench: backend %s, %d ranks on %d node(s), dtype %s, warmup %d, iters %d%s\n",
                backend.c_str(), n, topology.num_nodes(), o.dtype.c_str(), o.warmup, o.iters,
                o.exchange_buffers ? ", exchange buffers" : "");
    for (int r = 0; r < n; ++r) {
      const auto& info = topology.rank(r);
      std::printf("#   rank %2d on %s pid %d%s\n", r, info.node_name.c_str(), info.pid,
                  info.gpu_index >= 0 ? fmt::format(" device {} [{}] {}", info.gpu_index, info.gpu_pci_bus_id,
                                                    info.gpu_name).c_str()
                                      : "");
    }
    std::printf("# size = bytes of the per-rank buffer (all_gather: output, all_to_all: input, sendrecv: message)\n");
    std::printf("# time = mean per operation of the slowest rank; algbw = size/time; busbw = algbw * factor\n");
    std::fflush(stdout);
  }

  Bench bench(*comm, dtype, device, nccl, o.exchange_buffers);
  int64_t total_wrong = 0;
  for (Op op : ops) {
    if (op == Op::sendrecv && n < 2) {
      if (rank == 0) std::printf("#\n# sendrecv: skipped (needs at least 2 ranks)\n");
      continue;
    }
    const double factor = pardit::perf::bus_factor(op, n);
    if (rank == 0) {
      std::printf("#\n# %s  (busbw factor %.4f)\n", pardit::perf::op_name(op), factor);
      std::printf("# %12s %12s %6s %10s %12s %12s %8s\n", "size(B)", "count", "type", "time(us)", "algbw(GB/s)",
                  "busbw(GB/s)", "#wrong");
      std::fflush(stdout);
    }
    double busbw_sum = 0;
    int rows = 0;
    int64_t last_count = -1;
    for (int64_t requested : sizes) {
      const int64_t count = pardit::perf::element_count(op, requested, elem, n);
      if (count <= 0 || count == last_count) continue;
      last_count = count;
      const int64_t bytes = count * elem;
      Case c = bench.make(op, count);
      int64_t wrong = bench.check(c);
      const double seconds = bench.time(c, o.warmup, o.iters);
      double max_seconds = 0;
      int64_t all_wrong = 0;
      MPI_Allreduce(&seconds, &max_seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      MPI_Allreduce(&wrong, &all_wrong, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
      total_wrong += all_wrong;
      const double algbw = pardit::perf::algbw_gbs(bytes, max_seconds);
      const double busbw = algbw * factor;
      busbw_sum += busbw;
      ++rows;
      if (rank == 0) {
        std::printf("  %12lld %12lld %6s %10.2f %12.3f %12.3f %8lld\n", static_cast<long long>(bytes),
                    static_cast<long long>(count), o.dtype.c_str(), max_seconds * 1e6, algbw, busbw,
                    static_cast<long long>(all_wrong));
        std::fflush(stdout);
        if (json.is_open())
          json << fmt::format(
                      "{{\"system\":\"pardit-comm-bench\",\"backend\":\"{}\",\"op\":\"{}\",\"dtype\":\"{}\","
                      "\"bytes\":{},\"count\":{},\"ranks\":{},\"nodes\":{},\"warmup\":{},\"iters\":{},"
                      "\"time_us\":{:.3f},\"algbw_gbs\":{:.4f},\"busbw_gbs\":{:.4f},\"wrong\":{},"
                      "\"exchange_buffers\":{}}}\n",
                      backend, pardit::perf::op_name(op), o.dtype, bytes, count, n, topology.num_nodes(), o.warmup,
                      o.iters, max_seconds * 1e6, algbw, busbw, all_wrong, o.exchange_buffers)
               << std::flush;
      }
    }
    if (rank == 0 && rows > 0) std::printf("# %s avg busbw: %.3f GB/s\n", pardit::perf::op_name(op), busbw_sum / rows);
  }
  comm->barrier();
  if (rank == 0) {
    std::printf("#\n# wrong results: %lld%s\n", static_cast<long long>(total_wrong), total_wrong ? "  FAILED" : "");
    std::fflush(stdout);
  }
  return total_wrong ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  pardit::runtime::MpiSession session(&argc, &argv);
  Options o;
  CLI::App app{"pardit-comm-bench: nccl-tests-style bandwidth of the pardit Communicator (run under mpirun/srun)"};
  app.add_option("--backend", o.backend, "mpi | nccl | auto (nccl in CUDA builds with a visible GPU, else mpi)")
      ->check(CLI::IsMember({"auto", "mpi", "nccl"}));
  app.add_option("--ops", o.ops, "comma-separated: all_to_all,all_gather,all_reduce,sendrecv")
      ->delimiter(',')
      ->check(CLI::IsMember({"all_to_all", "all_gather", "all_reduce", "sendrecv"}));
  app.add_option("--min-bytes,-b", o.min_bytes, "smallest size (1K = 1024 bytes)");
  app.add_option("--max-bytes,-e", o.max_bytes, "largest size");
  app.add_option("--factor,-f", o.factor, "size multiplier between steps")->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  app.add_option("--warmup,-w", o.warmup, "untimed iterations per size")->check(CLI::NonNegativeNumber);
  app.add_option("--iters,-n", o.iters, "timed iterations per size")->check(CLI::PositiveNumber);
  app.add_option("--dtype", o.dtype, "bf16 | fp32")->check(CLI::IsMember({"bf16", "fp32"}));
  app.add_option("--json", o.json, "write one JSON object per (op, size) to this file (rank 0)");
  app.add_flag("--exchange-buffers", o.exchange_buffers,
               "all_to_all between the communicator's exchange buffers (NCCL: symmetric windows, copy engines)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parsed the same line and leaves the same way (MpiSession finalizes); rank 0 prints.
    if (session.world_rank() == 0) app.exit(e);
    return e.get_exit_code() == 0 ? 0 : static_cast<int>(pardit::ExitCode::bad_input);
  }
  try {
    // Validate sizes before any collective so every rank fails the same way.
    const int64_t lo = pardit::perf::parse_bytes(o.min_bytes), hi = pardit::perf::parse_bytes(o.max_bytes);
    if (lo <= 0 || hi < lo) throw pardit::InputError(fmt::format("need 0 < --min-bytes <= --max-bytes (got {}, {})", lo, hi));
    return bench_main(session, o);
  } catch (const std::invalid_argument& e) {
    pardit::runtime::abort_job(pardit::InputError(e.what()), pardit::ExitCode::bad_input);
  } catch (const std::exception& e) {
    pardit::runtime::abort_job(e, pardit::runtime::exit_code_of(e));
  }
}
