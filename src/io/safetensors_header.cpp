// Parsing and validation of the safetensors JSON header. Every check here runs on untrusted
// bytes (a downloaded checkpoint, a fuzzer), so nothing may overflow, index out of range or
// recurse without bound: arithmetic is checked and the JSON parser is nlohmann's iterative one.
#include "safetensors_dtype.hpp"

#include "pardit/common/error.hpp"
#include "pardit/io/safetensors.hpp"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace pardit::io {
namespace detail {
namespace {
struct DtypeName {
  std::string_view name;
  at::ScalarType type;
};
constexpr std::array<DtypeName, 10> kDtypes{{{"F64", at::kDouble},
                                             {"F32", at::kFloat},
                                             {"F16", at::kHalf},
                                             {"BF16", at::kBFloat16},
                                             {"I64", at::kLong},
                                             {"I32", at::kInt},
                                             {"I16", at::kShort},
                                             {"I8", at::kChar},
                                             {"U8", at::kByte},
                                             {"BOOL", at::kBool}}};
}  // namespace

std::optional<at::ScalarType> safetensors_dtype_from_name(std::string_view name) {
  for (const auto& d : kDtypes)
    if (d.name == name) return d.type;
  return std::nullopt;
}

std::optional<std::string_view> safetensors_dtype_name(at::ScalarType type) {
  for (const auto& d : kDtypes)
    if (d.type == type) return d.name;
  return std::nullopt;
}

std::string safetensors_supported_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}
}  // namespace detail

namespace {
constexpr uint64_t kMaxHeaderNbytes = 100ull << 20;  // 100 MiB; real headers are < 1 MiB

// Truncates a name taken from untrusted input before it goes into a message.
std::string clip(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "'";
  out.append(s.data(), std::min(s.size(), kMax));
  out += s.size() > kMax ? "...'" : "'";
  return out;
}

uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& name) {
  uint64_t out = 0;
  PARDIT_INPUT_CHECK(!__builtin_mul_overflow(a, b, &out),
                     "safetensors header: tensor {} has a shape whose byte size overflows 64 bits; "
                     "the file is corrupt, re-download or re-export it",
                     clip(name));
  return out;
}

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& v, uint64_t data_nbytes) {
  const std::string fix = "the file is corrupt or not a safetensors file; re-download or re-export it";
  PARDIT_INPUT_CHECK(v.is_object(), "safetensors header: entry {} is not a JSON object; {}", clip(name), fix);
  auto dtype_it = v.find("dtype");
  auto shape_it = v.find("shape");
  auto offsets_it = v.find("data_offsets");
  PARDIT_INPUT_CHECK(dtype_it != v.end() && dtype_it->is_string(),
                     "safetensors header: tensor {} has no string 'dtype'; {}", clip(name), fix);
  PARDIT_INPUT_CHECK(shape_it != v.end() && shape_it->is_array(),
                     "safetensors header: tensor {} has no 'shape' array; {}", clip(name), fix);
  PARDIT_INPUT_CHECK(offsets_it != v.end() && offsets_it->is_array() && offsets_it->size() == 2,
                     "safetensors header: tensor {} needs 'data_offsets' [begin, end]; {}", clip(name), fix);

  SafetensorsEntry e;
  e.name = name;
  const auto& dtype_name = dtype_it->get_ref<const std::string&>();
  auto dtype = detail::safetensors_dtype_from_name(dtype_name);
  PARDIT_INPUT_CHECK(dtype.has_value(),
                     "safetensors header: tensor {} has dtype {}, which pardit does not read (supported: {}); "
                     "convert the checkpoint to BF16 or F32, e.g. with safetensors.torch in Python",
                     clip(name), clip(dtype_name), detail::safetensors_supported_dtypes());
  e.dtype = *dtype;

  uint64_t numel = 1;
  for (const auto& d : *shape_it) {
    PARDIT_INPUT_CHECK(d.is_number_unsigned(),
                       "safetensors header: tensor {} has a shape entry {} that is not a non-negative integer; {}",
                       clip(name), clip(d.dump()), fix);
    uint64_t dim = d.get<uint64_t>();
    PARDIT_INPUT_CHECK(dim <= static_cast<uint64_t>(INT64_MAX), "safetensors header: tensor {} has a dimension "
                       "larger than 2^63; {}", clip(name), fix);
    e.shape.push_back(static_cast<int64_t>(dim));
    numel = checked_mul(numel, dim, name);
  }
  PARDIT_INPUT_CHECK(e.shape.size() <= 64, "safetensors header: tensor {} has {} dimensions (at most 64); {}",
                     clip(name), e.shape.size(), fix);

  const auto& b = (*offsets_it)[0];
  const auto& en = (*offsets_it)[1];
  PARDIT_INPUT_CHECK(b.is_number_unsigned() && en.is_number_unsigned(),
                     "safetensors header: tensor {} has data_offsets that are not non-negative integers; {}",
                     clip(name), fix);
  e.begin = b.get<uint64_t>();
  e.end = en.get<uint64_t>();
  PARDIT_INPUT_CHECK(e.begin <= e.end && e.end <= data_nbytes,
                     "safetensors header: tensor {} has data_offsets [{}, {}] outside the data section of {} "
                     "bytes; the file is truncated or corrupt, re-download it",
                     clip(name), e.begin, e.end, data_nbytes);
  uint64_t nbytes = checked_mul(numel, c10::elementSize(e.dtype), name);
  PARDIT_INPUT_CHECK(e.end - e.begin == nbytes,
                     "safetensors header: tensor {} ({} {}) needs {} bytes but its data_offsets [{}, {}] span {}; "
                     "the file is corrupt, re-export it",
                     clip(name), dtype_name, fmt::format("[{}]", fmt::join(e.shape, ", ")), nbytes, e.begin, e.end, e.end - e.begin);
  return e;
}
}  // namespace

