// `prismaquant pipeline` on the shipped model: every stage's outputs, the summary (Pareto table,
// knee, chosen allocation, held-out loss per domain), the source's held-out loss against the one
// transformers measured when the model was trained (models/minimax-m2-tiny/eval_results.json),
// and resumption: an unchanged rerun reuses every stage, a changed option reruns only the stages
// it reaches, a lost output reruns its stage and, its bytes being the same, nothing after it.
// Bad input is in test_cli_bad_input.cpp.
#include "cli_run.hpp"

#include <prismaquant/io/checkpoint.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using json = nlohmann::json;
using pq_test::run_cli;

namespace {

const fs::path model = fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny";

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
int count(const std::string& s, const std::string& w) {
  int n = 0;
  for (auto at = s.find(w); at != std::string::npos; at = s.find(w, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("pipeline: probe to eval on the shipped model, then reruns that reuse what is unchanged") {
  const fs::path out = fs::path(PQ_BUILD_DIR) / "test_cli_pipeline" / "run";
  fs::remove_all(out.parent_path());
  const std::string base = "pipeline --model " + model.string() + " --calib " + (model / "calib_tokens.bin").string() +
                           " --eval " + (model / "eval_tokens.bin").string() + " --domains code,prose,math --out " +
                           out.string() + " --prune-ratios 0,0.125";
  const auto r = run_cli(base + " --sweep 3.5,4.25,5,6");
  INFO(r.out);
  REQUIRE(r.code == 0);
  for (const char* f : {"stats.json", "stats.safetensors", "costs.json", "allocation/layer_config.json",
                        "allocation/layer_config.json.prune.json", "allocation/pareto.csv", "allocation/allocation.json",
                        "checkpoint/config.json", "eval_source.json", "eval_allocation.json", "pipeline.json", "summary.md"}) {
    INFO(f);
    CHECK(fs::exists(out / f));
  }
  // The summary is printed and kept.
  const std::string summary = slurp(out / "summary.md");
  CHECK(r.out.find(summary) != std::string::npos);
  for (const char* w : {"## Pareto sweep", "## Chosen allocation", "experts kept per MoE layer", "## Held-out loss",
                        "| code |", "| prose |", "| math |", "| all |"})
    CHECK_THAT(summary, Catch::Contains(w));
  CHECK(count(summary, "| 3.5 |") + count(summary, "| 4.25 |") + count(summary, "| 5.0 |") + count(summary, "| 6.0 |") == 4);
  const json alloc = read_json(out / "allocation" / "allocation.json");
  CHECK(alloc["chosen_by"] == "knee");
  char bits[32];
  std::snprintf(bits, sizeof bits, "%.4f bits per parameter", alloc["chosen"]["achieved_bits"].get<double>());
  CHECK_THAT(summary, Catch::Contains(bits));
  // The allocation priced each format as the weight-only export stores it (NVFP4A16, MX with
  // compressed-tensors' scale rule): its bytes are the checkpoint's Linear tensors, exactly.
  const json report = read_json(out / "checkpoint" / "export_report.json");
  const prismaquant::checkpoint ck(out / "checkpoint");
  std::int64_t linear_bytes = 0;
  for (const auto& name : ck.names())
    if (report["linears"].contains(name.substr(0, name.rfind('.'))))
      linear_bytes += static_cast<std::int64_t>(ck.tensor(name).bytes.size());
  CHECK(linear_bytes == alloc["chosen"]["total_bytes"].get<std::int64_t>());
  for (const auto& [fmt, n] : alloc["chosen"]["layers_by_format"].items()) {
    INFO(fmt);
    CHECK((fmt == "NVFP4A16" || fmt == "MXFP4_CT" || fmt == "MXFP8_E4M3_CT" || fmt == "FP8_E4M3" || fmt == "FP8_SOURCE" ||
           fmt == "BF16"));
  }
  // The checkpoint keeps the chosen number of experts.
  const int dropped = alloc["chosen"]["n_experts_dropped"].get<int>();
  CHECK(read_json(out / "checkpoint" / "config.json")["num_local_experts"].get<int>() == 32 - dropped / 4);

  // The source's held-out loss, per domain, is the one transformers measured on the stored model.
  const json before = read_json(out / "eval_source.json");
  const json ref = read_json(model / "eval_results.json");
  CHECK(std::abs(before["loss"].get<double>() - ref["eval_loss_stored"].get<double>()) < 2e-5);
  for (const auto& [d, l] : ref["eval_loss_stored_per_domain"].items()) {
    INFO(d);
    CHECK(std::abs(before["domains"][d].get<double>() - l.get<double>()) < 2e-5);
  }
  const json after = read_json(out / "eval_allocation.json");
  CHECK(after["tokens"] == before["tokens"]);
  CHECK(std::isfinite(after["loss"].get<double>()));
  // Reloaded from disk by `eval` (the export as stored, activations as served), the checkpoint
  // has the loss the pipeline reports.
  const auto reloaded = run_cli("eval --quiet --json --model " + (out / "checkpoint").string() +
                                " --tokens " + (model / "eval_tokens.bin").string() + " --domains code,prose,math");
  INFO(reloaded.out);
  REQUIRE(reloaded.code == 0);
  const json again_loss = json::parse(reloaded.out.substr(reloaded.out.find('{')));
  CHECK(again_loss["loss"].get<double>() == Approx(after["loss"].get<double>()).epsilon(1e-9));
  for (const char* d : {"code", "prose", "math"})
    CHECK(again_loss["domains"][d].get<double>() == Approx(after["domains"][d].get<double>()).epsilon(1e-9));

  // Unchanged: every stage reused.
  const std::string costs = slurp(out / "costs.json");
  const auto again = run_cli(base + " --sweep 3.5,4.25,5,6");
  INFO(again.out);
  REQUIRE(again.code == 0);
  CHECK(count(again.out, "up to date") == 5);
  CHECK_THAT(slurp(out / "summary.md"), Catch::Contains("probe (reused)"));

  // A lost output: its stage runs again; its bytes are the same, so nothing after it does.
  fs::remove(out / "costs.json");
  const auto lost = run_cli(base + " --sweep 3.5,4.25,5,6");
  INFO(lost.out);
  REQUIRE(lost.code == 0);
  CHECK_THAT(lost.out, Catch::Contains("cost: prismaquant cost"));
  CHECK(slurp(out / "costs.json") == costs);
  CHECK(count(lost.out, "up to date") == 4);

  // A changed option: the stages it reaches run again, the ones before it are reused.
  const auto other = run_cli(base + " --sweep 4.5");
  INFO(other.out);
  REQUIRE(other.code == 0);
  CHECK_THAT(other.out, Catch::Contains("probe: up to date"));
  CHECK_THAT(other.out, Catch::Contains("cost: up to date"));
  CHECK_THAT(other.out, Catch::Contains("eval source: up to date"));
  CHECK_THAT(other.out, Catch::Contains("allocate: prismaquant allocate"));
  CHECK(read_json(out / "allocation" / "allocation.json")["chosen"]["target_bits"] == 4.5);
  // --force runs everything.
  const auto forced = run_cli(base + " --sweep 4.5 --force --quiet");
  REQUIRE(forced.code == 0);
  CHECK(count(forced.out, "up to date") == 0);
  fs::remove_all(out.parent_path());
}
