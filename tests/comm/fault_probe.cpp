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
// Exit code: what abort_job gives (3 for communication failures).
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "pardit/comm/mpi_communicator.hpp"
#include "pardit/runtime/abort.hpp"
#include "pardit/runtime/mpi_session.hpp"
#include "pardit/runtime/topology.hpp"

int main(int argc, char** argv) {
  pardit::runtime::MpiSession session(&argc, &argv);
  try {
    const std::string fault = std::getenv("PARDIT_FAULT") ? std::getenv("PARDIT_FAULT") : "none";
    const int bad = std::getenv("PARDIT_FAULT_RANK") ? std::atoi(std::getenv("PARDIT_FAULT_RANK")) : 1;
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
