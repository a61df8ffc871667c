// libFuzzer target: the TOML run-config loader (io::apply_toml_text), then validate() and
// to_toml() on what it accepted, and a round trip: to_toml's text must load back to the same text.
// Only InputError may escape.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "pardit/common/error.hpp"
#include "pardit/io/run_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  pardit::io::RunConfig config;
  try {
    pardit::io::apply_toml_text(config, text, "fuzz.toml");
  } catch (const pardit::InputError&) {
    return 0;
  }
  try {
    pardit::io::validate(config);
  } catch (const pardit::InputError&) {
  }
  const std::string effective = pardit::io::to_toml(config);
  pardit::io::RunConfig again;
  try {
    pardit::io::apply_toml_text(again, effective, "effective.toml");
  } catch (const pardit::InputError&) {
    // The file pardit writes into every output (and --resume reads back) must load.
    std::abort();
  }
  if (pardit::io::to_toml(again) != effective) std::abort();
  return 0;
}
