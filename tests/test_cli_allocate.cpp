// `prismaquant allocate` end to end: files written, their contents, determinism, errors.
#include <catch2/catch.hpp>

#include "../examples/example_support.hpp"
#include "test_allocate_fixture.hpp"

#include <prismaquant/allocate/loader_rules.hpp>
#include <prismaquant/model/open.hpp>
#include <prismaquant/model/synthetic.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace fs = std::filesystem;

namespace {
fs::path dir(const std::string& n) {
  auto d = fs::path(PQ_BUILD_DIR) / "test_tmp" / ("cli_allocate_" + n);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
int run(const std::string& args, const fs::path& log) {
  const std::string cmd = std::string(PQ_BUILD_DIR) + "/prismaquant allocate " + args + " > " + log.string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
}  // namespace

TEST_CASE("allocate: sweep with pruning writes every documented file, deterministically") {
  auto d = dir("sweep");
  auto m = fixture::make(21, 2, 8, 2);
  prismaquant::stats::write_stats(d / "stats.json", m.stats);
  prismaquant::stats::write_costs(d / "costs.json", m.costs);
  const std::string common = "--stats " + (d / "stats.json").string() + " --costs " + (d / "costs.json").string() +
                             " --sweep 4.5,5,5.5,6,7,8,10,12 --prune-ratios 0,0.125,0.25,0.5 --alpha 0.15";
  REQUIRE(run(common + " --out " + (d / "a").string(), d / "a.log") == 0);
  REQUIRE(run(common + " --out " + (d / "b").string(), d / "b.log") == 0);
  for (const char* f : {"layer_config.json", "layer_config.json.prune.json", "pareto.csv", "pareto.svg", "allocation.json"}) {
    INFO(f);
    REQUIRE(fs::exists(d / "a" / f));
    REQUIRE(slurp(d / "a" / f) == slurp(d / "b" / f));  // byte-identical
  }
  const std::string csv = slurp(d / "a" / "pareto.csv");
  REQUIRE(csv.rfind("target_bits,feasible,achieved_bits,predicted_dloss,global_prune_ratio,n_layers_pruned,"
                    "n_experts_dropped,layers_BF16,layers_FP8_SOURCE,layers_MXFP8_E4M3,layers_NVFP4,params_BF16,"
                    "params_FP8_SOURCE,params_MXFP8_E4M3,params_NVFP4,lower_bound,gap\n",
                    0) == 0);
  REQUIRE(std::count(csv.begin(), csv.end(), '\n') == 9);
  const auto summary = nlohmann::json::parse(slurp(d / "a" / "allocation.json"));
  const auto lc = nlohmann::json::parse(slurp(d / "a" / "layer_config.json"));
  const auto pm = nlohmann::json::parse(slurp(d / "a" / "layer_config.json.prune.json"));
  const int dropped = summary["chosen"]["n_experts_dropped"];
  REQUIRE(static_cast<int>(lc.size()) == static_cast<int>(m.stats.linears.size()) - 3 * dropped);
  int in_manifest = 0;
  for (auto& [router, e] : pm.items()) {
    in_manifest += static_cast<int>(e["pruned_expert_ids"].size());
    REQUIRE(e["num_experts_orig"] == 8);
    REQUIRE(e["num_experts_kept"].get<int>() + e["pruned_expert_ids"].size() == 8);
    REQUIRE(e["orig_to_new_eid"].size() == e["kept_expert_ids"].size());
    for (auto& id : e["pruned_expert_ids"])
      REQUIRE_FALSE(lc.contains(m.stats.routers.at(router).experts_prefix + "." + std::to_string(id.get<int>()) + ".w1"));
  }
  REQUIRE(in_manifest == dropped);
  for (auto& [name, e] : lc.items()) {
    REQUIRE(e.contains("bits"));
    REQUIRE(e.contains("group_size"));
    REQUIRE(e.contains("data_type"));
    if (e["fmt"] == "NVFP4") REQUIRE((e["data_type"] == "nv_fp" && e["bits"] == 4 && e["group_size"] == 16));
  }
  REQUIRE(summary["knee_index"] == summary["chosen_index"]);
  REQUIRE(slurp(d / "a" / "pareto.svg").find("knee") != std::string::npos);
}

TEST_CASE("allocate: single targets, byte targets and errors") {
  auto d = dir("single");
  auto m = fixture::make(22, 1, 6, 2, /*fp8_source=*/false);
  prismaquant::stats::write_stats(d / "stats.json", m.stats);
  prismaquant::stats::write_costs(d / "costs.json", m.costs);
  const std::string io = "--stats " + (d / "stats.json").string() + " --costs " + (d / "costs.json").string();
  REQUIRE(run(io + " --target-bits 6 --proxy per_row_fisher --saliency reap_dropout --out " + (d / "o").string(),
              d / "o.log") == 0);
  auto lc = nlohmann::json::parse(slurp(d / "o" / "layer_config.json"));
  for (auto& [name, e] : lc.items()) REQUIRE(e["fmt"] != "FP8_SOURCE");  // BF16 source: no FP8 pass-through
  REQUIRE(nlohmann::json::parse(slurp(d / "o" / "layer_config.json.prune.json")).empty());
  std::int64_t bytes = nlohmann::json::parse(slurp(d / "o" / "allocation.json"))["chosen"]["total_bytes"];
  REQUIRE(run(io + " --target-bytes " + std::to_string(bytes) + " --out " + (d / "p").string(), d / "p.log") == 0);
  REQUIRE(run(io + " --target-bytes " + std::to_string(bytes) + " --solver hull_greedy --out " + (d / "q").string(),
              d / "q.log") == 0);

  REQUIRE(run(io + " --out " + (d / "x").string(), d / "e1.log") == 1);
  REQUIRE(slurp(d / "e1.log").find("exactly one of --target-bits") != std::string::npos);
  REQUIRE(run(io + " --target-bits 0.5 --out " + (d / "x").string(), d / "e2.log") == 1);
  REQUIRE(slurp(d / "e2.log").find("smallest feasible size") != std::string::npos);
  REQUIRE_FALSE(fs::exists(d / "x" / "layer_config.json"));  // no partial output
  REQUIRE(run(io + " --target-bits 6 --proxy bogus --out " + (d / "x").string(), d / "e3.log") == 1);
  REQUIRE(slurp(d / "e3.log").find("--proxy: unknown value") != std::string::npos);
  REQUIRE(run(io + " --target-bits 6 --solver bogus --out " + (d / "x").string(), d / "e4.log") == 1);
  REQUIRE(slurp(d / "e4.log").find("--solver: unknown value") != std::string::npos);
  // act_weighted needs act_sse: present in the fixture, so this works; drop it to see the error
  auto m2 = m;
  for (auto& [n, l] : m2.costs.linears)
    for (auto& [f, c] : l.formats) c.act_sse.reset();
  prismaquant::stats::write_costs(d / "costs2.json", m2.costs);
  REQUIRE(run("--stats " + (d / "stats.json").string() + " --costs " + (d / "costs2.json").string() +
                  " --target-bits 6 --proxy act_weighted --out " + (d / "x").string(),
              d / "e5.log") == 1);
  REQUIRE(slurp(d / "e5.log").find("needs act_sse") != std::string::npos);
  // a costs file naming a Linear the stats do not know
  auto m3 = m;
  m3.costs.linears["model.ghost"] = m3.costs.linears.begin()->second;
  m3.costs.linears["model.ghost"].name = "model.ghost";
  prismaquant::stats::write_costs(d / "costs3.json", m3.costs);
  REQUIRE(run("--stats " + (d / "stats.json").string() + " --costs " + (d / "costs3.json").string() +
                  " --target-bits 6 --out " + (d / "x").string(),
              d / "e6.log") == 1);
  REQUIRE(slurp(d / "e6.log").find("unknown Linear \"model.ghost\"") != std::string::npos);
}

TEST_CASE("allocate: the model's description, vLLM's and transformers' rules, end to end from cost") {
  namespace pq = prismaquant;
  auto d = dir("model");
  // a small MiniMax-M2 checkpoint, and statistics for it as a probe (or your own hooks) would
  // write them (examples/example_support.hpp)
  const auto model = example::tiny_minimax(d);
  const auto desc = pq::model::open_model(model).description;
  const auto st = example::synthetic_stats(desc);
  pq::stats::write_stats(d / "stats.json", st);
  const std::string m = model.string();
  REQUIRE(std::system((std::string(PQ_BUILD_DIR) + "/prismaquant cost --quiet --model " + m +
                       " --proxies per_row_fisher --out " + (d / "costs.json").string() + " > /dev/null")
                          .c_str()) == 0);
  const std::string io = "--stats " + (d / "stats.json").string() + " --costs " + (d / "costs.json").string() +
                         " --proxy per_row_fisher --target-bits 5.5 --prune-ratios 0,0.25";
  REQUIRE(run(io + " --model " + m + " --out " + (d / "vllm").string(), d / "vllm.log") == 0);
  REQUIRE(run(io + " --out " + (d / "named").string(), d / "named.log") == 0);  // description from the stats' names
  REQUIRE(run(io + " --model " + m + " --loader transformers --out " + (d / "tf").string(), d / "tf.log") == 0);
  // the same allocation whether the description comes from the checkpoint or from the names
  REQUIRE(slurp(d / "vllm" / "layer_config.json") == slurp(d / "named" / "layer_config.json"));
  auto formats_of = [&](const fs::path& lc) {
    std::map<std::string, std::string> f;
    const auto j = nlohmann::json::parse(slurp(lc));  // alive for the whole loop
    for (auto& [mod, e] : j.items()) f[mod] = e["fmt"];
    return f;
  };
  const auto v = formats_of(d / "vllm" / "layer_config.json"), t = formats_of(d / "tf" / "layer_config.json");
  REQUIRE_NOTHROW(pq::allocate::loader_rules::vllm().validate(desc, v, "vllm"));
  REQUIRE_NOTHROW(pq::allocate::loader_rules::transformers().validate(desc, t, "transformers"));
  // transformers' freedom can only help: never a higher Δloss at the same budget
  const double dv = nlohmann::json::parse(slurp(d / "vllm" / "allocation.json"))["chosen"]["dloss"];
  const double dt = nlohmann::json::parse(slurp(d / "tf" / "allocation.json"))["chosen"]["dloss"];
  REQUIRE(dt <= dv * (1 + 1e-12));
  REQUIRE(nlohmann::json::parse(slurp(d / "vllm" / "allocation.json"))["loader"] == "vllm");
  // per-expert formats are not something vLLM can load
  REQUIRE(run(io + " --model " + m + " --per-expert --out " + (d / "x").string(), d / "e.log") == 1);
  REQUIRE(slurp(d / "e.log").find("--loader transformers") != std::string::npos);
  REQUIRE(run(io + " --model " + m + " --loader sglang --out " + (d / "x").string(), d / "e2.log") == 1);
  REQUIRE(slurp(d / "e2.log").find("--loader: unknown value \"sglang\"") != std::string::npos);
  REQUIRE_FALSE(fs::exists(d / "x"));
}

TEST_CASE("allocate --alpha-fit: the alpha validate fitted for --saliency, as if given by --alpha") {
  auto d = dir("alpha_fit");
  auto m = fixture::make(21, 2, 8, 2);
  prismaquant::stats::write_stats(d / "stats.json", m.stats);
  prismaquant::stats::write_costs(d / "costs.json", m.costs);
  std::ofstream(d / "alpha_fit.csv") << "saliency,alpha_single,alpha_sets,alpha_given\n"
                                        "reap,0.5,0.25,0.15\n"
                                        "reap_dropout,0.001,0.0123,0.15\n";
  const std::string common = "--stats " + (d / "stats.json").string() + " --costs " + (d / "costs.json").string() +
                             " --sweep 4.5,5,6,8 --prune-ratios 0,0.125,0.25";
  REQUIRE(run(common + " --alpha-fit " + (d / "alpha_fit.csv").string() + " --out " + (d / "fit").string(), d / "fit.log") == 0);
  CHECK_THAT(slurp(d / "fit.log"), Catch::Contains("alpha 0.0123 for reap_dropout"));
  REQUIRE(run(common + " --alpha 0.0123 --out " + (d / "given").string(), d / "given.log") == 0);
  for (const char* f : {"layer_config.json", "layer_config.json.prune.json", "pareto.csv", "allocation.json"}) {
    INFO(f);
    CHECK(slurp(d / "fit" / f) == slurp(d / "given" / f));
  }
  CHECK(nlohmann::json::parse(slurp(d / "fit" / "allocation.json"))["alpha"] == 0.0123);
  // Another score reads its own row.
  REQUIRE(run(common + " --saliency reap --alpha-fit " + (d / "alpha_fit.csv").string() + " --out " + (d / "reap").string(),
              d / "reap.log") == 0);
  CHECK(nlohmann::json::parse(slurp(d / "reap" / "allocation.json"))["alpha"] == 0.25);
}
