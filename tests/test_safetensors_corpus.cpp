// Replays the fuzzer's seed corpus (fuzz/corpus/) through the fuzz target's checks, so every
// ordinary and sanitizer CI build re-runs them without libFuzzer. Found crashes belong in
// fuzz/corpus/ too (named crash-*), making them regression tests.
#include <catch2/catch.hpp>

#include "../fuzz/fuzz_safetensors_header.cpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

TEST_CASE("fuzz seed corpus replays cleanly and holds valid and invalid files") {
  namespace fs = std::filesystem;
  std::size_t n = 0, accepted = 0;
  for (const auto& e : fs::directory_iterator(fs::path(PQ_SOURCE_DIR) / "fuzz" / "corpus")) {
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(e.path().string());
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) == 0);
    try {
      prismaquant::parse_safetensors_header(std::as_bytes(std::span<const char>(bytes)), e.path().string());
      ++accepted;
      CHECK(e.path().filename().string().rfind("bad_", 0) != 0);  // bad_* seeds must be rejected
    } catch (const prismaquant::error&) {
      CHECK(e.path().filename().string().rfind("valid_", 0) != 0);  // valid_* seeds must parse
    }
    ++n;
  }
  CHECK(n >= 20);
  CHECK(accepted >= 5);
}
