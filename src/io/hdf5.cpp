#include "hdf5.hpp"

#include "pardit/common/error.hpp"

#include <mutex>

namespace pardit::io::h5 {
namespace {
herr_t collect_error(unsigned n, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (!out->empty()) *out += "; ";
  *out += fmt::format("{}(): {}", err->func_name ? err->func_name : "?", err->desc ? err->desc : "?");
  return 0;
}

// HDF5's own description of what just failed, innermost cause last.
std::string current_error_stack() {
  std::string out;
  hid_t stack = H5Eget_current_stack();
  if (stack >= 0) {
    H5Ewalk2(stack, H5E_WALK_DOWNWARD, collect_error, &out);
    H5Eclose_stack(stack);
  }
  return out.empty() ? "no HDF5 error message" : out;
}

Handle dataspace_for(c10::IntArrayRef sizes) {
  if (sizes.empty()) return Handle(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  std::vector<hsize_t> dims(sizes.begin(), sizes.end());
  return Handle(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple"),
                H5Sclose);
}

Handle vlen_string_type() {
  Handle type(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  check(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset");
  return type;
}

// Reads `count` strings of a dataset or attribute whose file type is `file_type`.
// `read(mem_type, buffer)` performs the H5Dread/H5Aread.
template <typename Read>
std::vector<std::string> read_string_values(hid_t file_type, hid_t space, size_t count, Read read,
                                            const std::string& what) {
  PARDIT_INPUT_CHECK(H5Tget_class(file_type) == H5T_STRING, "{} is not a string; write it as strings", what);
  std::vector<std::string> out;
  if (count == 0) return out;
  if (H5Tis_variable_str(file_type) > 0) {
    Handle mem(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
    check(H5Tset_size(mem, H5T_VARIABLE), "H5Tset_size");
    check(H5Tset_cset(mem, H5Tget_cset(file_type)), "H5Tset_cset");
    std::vector<char*> ptrs(count, nullptr);
    check(read(mem.get(), ptrs.data()), "reading " + what);
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
  } else {
    size_t width = H5Tget_size(file_type);
    Handle mem(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
    check(H5Tset_size(mem, width), "H5Tset_size");
    // NULLPAD keeps all `width` bytes (NULLTERM would give up the last one for a terminator).
    check(H5Tset_strpad(mem, H5T_STR_NULLPAD), "H5Tset_strpad");
    check(H5Tset_cset(mem, H5Tget_cset(file_type)), "H5Tset_cset");
    std::vector<char> buf(width * count);
    check(read(mem.get(), buf.data()), "reading " + what);
    for (size_t i = 0; i < count; ++i) {
      std::string s(buf.data() + i * width, width);
      out.push_back(s.substr(0, s.find('\0')));
    }
  }
  return out;
}

size_t element_count(hid_t space) {
  hssize_t n = H5Sget_simple_extent_npoints(space);
  check(static_cast<hid_t>(n), "H5Sget_simple_extent_npoints");
  return static_cast<size_t>(n);
}
}  // namespace

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = H5I_INVALID_HID;
}

void Handle::close_checked(const char* what) {
  hid_t id = id_;
  id_ = H5I_INVALID_HID;
  if (id >= 0 && close_) check(close_(id), what);
}

void init() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

void fail(const std::string& what) {
  std::string stack = current_error_stack();
  // HDF5 >= 1.10 locks files; some Lustre/NFS mounts refuse locks, with a cryptic message.
  std::string hint = stack.find("lock") != std::string::npos
                         ? " (on a file system without file locking, e.g. some Lustre/NFS mounts, "
                           "set HDF5_USE_FILE_LOCKING=FALSE)"
                         : "";
  PARDIT_CHECK(false, "HDF5: {} failed: {}{}", what, stack, hint);
  __builtin_unreachable();
}

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) fail(what);
  return id;
}

Handle create_file(const std::filesystem::path& path) {
  init();
  return Handle(check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "creating " + path.string()),
                H5Fclose);
}

Handle open_file(const std::filesystem::path& path, const std::string& kind) {
  init();
  std::error_code ec;
  PARDIT_INPUT_CHECK(std::filesystem::is_regular_file(path, ec), "{} {} does not exist or is not a file; check the path",
                     kind, path.string());
  PARDIT_INPUT_CHECK(H5Fis_hdf5(path.c_str()) > 0, "{} {} is not an HDF5 file; pass a file written by h5py or pardit",
                     kind, path.string());
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  PARDIT_INPUT_CHECK(id >= 0, "cannot open {} {}: {}; check its permissions or re-create it", kind, path.string(),
                     current_error_stack());
  return Handle(id, H5Fclose);
}

Handle create_group(hid_t loc, const std::string& name) {
  return Handle(check(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "creating group " + name),
                H5Gclose);
}

std::optional<Handle> open_group(hid_t loc, const std::string& name) {
  if (!exists(loc, name)) return std::nullopt;
  return Handle(check(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), "opening group " + name), H5Gclose);
}

bool exists(hid_t loc, const std::string& name) { return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0; }

std::vector<std::string> children(hid_t loc) {
  H5G_info_t info{};
  check(H5Gget_info(loc, &info), "H5Gget_info");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(loc, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    check(static_cast<hid_t>(n), "H5Lget_name_by_idx");
    std::string name(static_cast<size_t>(n) + 1, '\0');
    H5Lget_name_by_idx(loc, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(n));
    names.push_back(std::move(name));
  }
  return names;
}

void write_tensor(hid_t loc, const std::string& name, const at::Tensor& tensor) {
  PARDIT_CHECK(tensor.defined(), "HDF5 dataset {}: tensor is undefined", name);
  at::Tensor t = tensor.to(at::kCPU);
  hid_t mem_type = -1, file_type = -1;
  switch (t.scalar_type()) {
    case at::kDouble: mem_type = H5T_NATIVE_DOUBLE; file_type = H5T_IEEE_F64LE; break;
    case at::kFloat: mem_type = H5T_NATIVE_FLOAT; file_type = H5T_IEEE_F32LE; break;
    case at::kLong: mem_type = H5T_NATIVE_INT64; file_type = H5T_STD_I64LE; break;
    case at::kInt: mem_type = H5T_NATIVE_INT32; file_type = H5T_STD_I32LE; break;
    case at::kShort: mem_type = H5T_NATIVE_INT16; file_type = H5T_STD_I16LE; break;
    case at::kChar: mem_type = H5T_NATIVE_INT8; file_type = H5T_STD_I8LE; break;
    case at::kByte: mem_type = H5T_NATIVE_UINT8; file_type = H5T_STD_U8LE; break;
    default:
      t = at::isFloatingType(t.scalar_type()) ? t.to(at::kFloat) : t.to(at::kLong);
      return write_tensor(loc, name, t);
  }
  t = t.contiguous();
  Handle space = dataspace_for(t.sizes());
  Handle set(check(H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   "creating dataset " + name),
             H5Dclose);
  if (t.numel() > 0) check(H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()), "writing " + name);
}

