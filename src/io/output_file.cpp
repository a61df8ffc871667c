// The job's HDF5 output file (schema: docs/output-format.md). Crash safety comes from writing
// a temporary file in the target directory and renaming it into place only after H5Fclose has
// flushed everything: a reader never sees a half-written file under the final name.
#include "pardit/io/output_file.hpp"

#include "hdf5.hpp"
#include "pardit/common/error.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace pardit::io {
namespace fs = std::filesystem;
namespace {
constexpr int64_t kFormatVersion = 1;
constexpr const char* kMeshAxes = "dp,cfg,pipefusion,ring,ulysses";

fs::path temp_path_for(const fs::path& path) {
  return fs::path(path.string() + ".tmp-" + std::to_string(::getpid()));
}

// Internal invariants: the data comes from pardit itself, so a mismatch is a bug.
void check_consistent(const OutputData& d) {
  for (const char* reserved : {"world_size", "complete", "format_version"})
    PARDIT_CHECK(!d.attributes.count(reserved), "output attribute '{}' is reserved", reserved);
  int64_t num_prompts = -1;
  for (const auto* t : {&d.latents, &d.prompt_index, &d.seeds}) {
    if (!t->defined()) continue;
    PARDIT_CHECK(t->dim() >= 1, "output tensors need a prompt dimension");
    PARDIT_CHECK(num_prompts < 0 || t->size(0) == num_prompts, "latents/prompt_index/seeds disagree on P");
    num_prompts = t->size(0);
  }
  PARDIT_CHECK(!d.latents.defined() || d.latents.dim() == 4, "latents must be [P, C, h, w]");
  PARDIT_CHECK(d.prompts.empty() || num_prompts < 0 || static_cast<int64_t>(d.prompts.size()) == num_prompts,
               "{} prompt strings for {} prompts", d.prompts.size(), num_prompts);
  const auto world = static_cast<size_t>(d.world_size);
  PARDIT_CHECK(d.node_name.empty() || d.node_name.size() == world, "node_name needs world_size entries");
  PARDIT_CHECK(d.local_rank.empty() || d.local_rank.size() == world, "local_rank needs world_size entries");
  PARDIT_CHECK(d.gpu.empty() || d.gpu.size() == world, "gpu needs world_size entries");
  PARDIT_CHECK(!d.mesh_coords.defined() || (d.mesh_coords.dim() == 2 && d.mesh_coords.size(0) == d.world_size &&
                                            d.mesh_coords.size(1) == 5),
               "mesh_coords must be [world_size, 5]");
}

void write_contents(hid_t file, const OutputData& d) {
  for (const auto& [name, value] : d.attributes) h5::write_attribute(file, name, value);
  h5::write_attribute(file, "format_version", kFormatVersion);
  h5::write_attribute(file, "world_size", d.world_size);
  h5::write_attribute(file, "complete", int64_t{d.complete ? 1 : 0});

  if (d.latents.defined()) h5::write_tensor(file, "latents", d.latents.to(at::kFloat));
  if (d.prompt_index.defined()) h5::write_tensor(file, "prompt_index", d.prompt_index.to(at::kLong));
  if (d.seeds.defined()) h5::write_tensor(file, "seeds", d.seeds.to(at::kLong));
  if (!d.prompts.empty()) h5::write_strings(file, "prompts", d.prompts);

  h5::Handle timings = h5::create_group(file, "timings");
  for (const auto& [name, t] : d.timings) h5::write_tensor(timings, name, t);

  h5::Handle topology = h5::create_group(file, "topology");
  if (!d.node_name.empty()) h5::write_strings(topology, "node_name", d.node_name);
  if (!d.local_rank.empty())
    h5::write_tensor(topology, "local_rank", at::tensor(at::ArrayRef<int64_t>(d.local_rank), at::kLong));
  if (!d.gpu.empty()) h5::write_strings(topology, "gpu", d.gpu);
  if (d.mesh_coords.defined()) {
    h5::write_tensor(topology, "mesh_coords", d.mesh_coords.to(at::kLong));
    h5::Handle set(h5::check(H5Dopen2(topology, "mesh_coords", H5P_DEFAULT), "opening mesh_coords"), H5Dclose);
    h5::write_attribute(set, "axes", std::string(kMeshAxes));
  }

  h5::Handle comm = h5::create_group(file, "comm");
  for (const auto& [name, t] : d.comm) h5::write_tensor(comm, name, t);
}

std::map<std::string, at::Tensor> read_group_tensors(hid_t file, const std::string& group) {
  std::map<std::string, at::Tensor> out;
  if (auto g = h5::open_group(file, group))
    for (const auto& name : h5::children(*g)) out[name] = h5::read_tensor(*g, name);
  return out;
}
}  // namespace

