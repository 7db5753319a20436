// `prismaquant validate` on the shipped model in a reduced setting (the full run is
// scripts/papers.sh): probe, cost in every format, then validate. Checks every output, that an
// item's measured Δloss is exactly `eval --layer-config`'s loss change on the same rows, that
// the first- and second-order terms are the half-difference and half-sum of the two
// measurements, and that too little memory is an error that writes nothing.
#include "cli_run.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace fs = std::filesystem;
using json = nlohmann::json;
using pq_test::run_cli;

namespace {

const fs::path model = fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
std::vector<std::vector<std::string>> csv(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(slurp(p));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::string cur;
    bool q = false;
    for (char ch : line) {
      if (ch == '"') q = !q;
      else if (ch == ',' && !q) f.push_back(cur), cur.clear();
      else cur += ch;
    }
    f.push_back(cur);
    rows.push_back(f);
  }
  return rows;
}
// Rows i·R/n of a token file (R rows of 256 uint16), as validate --rows n picks them.
void subset(const fs::path& from, int n, const fs::path& to) {
  const std::string all = slurp(from);
  const std::size_t row = 512, R = all.size() / row;
  std::string s;
  for (int i = 0; i < n; ++i) s += all.substr(static_cast<std::size_t>(i) * R / static_cast<std::size_t>(n) * row, row);
  std::ofstream(to, std::ios::binary) << s;
}
double loss_of(const std::string& args) {
  const auto r = run_cli("eval --json --quiet " + args);
  INFO(r.out);
  REQUIRE(r.code == 0);
  return json::parse(r.out)["loss"].get<double>();
}

}  // namespace

