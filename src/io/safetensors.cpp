// Reading (by mmap) and writing whole safetensors files. Header validation lives in
// safetensors_header.cpp.
#include "safetensors_dtype.hpp"

#include "pardit/common/error.hpp"
#include "pardit/io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pardit::io {
namespace {
static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; tensors view the file bytes directly");

// A read-only mapping of a whole file, unmapped when the last tensor viewing it dies.
class FileMapping {
 public:
  explicit FileMapping(const std::filesystem::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    PARDIT_INPUT_CHECK(fd >= 0, "cannot open safetensors file {}: {}; check the path and permissions",
                       file.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      PARDIT_CHECK(false, "fstat({}) failed: {}", file.string(), std::strerror(err));
    }
    nbytes_ = static_cast<size_t>(st.st_size);
    if (nbytes_ > 0) {
      void* addr = ::mmap(nullptr, nbytes_, PROT_READ, MAP_PRIVATE, fd, 0);
      int err = errno;
      ::close(fd);
      PARDIT_CHECK(addr != MAP_FAILED, "mmap of {} ({} bytes) failed: {}", file.string(), nbytes_,
                   std::strerror(err));
      addr_ = addr;
    } else {
      ::close(fd);
    }
  }
  ~FileMapping() {
    if (addr_) ::munmap(addr_, nbytes_);
  }
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;

  const char* data() const { return static_cast<const char*>(addr_); }
  size_t nbytes() const { return nbytes_; }

 private:
  void* addr_ = nullptr;
  size_t nbytes_ = 0;
};
}  // namespace

TensorMap read_safetensors(const std::filesystem::path& file) {
  SafetensorsHeader header = read_safetensors_header(file);
  auto mapping = std::make_shared<FileMapping>(file);
  // The file may have changed between reading the header and mapping it.
  PARDIT_INPUT_CHECK(mapping->nbytes() >= header.data_offset &&
                         (header.entries.empty() ||
                          mapping->nbytes() - header.data_offset >= header.entries.back().end),
                     "safetensors file {} changed size while being read; retry when nothing writes it",
                     file.string());

  TensorMap tensors;
  for (const auto& e : header.entries) {
    const char* ptr = mapping->data() + header.data_offset + e.begin;
    auto options = at::TensorOptions().dtype(e.dtype).device(at::kCPU);
    if (e.begin == e.end) {
      tensors[e.name] = at::empty(e.shape, options);
      continue;
    }
    // The mapping keeps the pages alive; each tensor's deleter holds one reference to it.
    at::Tensor t = at::from_blob(const_cast<char*>(ptr), e.shape, [mapping](void*) {}, options);
    // A writer that did not pad its header leaves data unaligned for its dtype; ATen kernels
    // assume alignment, so such tensors are copied (rare: safetensors pads to 8 bytes).
    if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(e.dtype) != 0) t = t.clone();
    tensors[e.name] = std::move(t);
  }
  return tensors;
}

void write_safetensors(const std::filesystem::path& file, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    PARDIT_INPUT_CHECK(name != "__metadata__", "cannot write a tensor named __metadata__ to {}; rename it",
                       file.string());
    PARDIT_INPUT_CHECK(tensor.defined(), "tensor '{}' written to {} is undefined; pass a real tensor",
                       name, file.string());
    auto dtype_name = detail::safetensors_dtype_name(tensor.scalar_type());
    PARDIT_INPUT_CHECK(dtype_name.has_value(), "tensor '{}' has dtype {}, which safetensors in pardit does "
                       "not write (supported: {}); convert it first",
                       name, c10::toString(tensor.scalar_type()), detail::safetensors_supported_dtypes());
    at::Tensor t = tensor.to(at::kCPU).contiguous();
    uint64_t nbytes = t.nbytes();
    header[name] = {{"dtype", std::string(*dtype_name)},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contiguous.push_back(std::move(t));
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // data starts 8-byte aligned

  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  PARDIT_INPUT_CHECK(out.good(), "cannot create {}: {}; check that the directory exists and is writable",
                     file.string(), std::strerror(errno));
  unsigned char len_bytes[8];
  uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  out.write(reinterpret_cast<const char*>(len_bytes), 8);
  out.write(json.data(), static_cast<std::streamsize>(json.size()));
  for (const auto& t : contiguous)
    if (t.nbytes() > 0) out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  out.close();
  PARDIT_CHECK(!out.fail(), "writing {} failed: {} (disk full?)", file.string(), std::strerror(errno));
}

}  // namespace pardit::io
