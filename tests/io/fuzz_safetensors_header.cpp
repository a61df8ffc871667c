// libFuzzer entry point for the safetensors header parser (not part of the CMake build yet).
// Input: 8 bytes choosing the data-section size, then the header JSON. Only InputError may
// escape parse_safetensors_header; anything else (crash, sanitizer report, other exception)
// is a bug. Build and run by hand (clang, from the repository root):
//
//   T=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -DFMT_HEADER_ONLY -Iinclude \
//     -I$T/include tests/io/fuzz_safetensors_header.cpp src/io/safetensors_header.cpp \
//     src/common/error.cpp -L$T/lib -lc10 -Wl,-rpath,$T/lib -o fuzz_safetensors_header
//   ./fuzz_safetensors_header -max_total_time=120 -max_len=4096 CORPUS_DIR
#include "pardit/common/error.hpp"
#include "pardit/io/safetensors.hpp"

#include <cstdint>
#include <cstring>

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
