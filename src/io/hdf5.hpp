// Private: a thin RAII layer over the HDF5 C API for the output and prompt files.
// Every hid_t lives in an H5Handle; every failing call throws pardit::Error carrying HDF5's own
// error stack (automatic printing to stderr is turned off once, so messages are not doubled).
#pragma once

#include <ATen/ATen.h>

#include <hdf5.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pardit::io::h5 {

class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: used as an argument to the C API
  void reset();
  // Closes now and throws on failure: a file's final flush happens in H5Fclose.
  void close_checked(const char* what);

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Silences HDF5's default error printer (idempotent, call before any HDF5 call).
void init();
// Throws pardit::Error "<what>: <HDF5 error stack>" when id/status is negative.
hid_t check(hid_t id, const std::string& what);
[[noreturn]] void fail(const std::string& what);

Handle create_file(const std::filesystem::path& path);  // truncates
// Opens read-only; InputError naming the file when it is missing or not HDF5.
Handle open_file(const std::filesystem::path& path, const std::string& kind);
Handle create_group(hid_t loc, const std::string& name);
std::optional<Handle> open_group(hid_t loc, const std::string& name);  // nullopt when absent

bool exists(hid_t loc, const std::string& name);         // a direct child link of loc
std::vector<std::string> children(hid_t loc);             // names of loc's direct children

// Numeric datasets. Writes float64/float32/int64/int32/int16/int8/uint8 as is; other dtypes
// become float32 (floating) or int64 (integral, bool). Reads back the stored width.
void write_tensor(hid_t loc, const std::string& name, const at::Tensor& tensor);
at::Tensor read_tensor(hid_t loc, const std::string& name);
bool is_float_dataset(hid_t loc, const std::string& name);

// 1-D datasets of variable-length UTF-8 strings (h5py reads them as str). Reading also accepts
// fixed-length strings.
void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values);
std::vector<std::string> read_strings(hid_t loc, const std::string& name);

// Scalar attributes: variable-length UTF-8 strings and int64.
void write_attribute(hid_t obj, const std::string& name, const std::string& value);
void write_attribute(hid_t obj, const std::string& name, int64_t value);
std::vector<std::string> attribute_names(hid_t obj);
bool attribute_is_string(hid_t obj, const std::string& name);
std::string read_string_attribute(hid_t obj, const std::string& name);
int64_t read_int_attribute(hid_t obj, const std::string& name);

}  // namespace pardit::io::h5
