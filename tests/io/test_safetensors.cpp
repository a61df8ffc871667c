// safetensors: round trips, files written and read by Python's safetensors, mapping lifetime,
// and random corruption of a valid header (no crash, only InputError).
#include "pardit/io/safetensors.hpp"
#include "test_util.hpp"

#include <random>

namespace pardit::io {
namespace {
using test::TempDir;

TensorMap every_dtype() {
  TensorMap m;
  auto base = at::arange(24, at::kDouble).reshape({2, 3, 4});
  m["f64"] = base.clone();
  m["f32"] = base.to(at::kFloat);
  m["f16"] = base.to(at::kHalf).reshape({4, 6});
  m["bf16"] = base.to(at::kBFloat16).reshape({24});
  m["i64"] = base.to(at::kLong) - 7;
  m["i32"] = base.to(at::kInt) - 7;
  m["i16"] = base.to(at::kShort) - 7;
  m["i8"] = base.to(at::kChar) - 7;
  m["u8"] = base.to(at::kByte);
  m["bool"] = (base.to(at::kLong) % 3) == 0;
  m["scalar"] = at::scalar_tensor(3.5, at::kFloat);
  m["empty"] = at::empty({0, 5}, at::kFloat);
  m["odd.bytes"] = at::arange(3, at::kChar);  // 3 bytes: forces the next tensor's offset off 8
  m["strided"] = at::arange(12, at::kFloat).reshape({3, 4}).t();  // non-contiguous input
  return m;
}

TEST(Safetensors, RoundTripEveryDtype) {
  TempDir dir;
  auto file = dir / "all.safetensors";
  auto tensors = every_dtype();
  write_safetensors(file, tensors, {{"format", "pt"}, {"note", "round trip"}});

  auto header = read_safetensors_header(file);
  EXPECT_EQ(header.data_offset % 8, 0u) << "header must be padded to 8 bytes";
  EXPECT_EQ(header.metadata.at("format"), "pt");
  EXPECT_EQ(header.metadata.at("note"), "round trip");
  EXPECT_EQ(header.entries.size(), tensors.size());

  auto back = read_safetensors(file);
  ASSERT_EQ(back.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(back.count(name));
    EXPECT_EQ(back[name].scalar_type(), t.scalar_type());
    EXPECT_EQ(back[name].sizes(), t.sizes());
    EXPECT_TRUE(back[name].device().is_cpu());
    EXPECT_TRUE(at::equal(back[name], t));
  }
}

TEST(Safetensors, TensorsOutliveEachOtherAndTheMap) {
  TempDir dir;
  auto file = dir / "a.safetensors";
  write_safetensors(file, {{"a", at::ones({1000}, at::kFloat)}, {"b", at::full({10}, 2.0, at::kFloat)}});
  at::Tensor b;
  {
    auto m = read_safetensors(file);
    b = m.at("b");
  }  // the map and tensor "a" are gone; the mapping must stay for b
  std::filesystem::remove(file);  // unlinking does not invalidate the mapping either
  EXPECT_TRUE(at::equal(b, at::full({10}, 2.0, at::kFloat)));
}

TEST(Safetensors, ReadsFileWrittenByPython) {
  TempDir dir;
  auto file = dir / "py.safetensors";
  ASSERT_EQ(test::run_python(dir, R"(
import torch
from safetensors.torch import save_file
save_file({
  "transformer_blocks.0.attn.to_q.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4),
  "x_embedder.bias": torch.arange(5, dtype=torch.bfloat16),
  "norm.half": torch.full((2, 2), 0.5, dtype=torch.float16),
  "ids": torch.tensor([1, -2, 3], dtype=torch.int64),
}, ")" + file.string() + R"(", metadata={"format": "pt", "origin": "python"})
)"), 0);
  auto header = read_safetensors_header(file);
  EXPECT_EQ(header.metadata.at("origin"), "python");
  auto m = read_safetensors(file);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_TRUE(at::equal(m.at("transformer_blocks.0.attn.to_q.weight"), at::arange(12, at::kFloat).reshape({3, 4})));
  EXPECT_TRUE(at::equal(m.at("x_embedder.bias"), at::arange(5, at::kBFloat16)));
  EXPECT_TRUE(at::equal(m.at("norm.half"), at::full({2, 2}, 0.5, at::kHalf)));
  EXPECT_TRUE(at::equal(m.at("ids"), at::tensor(std::vector<int64_t>{1, -2, 3})));
}

TEST(Safetensors, PythonReadsOurFile) {
  TempDir dir;
  auto file = dir / "ours.safetensors";
  write_safetensors(file, every_dtype(), {{"writer", "pardit"}});
  EXPECT_EQ(test::run_python(dir, R"(
import torch
from safetensors import safe_open
with safe_open(")" + file.string() + R"(", framework="pt") as f:
    assert f.metadata() == {"writer": "pardit"}, f.metadata()
    assert set(f.keys()) == {"f64","f32","f16","bf16","i64","i32","i16","i8","u8","bool","scalar","empty","odd.bytes","strided"}
    base = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4)
    assert torch.equal(f.get_tensor("bf16"), base.to(torch.bfloat16).reshape(24))
    assert torch.equal(f.get_tensor("i8"), base.to(torch.int8) - 7)
    assert torch.equal(f.get_tensor("strided"), torch.arange(12, dtype=torch.float32).reshape(3, 4).t())
    assert f.get_tensor("scalar").shape == ()
)"), 0);
}

// The header parser is also a libFuzzer entry point: mutated headers must only ever produce
// InputError (this is a quick deterministic stand-in for the fuzzer).
TEST(Safetensors, RandomlyCorruptedHeadersOnlyThrowInputError) {
  const std::string valid =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})";
  EXPECT_NO_THROW(parse_safetensors_header(valid, 32));
  std::mt19937 rng(1234);
  const std::string alphabet = "{}[]\":,-0123456789eE.ABFIUabc \\\x00\xff";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = valid;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.erase(pos, 1 + rng() % 8); break;
        default: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
      }
      if (s.empty()) s = "{";
    }
    try {
      parse_safetensors_header(s, rng() % 2 ? 32 : rng());
      ++accepted;
    } catch (const InputError&) {
    } catch (const std::exception& ex) {
      FAIL() << "non-InputError on input " << s << ": " << ex.what();
    }
  }
  EXPECT_LT(accepted, 20000);
}

}  // namespace
}  // namespace pardit::io