SafetensorsHeader parse_safetensors_header(std::string_view header_json, uint64_t data_nbytes) {
  auto json = nlohmann::json::parse(header_json.begin(), header_json.end(), nullptr, /*allow_exceptions=*/false);
  PARDIT_INPUT_CHECK(!json.is_discarded(),
                     "safetensors header: not valid JSON; the file is corrupt or not a safetensors file");
  PARDIT_INPUT_CHECK(json.is_object(),
                     "safetensors header: the JSON is not an object; the file is corrupt or not a safetensors file");

  SafetensorsHeader header;
  header.data_offset = 8 + header_json.size();
  for (const auto& [name, value] : json.items()) {
    if (name == "__metadata__") {
      PARDIT_INPUT_CHECK(value.is_object(),
                         "safetensors header: __metadata__ is not a string-to-string object; re-export the file");
      for (const auto& [k, v] : value.items()) {
        PARDIT_INPUT_CHECK(v.is_string(),
                           "safetensors header: __metadata__ value for key {} is not a string; re-export the file",
                           clip(k));
        header.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    header.entries.push_back(parse_entry(name, value, data_nbytes));
  }

  // Tensors must tile the data section exactly: sorted by offset, each starting where the
  // previous ended, the last ending at the end of the file (the reference implementation's rule).
  std::sort(header.entries.begin(), header.entries.end(), [](const auto& a, const auto& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  uint64_t expected_begin = 0;
  for (const auto& e : header.entries) {
    PARDIT_INPUT_CHECK(e.begin >= expected_begin,
                       "safetensors header: tensor {} [{}, {}] overlaps the previous tensor (which ends at {}); "
                       "the file is corrupt, re-export it",
                       clip(e.name), e.begin, e.end, expected_begin);
    PARDIT_INPUT_CHECK(e.begin == expected_begin,
                       "safetensors header: {} bytes at [{}, {}) of the data section belong to no tensor; "
                       "the file is corrupt, re-export it",
                       e.begin - expected_begin, expected_begin, e.begin);
    expected_begin = e.end;
  }
  PARDIT_INPUT_CHECK(expected_begin == data_nbytes,
                     "safetensors header: the tensors cover {} bytes but the data section has {}; the file has "
                     "trailing garbage or is corrupt, re-export it",
                     expected_begin, data_nbytes);
  return header;
}

SafetensorsHeader read_safetensors_header(const std::filesystem::path& file) {
  std::error_code ec;
  PARDIT_INPUT_CHECK(std::filesystem::is_regular_file(file, ec),
                     "safetensors file {} does not exist or is not a regular file; check the --weights path",
                     file.string());
  const uint64_t file_nbytes = std::filesystem::file_size(file, ec);
  PARDIT_INPUT_CHECK(!ec, "cannot stat safetensors file {}: {}; check its permissions", file.string(), ec.message());
  std::ifstream in(file, std::ios::binary);
  PARDIT_INPUT_CHECK(in.good(), "cannot open safetensors file {}: {}; check its permissions", file.string(),
                     std::strerror(errno));
  PARDIT_INPUT_CHECK(file_nbytes >= 8,
                     "safetensors file {} is truncated: {} bytes, shorter than the 8-byte header length; "
                     "re-download it",
                     file.string(), file_nbytes);

  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_nbytes = 0;
  for (int i = 7; i >= 0; --i) header_nbytes = (header_nbytes << 8) | len_bytes[i];  // little-endian
  PARDIT_INPUT_CHECK(header_nbytes <= kMaxHeaderNbytes,
                     "safetensors file {} declares a {}-byte header (more than 100 MiB); it is corrupt or not a "
                     "safetensors file, re-download it",
                     file.string(), header_nbytes);
  PARDIT_INPUT_CHECK(header_nbytes <= file_nbytes - 8,
                     "safetensors file {} declares a {}-byte header but holds only {} bytes after the length; "
                     "it is truncated, re-download it",
                     file.string(), header_nbytes, file_nbytes - 8);

  std::string json(header_nbytes, '\0');
  in.read(json.data(), static_cast<std::streamsize>(header_nbytes));
  PARDIT_INPUT_CHECK(in.good(), "cannot read the header of safetensors file {}; re-download it", file.string());
  try {
    return parse_safetensors_header(json, file_nbytes - 8 - header_nbytes);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", file.string(), e.what()));
  }
}

}  // namespace pardit::io
