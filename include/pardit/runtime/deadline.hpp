// Deadlines for communication: nothing in pardit waits forever.
//
// MPI operations are posted non-blocking (MPI_I*) and completed with wait_with_deadline(), which
// polls MPI_Test until done or until the deadline passes, then throws CommError. The default is
// 300 s, overridden by PARDIT_COMM_TIMEOUT_S (seconds, may be fractional) or set_comm_timeout().
#pragma once

#include <mpi.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace pardit::runtime {

using Clock = std::chrono::steady_clock;

double comm_timeout_seconds();  // current deadline for one communication operation
void set_comm_timeout_seconds(double seconds);

// Waits for `count` requests. Returns true when all completed, false when `timeout_seconds` passed
// first (requests are then left pending: the caller reports and aborts). MPI errors throw.
bool wait_with_deadline(MPI_Request* requests, int count, double timeout_seconds);

// Same, and throws CommError "<what> timed out after X s; no answer from rank R (host)" on expiry.
// For operations over the whole world (topology gather, communicator creation, the final barrier):
// the diagnosis runs on the world duplicate that MpiSession registered.
void wait_or_throw(MPI_Request* requests, int count, const std::string& what);

// A barrier over `comm` bounded by the deadline: used before blocking MPI calls that have no
// non-blocking form (MPI_Comm_split), so a stalled rank is caught before we enter them.
void deadline_barrier(MPI_Comm comm, const std::string& what);

// [Note: stall diagnosis]
// A timed-out MPI operation cannot say which peer is missing. So, after the deadline, every member
// that timed out sends its operation number to every other member on a separate communicator
// (`diag_comm`, a duplicate of the group's) and waits a grace period (timeout/2, 0.2..10 s) for
// theirs. Members that stalled, died, or are elsewhere do not answer and are named as suspects;
// members that answer with a different operation number reveal ranks that called collectives in
// different orders. All healthy members of a collective time out within the same grace period, so
// they see each other's answers. Runs once per process: the job is aborted right after.
struct StallDiagnosis {
  std::vector<int> silent;                           // ranks of diag_comm that did not answer
  std::vector<std::pair<int, long long>> elsewhere;  // (rank, its operation number) when != ours
};
StallDiagnosis diagnose_stall(MPI_Comm diag_comm, long long my_operation);

// Set by MpiSession: a duplicate of MPI_COMM_WORLD for diagnosis and every rank's node name, so
// messages can name hosts before the topology is gathered.
void set_world_identity(MPI_Comm diag_world, std::vector<std::string> node_names);
std::string node_name_of_world_rank(int world_rank);  // "?" when unknown

}  // namespace pardit::runtime
