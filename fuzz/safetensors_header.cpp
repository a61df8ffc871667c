// libFuzzer target: the safetensors header parser (io::parse_safetensors_header).
// Input: 8 bytes choosing the data-section size, then the header JSON. Only InputError may
// escape; a crash, a sanitizer report or any other exception is a bug.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "pardit/common/error.hpp"
#include "pardit/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t data_nbytes = 0;
  std::memcpy(&data_nbytes, data, 8);
  try {
    pardit::io::parse_safetensors_header(std::string_view(reinterpret_cast<const char*>(data + 8), size - 8),
                                         data_nbytes % 100000);
  } catch (const pardit::InputError&) {
  }
  return 0;
}
