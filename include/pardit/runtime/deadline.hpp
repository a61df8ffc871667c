// Deadlines for communication: nothing in pardit waits forever.
//
// MPI operations are posted non-blocking (MPI_I*) and completed with wait_with_deadline(), which
// polls MPI_Test until done or until the deadline passes, then throws CommError. The default is
// 300 s, overridden by PARDIT_COMM_TIMEOUT_S (seconds, may be fractional) or set_comm_timeout().
#pragma once

#include <mpi.h>

#include <chrono>
#include <string>

namespace pardit::runtime {

using Clock = std::chrono::steady_clock;

double comm_timeout_seconds();  // current deadline for one communication operation
void set_comm_timeout_seconds(double seconds);

// Waits for `count` requests. Returns true when all completed, false when `timeout_seconds` passed
// first (requests are then left pending: the caller reports and aborts). MPI errors throw.
bool wait_with_deadline(MPI_Request* requests, int count, double timeout_seconds);

// Same, and throws CommError "<what> timed out after X s" on expiry. For bootstrap-time operations
// (topology gather, communicator creation) whose participants are the whole world.
void wait_or_throw(MPI_Request* requests, int count, const std::string& what);

// A barrier over `comm` bounded by the deadline: used before blocking MPI calls that have no
// non-blocking form (MPI_Comm_split), so a stalled rank is caught before we enter them.
void deadline_barrier(MPI_Comm comm, const std::string& what);

}  // namespace pardit::runtime
