// Output file: round trip, output-path refusals, crash safety.
#include "pardit/io/output_file.hpp"
#include "test_util.hpp"

#include "output_fixture.hpp"

namespace pardit::io {
namespace {
using test::input_error;
using test::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

bool has_temp_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

TEST(OutputFile, RoundTrip) {
  TempDir dir;
  auto file = dir / "out.h5";
  OutputData d = test::sample_output();
  write_output(file, d, /*overwrite=*/false);
  EXPECT_FALSE(has_temp_files(dir.path()));

  OutputData r = read_output(file);
  EXPECT_EQ(r.attributes, d.attributes);
  EXPECT_EQ(r.world_size, d.world_size);
  EXPECT_EQ(r.complete, d.complete);
  EXPECT_TRUE(at::equal(r.latents, d.latents));
  EXPECT_EQ(r.latents.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(r.prompt_index, d.prompt_index));
  EXPECT_TRUE(at::equal(r.seeds, d.seeds));
  EXPECT_EQ(r.prompts, d.prompts);
  ASSERT_EQ(r.timings.size(), d.timings.size());
  for (const auto& [name, t] : d.timings) {
    SCOPED_TRACE(name);
    EXPECT_EQ(r.timings.at(name).scalar_type(), t.scalar_type());
    EXPECT_TRUE(at::equal(r.timings.at(name), t));
  }
  EXPECT_EQ(r.node_name, d.node_name);
  EXPECT_EQ(r.local_rank, d.local_rank);
  EXPECT_EQ(r.gpu, d.gpu);
  EXPECT_TRUE(at::equal(r.mesh_coords, d.mesh_coords));
  ASSERT_EQ(r.comm.size(), d.comm.size());
  for (const auto& [name, t] : d.comm) EXPECT_TRUE(at::equal(r.comm.at(name), t)) << name;
}

TEST(OutputFile, MinimalDataRoundTrip) {
  TempDir dir;
  OutputData d;
  d.latents = at::zeros({0, 16, 2, 2});
  write_output(dir / "empty.h5", d, false);
  OutputData r = read_output(dir / "empty.h5");
  EXPECT_EQ(r.latents.sizes(), d.latents.sizes());
  EXPECT_FALSE(r.complete);
  EXPECT_TRUE(r.prompts.empty());
  EXPECT_FALSE(r.mesh_coords.defined());
}

TEST(OutputFile, ExistingFileNeedsOverwrite) {
  TempDir dir;
  auto file = dir / "out.h5";
  write_output(file, test::sample_output(), false);
  EXPECT_THAT(input_error([&] { check_output_path(file, false); }), HasSubstr("--overwrite"));
  EXPECT_THAT(input_error([&] { write_output(file, test::sample_output(), false); }), HasSubstr("--overwrite"));
  EXPECT_NO_THROW(check_output_path(file, true));
  OutputData d = test::sample_output();
  d.attributes["model"] = "replaced";
  write_output(file, d, true);
  EXPECT_EQ(read_output(file).attributes.at("model"), "replaced");
}

TEST(OutputFile, MissingDirectory) {
  TempDir dir;
  auto msg = input_error([&] { check_output_path(dir / "no" / "such" / "out.h5", false); });
  EXPECT_THAT(msg, HasSubstr("does not exist"));
  EXPECT_THAT(msg, HasSubstr("mkdir -p"));
}

TEST(OutputFile, UnwritableDirectoryUnderARegularFile) {
  // Tests run as root, which chmod does not stop; a path below a regular file is unwritable for anyone.
  TempDir dir;
  test::write_bytes(dir / "plain", "x");
  EXPECT_THAT(input_error([&] { check_output_path(dir / "plain" / "out.h5", false); }),
              HasSubstr("not a directory"));
}

TEST(OutputFile, UnwritableDirectoryReadOnlyMount) {
  // /proc is writable by nobody, root included.
  EXPECT_THAT(input_error([&] { check_output_path("/proc/pardit-out.h5", false); }),
              HasSubstr("cannot write to output directory"));
}

TEST(OutputFile, PathIsADirectory) {
  TempDir dir;
  EXPECT_THAT(input_error([&] { check_output_path(dir.path(), true); }), HasSubstr("is a directory"));
}

TEST(OutputFile, FailedWriteLeavesExistingFileAndNoTempFile) {
  TempDir dir;
  auto file = dir / "out.h5";
  OutputData good = test::sample_output();
  write_output(file, good, false);
  const auto size_before = fs::file_size(file);

  OutputData bad = test::sample_output();
  bad.attributes["model"] = "must not appear";
  bad.timings["broken"] = at::Tensor();  // fails half-way through writing the temp file
  EXPECT_THROW(write_output(file, bad, /*overwrite=*/true), pardit::Error);
  EXPECT_FALSE(has_temp_files(dir.path()));
  EXPECT_EQ(fs::file_size(file), size_before);
  OutputData r = read_output(file);
  EXPECT_EQ(r.attributes.at("model"), good.attributes.at("model"));
  EXPECT_TRUE(at::equal(r.latents, good.latents));

  // Same with an HDF5-level failure (a dataset name HDF5 refuses).
  bad.timings.clear();
  bad.comm["no/such/group"] = at::ones({2});
  EXPECT_THROW(write_output(file, bad, true), pardit::Error);
  EXPECT_FALSE(has_temp_files(dir.path()));
  EXPECT_EQ(read_output(file).attributes.at("model"), good.attributes.at("model"));

  // And no file at all when there was none.
  EXPECT_THROW(write_output(dir / "new.h5", bad, false), pardit::Error);
  EXPECT_FALSE(fs::exists(dir / "new.h5"));
  EXPECT_FALSE(has_temp_files(dir.path()));
}

TEST(OutputFile, HdfErrorCarriesHdfMessage) {
  TempDir dir;
  OutputData bad = test::sample_output();
  bad.comm["no/such/group"] = at::ones({2});
  try {
    write_output(dir / "x.h5", bad, false);
    FAIL() << "no throw";
  } catch (const pardit::Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("HDF5"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("H5"));  // a function name from HDF5's stack
  }
}

TEST(OutputFile, ReadRefusesNonHdf5) {
  TempDir dir;
  test::write_bytes(dir / "x.h5", "not hdf5");
  EXPECT_THAT(input_error([&] { read_output(dir / "x.h5"); }), HasSubstr("not an HDF5 file"));
  EXPECT_THAT(input_error([&] { read_output(dir / "missing.h5"); }), HasSubstr("does not exist"));
}

}  // namespace
}  // namespace pardit::io