bool is_float_dataset(hid_t loc, const std::string& name) {
  Handle set(check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "opening dataset " + name), H5Dclose);
  Handle type(check(H5Dget_type(set), "H5Dget_type"), H5Tclose);
  return H5Tget_class(type) == H5T_FLOAT;
}

at::Tensor read_tensor(hid_t loc, const std::string& name) {
  Handle set(check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "opening dataset " + name), H5Dclose);
  Handle type(check(H5Dget_type(set), "H5Dget_type"), H5Tclose);
  Handle space(check(H5Dget_space(set), "H5Dget_space"), H5Sclose);
  PARDIT_INPUT_CHECK(H5Sget_simple_extent_type(space) != H5S_NULL,
                     "HDF5 dataset {} has no dataspace (H5S_NULL); write it as an array", name);
  int rank = H5Sget_simple_extent_ndims(space);
  check(rank, "H5Sget_simple_extent_ndims");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "H5Sget_simple_extent_dims");
  std::vector<int64_t> sizes(dims.begin(), dims.end());

  const size_t width = H5Tget_size(type);
  at::ScalarType dtype;
  hid_t mem_type;
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      dtype = width == 8 ? at::kDouble : at::kFloat;  // f16 (h5py) is converted by HDF5
      mem_type = width == 8 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
      break;
    case H5T_INTEGER: {
      bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
      if (!is_signed && width == 1) { dtype = at::kByte; mem_type = H5T_NATIVE_UINT8; }
      else if (!is_signed || width == 8) { dtype = at::kLong; mem_type = H5T_NATIVE_INT64; }
      else if (width == 4) { dtype = at::kInt; mem_type = H5T_NATIVE_INT32; }
      else if (width == 2) { dtype = at::kShort; mem_type = H5T_NATIVE_INT16; }
      else { dtype = at::kChar; mem_type = H5T_NATIVE_INT8; }
      break;
    }
    default:
      throw InputError(fmt::format("HDF5 dataset {} is not numeric (integer or float); rewrite it as numbers", name));
  }
  // A damaged file can declare any size: refuse overflowing shapes, and contiguous datasets
  // whose stored bytes are fewer than the shape needs, before allocating anything.
  uint64_t numel = 1;
  for (hsize_t d : dims) {
    PARDIT_INPUT_CHECK(d <= (uint64_t{1} << 40) && (d == 0 || numel <= (uint64_t{1} << 50) / d),
                       "HDF5 dataset {} declares an impossible shape; the file is damaged", name);
    numel *= d;
  }
  Handle plist(check(H5Dget_create_plist(set), "H5Dget_create_plist"), H5Pclose);
  if (H5Pget_layout(plist) == H5D_CONTIGUOUS && numel > 0)
    PARDIT_INPUT_CHECK(H5Dget_storage_size(set) >= numel * width,
                       "HDF5 dataset {} stores {} bytes but its shape needs {}; the file is truncated or damaged",
                       name, static_cast<uint64_t>(H5Dget_storage_size(set)), numel * width);
  at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(dtype));
  if (t.numel() > 0) check(H5Dread(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()), "reading " + name);
  return t;
}

