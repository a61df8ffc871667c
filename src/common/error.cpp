#include "pardit/common/error.hpp"

namespace pardit {
namespace {
std::string& identity_storage() {
  static std::string identity = "local";
  return identity;
}
}  // namespace

void set_error_identity(const std::string& host, int rank) {
  identity_storage() = fmt::format("{}:rank {}", host, rank);
}

const std::string& error_identity() { return identity_storage(); }

namespace detail {
void throw_runtime(const char* file, int line, const std::string& msg) {
  throw Error(ExitCode::runtime_failure, fmt::format("{} {}:{}: {}", error_identity(), file, line, msg));
}
}  // namespace detail
}  // namespace pardit