void check_output_path(const fs::path& path, bool overwrite) {
  PARDIT_INPUT_CHECK(!path.empty(), "no output file given; pass --out FILE.h5");
  std::error_code ec;
  PARDIT_INPUT_CHECK(!fs::is_directory(path, ec), "output path {} is a directory; pass a file name such as {}",
                     path.string(), (path / "latents.h5").string());
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  PARDIT_INPUT_CHECK(fs::exists(dir, ec), "output directory {} does not exist; create it (mkdir -p {}) or choose "
                     "another --out", dir.string(), dir.string());
  PARDIT_INPUT_CHECK(fs::is_directory(dir, ec), "output path {} lies under {}, which is not a directory; choose "
                     "another --out", path.string(), dir.string());
  PARDIT_INPUT_CHECK(!fs::exists(path, ec) || overwrite,
                     "output file {} already exists; pass --overwrite to replace it, or choose another --out",
                     path.string());
  // access() says yes to root even on a read-only mount, so probe by creating the temp file.
  fs::path probe = temp_path_for(path);
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  int err = errno;
  if (fd >= 0) {
    ::close(fd);
    ::unlink(probe.c_str());
  }
  PARDIT_INPUT_CHECK(fd >= 0 || err == EEXIST, "cannot write to output directory {}: {}; choose a writable --out",
                     dir.string(), std::strerror(err));
}

void write_output(const fs::path& path, const OutputData& data, bool overwrite) {
  check_output_path(path, overwrite);
  check_consistent(data);
  const fs::path tmp = temp_path_for(path);
  try {
    {
      h5::Handle file = h5::create_file(tmp);
      write_contents(file, data);
      file.close_checked("closing (flushing) the output file");
    }
    if (overwrite) {
      std::error_code ec;
      fs::rename(tmp, path, ec);
      PARDIT_CHECK(!ec, "renaming {} to {} failed: {}", tmp.string(), path.string(), ec.message());
    } else {
      // link() refuses an existing target atomically: a file that appeared since
      // check_output_path is not clobbered.
      if (::link(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        PARDIT_INPUT_CHECK(err != EEXIST, "output file {} appeared while writing; pass --overwrite to replace it, "
                           "or choose another --out (the results are lost)", path.string());
        PARDIT_CHECK(false, "linking {} to {} failed: {}", tmp.string(), path.string(), std::strerror(err));
      }
      ::unlink(tmp.c_str());
    }
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

OutputData read_output(const fs::path& path) {
  h5::Handle file = h5::open_file(path, "output file");
  OutputData d;
  for (const auto& name : h5::attribute_names(file)) {
    if (name == "world_size") {
      d.world_size = h5::read_int_attribute(file, name);
    } else if (name == "complete") {
      d.complete = h5::read_int_attribute(file, name) != 0;
    } else if (name == "format_version") {
      int64_t v = h5::read_int_attribute(file, name);
      PARDIT_INPUT_CHECK(v <= kFormatVersion, "output file {} has format_version {}, newer than this pardit reads "
                         "({}); use a newer pardit", path.string(), v, kFormatVersion);
    } else if (h5::attribute_is_string(file, name)) {
      d.attributes[name] = h5::read_string_attribute(file, name);
    }
  }
  if (h5::exists(file, "latents")) d.latents = h5::read_tensor(file, "latents");
  if (h5::exists(file, "prompt_index")) d.prompt_index = h5::read_tensor(file, "prompt_index");
  if (h5::exists(file, "seeds")) d.seeds = h5::read_tensor(file, "seeds");
  if (h5::exists(file, "prompts")) d.prompts = h5::read_strings(file, "prompts");
  d.timings = read_group_tensors(file, "timings");
  d.comm = read_group_tensors(file, "comm");
  if (auto topo = h5::open_group(file, "topology")) {
    if (h5::exists(*topo, "node_name")) d.node_name = h5::read_strings(*topo, "node_name");
    if (h5::exists(*topo, "gpu")) d.gpu = h5::read_strings(*topo, "gpu");
    if (h5::exists(*topo, "local_rank")) {
      at::Tensor lr = h5::read_tensor(*topo, "local_rank").to(at::kLong).contiguous();
      d.local_rank.assign(lr.data_ptr<int64_t>(), lr.data_ptr<int64_t>() + lr.numel());
    }
    if (h5::exists(*topo, "mesh_coords")) d.mesh_coords = h5::read_tensor(*topo, "mesh_coords");
  }
  return d;
}

}  // namespace pardit::io