void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values) {
  Handle type = vlen_string_type();
  Handle space = dataspace_for({static_cast<int64_t>(values.size())});
  Handle set(check(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   "creating dataset " + name),
             H5Dclose);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!ptrs.empty()) check(H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "writing " + name);
}

std::vector<std::string> read_strings(hid_t loc, const std::string& name) {
  Handle set(check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "opening dataset " + name), H5Dclose);
  Handle type(check(H5Dget_type(set), "H5Dget_type"), H5Tclose);
  Handle space(check(H5Dget_space(set), "H5Dget_space"), H5Sclose);
  return read_string_values(type, space, element_count(space),
                            [&](hid_t mem, void* buf) { return H5Dread(set, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); },
                            "HDF5 dataset " + name);
}

void write_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle type = vlen_string_type();
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  Handle attr(check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "creating attribute " + name),
              H5Aclose);
  const char* ptr = value.c_str();
  check(H5Awrite(attr, type, &ptr), "writing attribute " + name);
}

void write_attribute(hid_t obj, const std::string& name, int64_t value) {
  Handle space(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  Handle attr(check(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
                    "creating attribute " + name),
              H5Aclose);
  check(H5Awrite(attr, H5T_NATIVE_INT64, &value), "writing attribute " + name);
}

std::vector<std::string> attribute_names(hid_t obj) {
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  check(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, nullptr, cb, &names), "listing attributes");
  return names;
}

bool attribute_is_string(hid_t obj, const std::string& name) {
  Handle attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name), H5Aclose);
  Handle type(check(H5Aget_type(attr), "H5Aget_type"), H5Tclose);
  return H5Tget_class(type) == H5T_STRING;
}

std::string read_string_attribute(hid_t obj, const std::string& name) {
  Handle attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name), H5Aclose);
  Handle type(check(H5Aget_type(attr), "H5Aget_type"), H5Tclose);
  Handle space(check(H5Aget_space(attr), "H5Aget_space"), H5Sclose);
  auto values = read_string_values(type, space, element_count(space),
                                   [&](hid_t mem, void* buf) { return H5Aread(attr, mem, buf); },
                                   "HDF5 attribute " + name);
  PARDIT_INPUT_CHECK(values.size() == 1, "HDF5 attribute {} holds {} strings, expected one; rewrite it", name,
                     values.size());
  return values[0];
}

int64_t read_int_attribute(hid_t obj, const std::string& name) {
  Handle attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "opening attribute " + name), H5Aclose);
  Handle type(check(H5Aget_type(attr), "H5Aget_type"), H5Tclose);
  Handle space(check(H5Aget_space(attr), "H5Aget_space"), H5Sclose);
  PARDIT_INPUT_CHECK(H5Tget_class(type) == H5T_INTEGER && element_count(space) == 1,
                     "HDF5 attribute {} is not a single integer; rewrite it", name);
  int64_t value = 0;
  check(H5Aread(attr, H5T_NATIVE_INT64, &value), "reading attribute " + name);
  return value;
}

}  // namespace pardit::io::h5