TEST_CASE("validate: proxies, saliencies, allocations and additivity on the shipped model (reduced)") {
  const fs::path d = fs::path(PQ_BUILD_DIR) / "test_cli_validate";
  fs::remove_all(d);
  fs::create_directories(d);
  subset(model / "calib_tokens.bin", 16, d / "calib.bin");
  {
    const auto r = run_cli("probe --quiet --model " + model.string() + " --calib " + (d / "calib.bin").string() +
                           " --first-order all --out " + (d / "stats.json").string());
    INFO(r.out);
    REQUIRE(r.code == 0);
  }
  {
    const auto r = run_cli("cost --quiet --model " + model.string() + " --formats all --proxies all --stats " +
                           (d / "stats.json").string() + " --out " + (d / "costs.json").string());
    INFO(r.out);
    REQUIRE(r.code == 0);
  }
  const std::string base = "validate --quiet --model " + model.string() + " --stats " + (d / "stats.json").string() +
                           " --costs " + (d / "costs.json").string() + " --eval " + (model / "eval_tokens.bin").string() +
                           " --rows 8 --formats NVFP4,INT2 --experts 3 --allocations 3 --random 3 --prune-ratios 0.125" +
                           " --saliencies reap,reap_dropout,frequency,reroute_fisher";
  const fs::path out = d / "out";
  const auto r = run_cli(base + " --out " + out.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  for (const char* f : {"items.csv", "proxy_correlation.csv", "proxy.svg", "experts.csv", "saliency_correlation.csv",
                        "prune_sets.csv", "alpha_fit.csv", "saliency.svg", "allocations.csv", "allocations.svg", "additivity.csv",
                        "validate.json", "summary.md"}) {
    INFO(f);
    CHECK(fs::exists(out / f));
  }
  CHECK(!fs::exists(out / "validate_tokens.bin"));
  CHECK(r.out.find("## Proxy fidelity") != std::string::npos);

  // Items: 4 layers × (q|k|v, o, experts) × 2 formats, each measured at +ΔW and −ΔW.
  const auto items = csv(out / "items.csv");
  REQUIRE(items.size() == 1 + 12 * 2);
  const auto& h = items[0];
  REQUIRE(h[0] == "item");
  REQUIRE(h[5] == "measured");
  REQUIRE(h[6] == "mirror");
  int checked = 0;
  double int2_second = 0;
  for (std::size_t i = 1; i < items.size(); ++i) {
    const double plus = std::stod(items[i][5]), minus = std::stod(items[i][6]);
    CHECK(std::stod(items[i][7]) == Approx(0.5 * (plus - minus)).margin(1e-12));
    CHECK(std::stod(items[i][8]) == Approx(0.5 * (plus + minus)).margin(1e-12));
    if (items[i][2] == "INT2") int2_second += std::stod(items[i][8]);
    // One dense item, measured again with `eval --layer-config` on the same 8 rows.
    if (!checked && items[i][0].find("o_proj") != std::string::npos && items[i][2] == "INT2") {
      subset(model / "eval_tokens.bin", 8, d / "eval8.bin");
      std::ofstream(d / "lc.json") << json{{items[i][0], {{"fmt", "INT2"}}}}.dump();
      const std::string m = "--model " + model.string() + " --tokens " + (d / "eval8.bin").string();
      const double delta = loss_of(m + " --layer-config " + (d / "lc.json").string()) - loss_of(m);
      CHECK(plus == Approx(delta).epsilon(1e-7));
      ++checked;
    }
  }
  CHECK(checked == 1);
  CHECK(int2_second > 0.0);  // the curvature term of INT2's large errors: a loss, summed over items

  const auto experts = csv(out / "experts.csv");
  CHECK(experts.size() == 1 + 4 * 3);
  CHECK(experts[0].size() == 4 + 4);  // layer,router,expert,measured + 4 scores
  const auto sets = csv(out / "prune_sets.csv");
  CHECK(sets.size() == 1 + 5);  // 4 saliencies + random at one ratio

  const json j = json::parse(slurp(out / "validate.json"));
  CHECK(j["format"] == "prismaquant.validate");
  CHECK(j["eval"]["rows"] == 8);
  bool pooled = false;
  for (const auto& e : j["proxy"])
    if (e["proxy"] == "fisher_trace" && e["format"] == "all") {
      pooled = true;
      CHECK(e["n"] == 24);
      CHECK(e["spearman_second_order"].get<double>() > 0.3);  // INT2 vs NVFP4 alone orders most pairs
    }
  CHECK(pooled);
  bool taylor = false;  // the probe measured every format's first-order term, so taylor is validated too
  for (const auto& e : j["proxy"]) taylor = taylor || (e["proxy"] == "taylor" && e["format"] == "all" && e["n"] == 24);
  CHECK(taylor);
  // The probe's first-order term against the measured one, pooled and per format.
  REQUIRE(j["first_order"].size() == 3);
  CHECK(j["first_order"][0]["format"] == "all");
  CHECK(j["first_order"][0]["n"] == 24);
  CHECK(j["first_order"][0]["spearman_probe_first_order"].is_number());
  CHECK(j["saliency"].size() == 4);
  // α fits: least squares of measured Δloss on Σ S_j; positive for a score that ranks at all.
  CHECK(j["alpha_fit"].size() == 4);
  CHECK(j["alpha_fit"]["reap_dropout"]["single"].get<double>() > 0.0);
  CHECK(j["allocation"]["pareto"]["n"] == 3);
  CHECK(j["allocation"]["random"]["n"] == 3);
  CHECK(j["allocation"].contains("uniform"));
  CHECK(j["allocation"].contains("matched"));
  REQUIRE(j["additivity"].size() == 1);
  CHECK(j["additivity"][0]["pruning"].get<double>() > 0.0);

  // Too little memory for the cache: an error that says what to do, and no output folder.
  const auto bad = run_cli(base + " --max-memory 0.000001 --out " + (d / "out2").string());
  CHECK(bad.code != 0);
  CHECK(bad.out.find("evaluate fewer rows") != std::string::npos);
  CHECK(!fs::exists(d / "out2"));
}
