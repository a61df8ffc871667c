// Private: the safetensors dtype strings pardit reads and writes, and their ATen types.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <string_view>

namespace pardit::io::detail {

std::optional<at::ScalarType> safetensors_dtype_from_name(std::string_view name);
std::optional<std::string_view> safetensors_dtype_name(at::ScalarType type);
// "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL", for error messages.
std::string safetensors_supported_dtypes();

}  // namespace pardit::io::detail
