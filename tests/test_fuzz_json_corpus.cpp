// Replays the JSON readers' fuzz seed corpora (fuzz/corpus_<reader>/) through the fuzz targets'
// checks (fuzz/json_targets.hpp), so every ordinary and sanitizer build re-runs them without
// libFuzzer: valid_* seeds must be accepted, bad_* seeds rejected with one error naming the
// file. Crashes found by fuzz/run.sh belong in the corpus too (named crash-*).
#include <catch2/catch.hpp>

#include "../fuzz/json_targets.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace {

template <class Target, class Read>
void replay(const char* reader, Target target, Read read) {
  namespace fs = std::filesystem;
  std::size_t valid = 0, bad = 0;
  for (const auto& e : fs::directory_iterator(fs::path(PQ_SOURCE_DIR) / "fuzz" / (std::string("corpus_") + reader))) {
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
    const std::string name = e.path().filename().string();
    INFO(reader << " seed " << name);
    CHECK(target(data, bytes.size()) == 0);
    const auto p = pq_fuzz::stage(data, bytes.size(), "seed.json");
    bool accepted = true;
    try {
      read(p);
    } catch (const prismaquant::error& err) {
      accepted = false;
      CHECK_THAT(err.what(), Catch::StartsWith(pq_fuzz::work_dir().string()));  // the JSON or its side file
    }
    if (name.rfind("valid_", 0) == 0) {
      CHECK(accepted);
      ++valid;
    }
    if (name.rfind("bad_", 0) == 0) {
      CHECK_FALSE(accepted);
      ++bad;
    }
  }
  CHECK(valid >= 1);
  CHECK(bad >= 3);
}

}  // namespace

TEST_CASE("fuzz seed corpora of the JSON readers replay cleanly") {
  namespace pa = prismaquant::allocate;
  replay("stats", pq_fuzz::stats, [](const auto& p) { prismaquant::stats::read_stats(p); });
  replay("costs", pq_fuzz::costs, [](const auto& p) { prismaquant::stats::read_costs(p); });
  replay("problem", pq_fuzz::problem, [](const auto& p) { prismaquant::solvers::read_problem(p); });
  replay("layer_config", pq_fuzz::layer_config, [](const auto& p) { pa::read_layer_config(p); });
  replay("prune_manifest", pq_fuzz::prune_manifest, [](const auto& p) { pa::read_prune_manifest(p); });
}
