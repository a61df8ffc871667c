// Internal: adds the wall time of a communicator call to its stats.
#pragma once

#include <chrono>

#include "pardit/comm/communicator.hpp"

namespace pardit::comm::detail {

class CommTimer {
 public:
  explicit CommTimer(CommStats& stats) : stats_(stats), start_(std::chrono::steady_clock::now()) {}
  ~CommTimer() {
    stats_.seconds_in_comm += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    ++stats_.operations;
  }
  CommTimer(const CommTimer&) = delete;
  CommTimer& operator=(const CommTimer&) = delete;

 private:
  CommStats& stats_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace pardit::comm::detail
