// The check family for the communication libraries: MPI_CHECK, and with PARDIT_HAVE_CUDA also
// CUDA_CHECK and NCCL_CHECK. A failed call throws pardit::CommError (MPI, NCCL) or pardit::Error
// (CUDA) whose message carries host:rank, file:line, the failing expression and the library's
// own error string, e.g.
//   "node07:rank 13 src/comm/nccl_communicator.cpp:88: ncclGroupEnd() failed: unhandled system error"
//
// Header-only on purpose: runtime/ (bootstrap) and comm/ both use it without a link dependency.
#pragma once

#include <mpi.h>

#include <string>

#include "pardit/common/error.hpp"

#ifdef PARDIT_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace pardit::comm::detail {

inline std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return fmt::format("MPI error {}", code);
  return std::string(text, static_cast<size_t>(length));
}

[[noreturn]] inline void throw_mpi(int code, const char* expr, const char* file, int line) {
  throw CommError(fmt::format("{} {}:{}: {} failed: {}", error_identity(), file, line, expr,
                              mpi_error_string(code)));
}

#ifdef PARDIT_HAVE_CUDA
[[noreturn]] inline void throw_cuda(cudaError_t code, const char* expr, const char* file, int line) {
  throw Error(ExitCode::runtime_failure, fmt::format("{} {}:{}: {} failed: {} ({})", error_identity(),
                                                     file, line, expr, cudaGetErrorString(code),
                                                     cudaGetErrorName(code)));
}

[[noreturn]] inline void throw_nccl(ncclResult_t code, const char* expr, const char* file, int line) {
  throw CommError(fmt::format("{} {}:{}: {} failed: {} ({})", error_identity(), file, line, expr,
                              ncclGetErrorString(code), static_cast<int>(code)));
}
#endif

}  // namespace pardit::comm::detail

// Communicators return errors (MPI_ERRORS_RETURN is set on every communicator pardit creates and on
// MPI_COMM_WORLD by MpiSession), so a failure becomes an exception instead of an abort.
#define MPI_CHECK(expr)                                                              \
  do {                                                                               \
    int pardit_mpi_rc_ = (expr);                                                     \
    if (pardit_mpi_rc_ != MPI_SUCCESS)                                               \
      ::pardit::comm::detail::throw_mpi(pardit_mpi_rc_, #expr, __FILE__, __LINE__);  \
  } while (0)

#ifdef PARDIT_HAVE_CUDA
#define CUDA_CHECK(expr)                                                             \
  do {                                                                               \
    cudaError_t pardit_cuda_rc_ = (expr);                                            \
    if (pardit_cuda_rc_ != cudaSuccess)                                              \
      ::pardit::comm::detail::throw_cuda(pardit_cuda_rc_, #expr, __FILE__, __LINE__); \
  } while (0)

#define NCCL_CHECK(expr)                                                             \
  do {                                                                               \
    ncclResult_t pardit_nccl_rc_ = (expr);                                           \
    if (pardit_nccl_rc_ != ncclSuccess && pardit_nccl_rc_ != ncclInProgress)         \
      ::pardit::comm::detail::throw_nccl(pardit_nccl_rc_, #expr, __FILE__, __LINE__); \
  } while (0)
#endif
