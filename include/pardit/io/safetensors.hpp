// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON describing every tensor (dtype, shape, byte range within
// the data section), then the data section. Reading maps the file and hands out tensors that
// view the mapping, so a 24 GB checkpoint costs no copy until the model converts it.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pardit::io {

using TensorMap = std::map<std::string, at::Tensor>;

struct SafetensorsEntry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets within the data section, [begin, end)
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // 8 + header length: where the data section starts in the file
};

// Validates everything about the header on its own: JSON syntax, each entry's dtype
// (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL), non-negative shape, byte size equal to
// numel * itemsize, offsets within data_nbytes, no overlaps, entries covering the data section,
// "__metadata__" a string -> string map. Throws InputError; never crashes on any input (it is
// also the entry point of a libFuzzer target). data_offset = 8 + header_json.size().
SafetensorsHeader parse_safetensors_header(std::string_view header_json, uint64_t data_nbytes);

// Reads and validates the header of `file`: the 8-byte length (refused when larger than the
// file or than 100 MiB), truncation, then parse_safetensors_header. Errors name the file.
SafetensorsHeader read_safetensors_header(const std::filesystem::path& file);

// Maps the file read-only; the tensors are CPU views of the mapping, which stays alive as long
// as any of them does. Do not write into them (the pages are mapped PROT_READ).
TensorMap read_safetensors(const std::filesystem::path& file);

// Writes CPU or device tensors (copied to contiguous CPU) in name order, the header padded
// with spaces to a multiple of 8 bytes so every tensor's data starts 8-byte aligned.
void write_safetensors(const std::filesystem::path& file, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace pardit::io
