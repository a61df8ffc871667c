#include "pardit/comm/communicator.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pardit/common/error.hpp"

namespace pardit::comm {

std::string Communicator::describe_group() const {
  return fmt::format("{} group [world ranks {}]", name_, fmt::join(world_ranks_, ","));
}

void Communicator::check_peer(int peer, const char* op) const {
  PARDIT_CHECK(peer >= 0 && peer < size() && peer != rank_, "{} on {}: peer {} is not another rank of 0..{}", op,
               describe_group(), peer, size() - 1);
}

void Communicator::check_all_to_all(const at::Tensor& in, const at::Tensor& out) const {
  PARDIT_CHECK(in.dim() >= 1 && in.size(0) % size() == 0,
               "all_to_all on {}: dim 0 of the input ({}) must be a multiple of the group size {}", describe_group(),
               in.dim() >= 1 ? in.size(0) : 0, size());
  PARDIT_CHECK(out.sizes() == in.sizes(), "all_to_all on {}: output shape {} != input shape {}", describe_group(),
               out.sizes(), in.sizes());
  PARDIT_CHECK(out.scalar_type() == in.scalar_type(), "all_to_all on {}: output dtype {} != input dtype {}",
               describe_group(), c10::toString(out.scalar_type()), c10::toString(in.scalar_type()));
  PARDIT_CHECK(in.is_contiguous() && out.is_contiguous(), "all_to_all on {}: tensors must be contiguous",
               describe_group());
}

void Communicator::check_all_gather(const at::Tensor& in, const at::Tensor& out) const {
  PARDIT_CHECK(in.dim() >= 1 && out.dim() == in.dim(), "all_gather on {}: input and output need the same rank >= 1",
               describe_group());
  PARDIT_CHECK(out.size(0) == in.size(0) * size() && out.numel() == in.numel() * size(),
               "all_gather on {}: output shape {} must be input shape {} with dim 0 times {}", describe_group(),
               out.sizes(), in.sizes(), size());
  PARDIT_CHECK(out.scalar_type() == in.scalar_type(), "all_gather on {}: output dtype {} != input dtype {}",
               describe_group(), c10::toString(out.scalar_type()), c10::toString(in.scalar_type()));
  PARDIT_CHECK(in.is_contiguous() && out.is_contiguous(), "all_gather on {}: tensors must be contiguous",
               describe_group());
}

namespace {
class CompletedRequest final : public Request {
 public:
  void wait() override {}
};
}  // namespace

RequestPtr Communicator::start_all_to_all(const at::Tensor& in, at::Tensor& out) {
  all_to_all(in, out);
  return std::make_unique<CompletedRequest>();
}

}  // namespace pardit::comm
