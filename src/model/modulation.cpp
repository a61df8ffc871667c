#include "pardit/model/modulation.hpp"

#include <ATen/ATen.h>

#include "pardit/common/env.hpp"
#include "pardit/common/error.hpp"

namespace pardit::model {

std::vector<at::Tensor> AdaLNModulation::forward(const Temb& temb) const {
  if (temb.table == nullptr) return linear.forward(at::silu(temb.vector)).chunk(chunks, 1);
  // The same [B, chunks * dim] layout as the per-step path, so the chunks are views with the
  // same strides and every consumer sees what it would see then.
  const auto& layers = temb.table->layers;
  PARDIT_CHECK(slot >= 0 && static_cast<size_t>(slot) < layers.size(),
               "AdaLN modulation slot {} is not in a table of {} layers", slot, layers.size());
  const at::Tensor& rows = layers[static_cast<size_t>(slot)];
  PARDIT_CHECK(temb.row >= 0 && temb.row + temb.batch <= rows.size(0),
               "modulation rows [{}, {}) are outside the table's {} rows", temb.row, temb.row + temb.batch,
               rows.size(0));
  return rows.narrow(0, temb.row, temb.batch).chunk(chunks, 1);
}

void AdaLNModulation::visit(const std::string& prefix, const ParamVisitor& v) {
  linear.visit(join_key(prefix, "linear"), v);
}

bool modulation_table_enabled() {
  static const bool enabled = !env_is("PARDIT_MODULATION_TABLE", "0");
  return enabled;
}

}  // namespace pardit::model
