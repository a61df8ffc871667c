// safetensors: every validation error, with a message that names the problem.
#include "pardit/io/safetensors.hpp"
#include "test_util.hpp"

namespace pardit::io {
namespace {
using test::input_error;
using test::TempDir;
using ::testing::HasSubstr;

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file with the given header JSON and `data_nbytes` zero bytes of data.
std::string file_bytes(const std::string& json, size_t data_nbytes) {
  return le64(json.size()) + json + std::string(data_nbytes, '\0');
}

const std::string kOneF32 = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

TEST(SafetensorsErrors, ValidMinimalFileReads) {
  TempDir dir;
  test::write_bytes(dir / "ok.safetensors", file_bytes(kOneF32, 16));
  auto m = read_safetensors(dir / "ok.safetensors");
  EXPECT_TRUE(at::equal(m.at("w"), at::zeros({2, 2})));
}

TEST(SafetensorsErrors, FileShorterThanLength) {
  TempDir dir;
  test::write_bytes(dir / "t.safetensors", "abc");
  auto msg = input_error([&] { read_safetensors(dir / "t.safetensors"); });
  EXPECT_THAT(msg, HasSubstr("truncated"));
  EXPECT_THAT(msg, HasSubstr("t.safetensors"));
}

TEST(SafetensorsErrors, HeaderLengthLargerThanFile) {
  TempDir dir;
  test::write_bytes(dir / "h.safetensors", le64(5000) + kOneF32);
  auto msg = input_error([&] { read_safetensors_header(dir / "h.safetensors"); });
  EXPECT_THAT(msg, HasSubstr("5000-byte header"));
  EXPECT_THAT(msg, HasSubstr("truncated"));
  EXPECT_THAT(msg, HasSubstr("h.safetensors"));
}

TEST(SafetensorsErrors, AbsurdHeaderLength) {
  TempDir dir;
  test::write_bytes(dir / "big.safetensors", le64(~0ull) + kOneF32);
  EXPECT_THAT(input_error([&] { read_safetensors(dir / "big.safetensors"); }), HasSubstr("more than 100 MiB"));
}

TEST(SafetensorsErrors, TruncatedData) {
  TempDir dir;
  test::write_bytes(dir / "d.safetensors", file_bytes(kOneF32, 10));  // 16 bytes needed
  auto msg = input_error([&] { read_safetensors(dir / "d.safetensors"); });
  EXPECT_THAT(msg, HasSubstr("outside the data section of 10 bytes"));
  EXPECT_THAT(msg, HasSubstr("d.safetensors"));
}

TEST(SafetensorsErrors, MissingFile) {
  TempDir dir;
  EXPECT_THAT(input_error([&] { read_safetensors(dir / "nope.safetensors"); }), HasSubstr("does not exist"));
}

TEST(SafetensorsErrors, BadJson) {
  EXPECT_THAT(input_error([] { parse_safetensors_header(R"({"w": {"dtype": "F32",)", 0); }),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(input_error([] { parse_safetensors_header("[1,2]", 0); }), HasSubstr("not an object"));
  EXPECT_THAT(input_error([] { parse_safetensors_header("", 0); }), HasSubstr("not valid JSON"));
}

TEST(SafetensorsErrors, UnknownDtypeIsNamed) {
  auto msg = input_error(
      [] { parse_safetensors_header(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2); });
  EXPECT_THAT(msg, HasSubstr("'F8_E4M3'"));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("BF16"));  // lists what is supported
}

TEST(SafetensorsErrors, MissingOrMistypedFields) {
  EXPECT_THAT(input_error([] { parse_safetensors_header(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4); }),
              HasSubstr("dtype"));
  EXPECT_THAT(input_error([] { parse_safetensors_header(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4); }),
              HasSubstr("shape"));
  EXPECT_THAT(input_error([] { parse_safetensors_header(R"({"w":{"dtype":"F32","shape":[1]}})", 4); }),
              HasSubstr("data_offsets"));
  EXPECT_THAT(input_error([] { parse_safetensors_header(R"({"w":3})", 4); }), HasSubstr("not a JSON object"));
}

TEST(SafetensorsErrors, NegativeOrNonIntegerShape) {
  EXPECT_THAT(input_error([] {
                parse_safetensors_header(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
              }),
              HasSubstr("non-negative integer"));
  EXPECT_THAT(input_error([] {
                parse_safetensors_header(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4);
              }),
              HasSubstr("non-negative integer"));
}

TEST(SafetensorsErrors, ShapeSizeMismatch) {
  auto msg = input_error(
      [] { parse_safetensors_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16); });
  EXPECT_THAT(msg, HasSubstr("needs 12 bytes"));
  EXPECT_THAT(msg, HasSubstr("span 16"));
}

TEST(SafetensorsErrors, ShapeOverflow) {
  EXPECT_THAT(input_error([] {
                parse_safetensors_header(
                    R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", 16);
              }),
              HasSubstr("overflows"));
}

TEST(SafetensorsErrors, OverlappingOffsets) {
  auto msg = input_error([] {
    parse_safetensors_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             12);
  });
  EXPECT_THAT(msg, HasSubstr("overlaps"));
}

TEST(SafetensorsErrors, OutOfRangeOffsets) {
  EXPECT_THAT(input_error([] {
                parse_safetensors_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 12);
              }),
              HasSubstr("outside the data section"));
  EXPECT_THAT(input_error([] {
                parse_safetensors_header(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 12);
              }),
              HasSubstr("outside the data section"));
  EXPECT_THAT(input_error([] {
                parse_safetensors_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 12);
              }),
              HasSubstr("not non-negative integers"));
}

TEST(SafetensorsErrors, GapAndTrailingBytes) {
  EXPECT_THAT(input_error([] {
                parse_safetensors_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
              }),
              HasSubstr("belong to no tensor"));
  EXPECT_THAT(input_error([] {
                parse_safetensors_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8);
              }),
              HasSubstr("cover 4 bytes but the data section has 8"));
}

TEST(SafetensorsErrors, MetadataMustBeStrings) {
  EXPECT_THAT(input_error([] { parse_safetensors_header(R"({"__metadata__":{"n":1}})", 0); }),
              HasSubstr("__metadata__"));
  EXPECT_THAT(input_error([] { parse_safetensors_header(R"({"__metadata__":[1]})", 0); }),
              HasSubstr("__metadata__"));
  auto h = parse_safetensors_header(R"({"__metadata__":{"k":"v"}})", 0);
  EXPECT_EQ(h.metadata.at("k"), "v");
  EXPECT_TRUE(h.entries.empty());
}

TEST(SafetensorsErrors, DeeplyNestedJsonDoesNotOverflowTheStack) {
  std::string deep = "{\"a\":" + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}";
  EXPECT_THAT(input_error([&] { parse_safetensors_header(deep, 0); }), HasSubstr("not a JSON object"));
  std::string unbalanced(1'000'000, '{');
  EXPECT_THAT(input_error([&] { parse_safetensors_header(unbalanced, 0); }), HasSubstr("not valid JSON"));
}

TEST(SafetensorsErrors, DataOffsetIsEightPlusHeaderLength) {
  EXPECT_EQ(parse_safetensors_header(kOneF32, 16).data_offset, 8 + kOneF32.size());
}

TEST(SafetensorsErrors, WriteRejectsUnsupportedDtype) {
  TempDir dir;
  EXPECT_THAT(input_error([&] {
                write_safetensors(dir / "c.safetensors", {{"c", at::zeros({2}, at::kComplexFloat)}});
              }),
              HasSubstr("'c'"));
}

}  // namespace
}  // namespace pardit::io
