// A small program that misbehaves on purpose, to prove that no failure hangs the job.
// PARDIT_FAULT selects what rank PARDIT_FAULT_RANK (default 1) does before an all_reduce on the
// world communicator that every other rank enters:
//   stall      sleeps forever (the others must time out and abort the job)
//   abort      calls std::abort() (the launcher tears the job down)
//   throw      throws CommError (main's abort_job ends every rank)
//   p2p_stall  the others wait in recv from it while it sleeps
//   stall_at_start  sleeps before the topology gather (the others wait in bootstrap)
//   stall_at_end  sleeps after the last operation (the others wait at MPI_Finalize)
//   none       behaves
// With PARDIT_FAULT_BACKEND=nccl (CUDA builds, one GPU per rank) the operations are all-to-alls
// on a blocking NCCL axis communicator split from the world, as pardit's Ulysses groups are:
//   stall        rank `bad` sleeps after one good round: the others' transfer never completes
//   stall_first  rank `bad` sleeps before the first transfer: the others' first NCCL call has to
//                connect to it (a host call that does not return)
//   none         behaves
// Exit code: what abort_job gives (3 for communication failures).
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "pardit/comm/mpi_communicator.hpp"
#ifdef PARDIT_HAVE_CUDA
#include <numeric>
#include <vector>

#include "pardit/comm/nccl_communicator.hpp"
#include "pardit/common/env.hpp"
#include "pardit/runtime/device.hpp"
#endif
#include "pardit/runtime/abort.hpp"
#include "pardit/runtime/mpi_session.hpp"
#include "pardit/runtime/topology.hpp"

namespace {

[[noreturn]] void sleep_forever() {
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

#ifdef PARDIT_HAVE_CUDA
void nccl_probe(const pardit::runtime::MpiSession& session, const std::string& fault, int bad) {
  const int device = pardit::runtime::select_device(session);
  auto world = pardit::comm::NcclCommunicator::world(pardit::runtime::gather_topology(session, device));
  std::vector<int> all(static_cast<size_t>(session.world_size()));
  std::iota(all.begin(), all.end(), 0);
  auto axis = world->split(all, "ulysses");  // blocking, as the mesh axes are
  const auto gpu = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, device);
  at::Tensor in = at::ones({session.world_size() * (1 << 20)}, gpu), out = at::empty_like(in);
  const bool buffers = pardit::env_is("PARDIT_FAULT_BUFFERS", "1");
  if (buffers) {  // the communicator's exchange buffers (collective)
    in = axis->exchange_buffer(0, in.sizes(), at::kFloat).fill_(1);
    out = axis->exchange_buffer(1, in.sizes(), at::kFloat);
    if (session.world_rank() == 0)
      std::printf("fault_probe: exchange buffers moved by %s\n",
                  axis->pitched_exchanges() ? "peer copies" : axis->has_exchange_buffers() ? "NCCL" : "nothing");
  }
  // With exchange buffers the second all_to_all receives into another slot: a peer may write into
  // a receive buffer as soon as it has this rank's data ([Note: peer exchanges]).
  at::Tensor out2 = buffers ? axis->exchange_buffer(2, in.sizes(), at::kFloat) : out;
  const bool me = session.world_rank() == bad;
  auto check = [&](const at::Tensor& t) {  // waits for the transfer on the host
    if (t.sum().item<float>() != static_cast<float>(t.numel()))
      throw pardit::Error(pardit::ExitCode::runtime_failure, "fault_probe: wrong data after all_to_all");
  };
  if (fault == "stall_first" && me) sleep_forever();
  axis->all_to_all(in, out);
  check(out);
  if (fault == "stall" && me) sleep_forever();
  axis->all_to_all(in, out2);
  check(out2);
  if (session.world_rank() == 0) std::printf("fault_probe: finished normally\n");
}
#endif

}  // namespace

int main(int argc, char** argv) {
  pardit::runtime::MpiSession session(&argc, &argv);
  try {
    const std::string fault = std::getenv("PARDIT_FAULT") ? std::getenv("PARDIT_FAULT") : "none";
    const int bad = std::getenv("PARDIT_FAULT_RANK") ? std::atoi(std::getenv("PARDIT_FAULT_RANK")) : 1;
    const char* backend = std::getenv("PARDIT_FAULT_BACKEND");
    if (backend && std::string(backend) == "nccl") {
#ifdef PARDIT_HAVE_CUDA
      nccl_probe(session, fault, bad);
      return 0;
#else
      throw pardit::Error(pardit::ExitCode::bad_input, "fault_probe: PARDIT_FAULT_BACKEND=nccl needs a CUDA build");
#endif
    }
    if (fault == "stall_at_start" && session.world_rank() == bad)
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    auto topology = pardit::runtime::gather_topology(session);
    auto world = pardit::comm::MpiCommunicator::world(topology);
    at::Tensor t = at::ones({17}, at::kFloat);
    world->all_reduce(t);  // one good round first
    if (session.world_rank() == bad) {
      if (fault == "stall" || fault == "p2p_stall") {
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      }
      if (fault == "abort") std::abort();
      if (fault == "throw") throw pardit::CommError("fault_probe: injected failure");
    }
    if (fault == "p2p_stall") {
      if (session.world_rank() == (bad + 1) % session.world_size()) world->recv(t, bad);
      else world->barrier();
    } else {
      world->all_reduce(t);
    }
    world->barrier();
    if (session.world_rank() == 0) std::printf("fault_probe: finished normally\n");
    if (fault == "stall_at_end" && session.world_rank() == bad)
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  } catch (const std::exception& e) {
    pardit::runtime::abort_job(e, pardit::runtime::exit_code_of(e));
  }
  return 0;
}
