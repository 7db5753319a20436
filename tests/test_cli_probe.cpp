// `prismaquant probe`, `eval` and `merge` end to end on the shipped model: the stats file is
// complete and consumable by `cost` and `allocate`, reruns / thread counts / streaming with
// spills / shards + merge all give the same bytes, eval reproduces the model's measured losses,
// and every kind of bad input is one line naming the file or tensor, with nothing written.
#include <catch2/catch.hpp>

#include "cli_run.hpp"

#include <prismaquant/engine/checkpoint_tensor.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/checkpoint.hpp>
#include <prismaquant/io/safetensors_writer.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
namespace pq = prismaquant;
using pq_test::run_cli;

namespace {
fs::path tmp(const std::string& n) {
  auto d = fs::path(PQ_BUILD_DIR) / "test_tmp" / ("cli_probe_" + n);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
const fs::path model = fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny";
std::string calib() { return (model / "calib_tokens.bin").string(); }
std::string base(const fs::path& out) {
  return "probe --model " + model.string() + " --calib " + calib() + " --domains code,prose,math --quiet --out " +
         out.string();
}
// The JSON with its side-file name replaced, so files written under different names compare.
std::string normalized(const fs::path& json) {
  std::string s = slurp(json);
  const std::string side = json.stem().string() + ".safetensors";
  if (auto k = s.find(side); k != std::string::npos) s.replace(k, side.size(), "SIDE");
  return s;
}
void same_output(const fs::path& a, const fs::path& b) {
  REQUIRE(normalized(a) == normalized(b));
  auto sa = a, sb = b;
  REQUIRE(slurp(sa.replace_extension(".safetensors")) == slurp(sb.replace_extension(".safetensors")));
}
}  // namespace

TEST_CASE("probe: the shipped model's stats are complete, deterministic, and allocate consumes them") {
  const auto d = tmp("main");
  auto r = run_cli(base(d / "stats.json") + " --threads 2");
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE(r.out.find("mean CE 2.1158") != std::string::npos);  // eval_results.json: calib_loss_stored 2.11587
  const auto m = pq::stats::read_stats(d / "stats.json");
  REQUIRE(m.linears.size() == 400);
  REQUIRE(m.routers.size() == 4);
  REQUIRE(m.shards.empty());
  const auto& q = m.linears.at("model.layers.2.self_attn.q_proj");
  REQUIRE(q.rows_seen == 96 * 256);
  REQUIRE(q.h_row_sum.size() == 256);
  REQUIRE(q.xtx_diag.size() == 256);
  REQUIRE(q.fisher_token_sum.has_value());
  REQUIRE(q.input_amax.has_value());
  double hsum = 0;
  for (double v : q.h_row_sum) hsum += v;
  REQUIRE(hsum == Approx(q.fisher_sum.value()).epsilon(1e-12));
  for (const auto& [name, rt] : m.routers) {
    REQUIRE(rt.domains.size() == 3);
    std::int64_t routed = 0, total = 0;
    for (const auto& [dn, acc] : rt.domains) {
      REQUIRE(acc.total_tokens == 32 * 256);
      total += acc.total_tokens;
      for (const auto& e : acc.experts) {
        routed += e.count;
        REQUIRE(e.reroute);
      }
    }
    REQUIRE(routed == 4 * total);
  }
  std::int64_t expert_rows = 0;  // every routed position seen by one expert's w1
  for (const auto& [name, l] : m.linears)
    if (name.starts_with("model.layers.0.") && name.ends_with(".w1")) expert_rows += l.rows_seen;
  REQUIRE(expert_rows == 4 * 96 * 256);

  // rerun, other thread count, and streaming with everything spilled: the same bytes
  REQUIRE(run_cli(base(d / "again.json") + " --threads 1").code == 0);
  same_output(d / "stats.json", d / "again.json");
  r = run_cli(base(d / "spill.json") + " --threads 2 --max-memory 0.001 --tmp-dir " + d.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE(r.out.find("MB spilled") != std::string::npos);
  REQUIRE(r.out.find(" 0.0 MB spilled") == std::string::npos);
  same_output(d / "stats.json", d / "spill.json");
  for (auto& e : fs::directory_iterator(d)) REQUIRE(!e.path().filename().string().starts_with("prismaquant-activations"));

  // cost + allocate consume the probe's stats
  r = run_cli("cost --quiet --model " + model.string() +
              " --formats NVFP4,MXFP8_E4M3,FP8_SOURCE --proxies per_row_fisher,act_weighted --stats " +
              (d / "stats.json").string() + " --out " + (d / "costs.json").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  r = run_cli("allocate --stats " + (d / "stats.json").string() + " --costs " + (d / "costs.json").string() +
              " --out " + (d / "alloc").string() + " --target-bits 5.5 --proxy per_row_fisher --saliency reroute_fisher" +
              " --prune-ratios 0,0.25");
  INFO(r.out);
  REQUIRE(r.code == 0);
  REQUIRE(fs::exists(d / "alloc" / "layer_config.json"));

  // eval measures the allocation: quantized (and possibly pruned) loss above the source's
  r = run_cli("eval --quiet --json --model " + model.string() + " --tokens " + calib() + " --layer-config " +
              (d / "alloc" / "layer_config.json").string() + " --prune-manifest " +
              (d / "alloc" / "layer_config.json.prune.json").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["loss"].get<double>() > 2.11587);
  REQUIRE(j["loss"].get<double>() < 2.5);
}

TEST_CASE("probe: shards dealt by hand merge into the single-process file, byte for byte") {
  const auto d = tmp("shards");
  REQUIRE(run_cli(base(d / "one.json")).code == 0);
  for (int i = 0; i < 3; ++i) {
    const auto r = run_cli(base(d / "part.json") + " --shard " + std::to_string(i) + "/3");
    INFO(r.out);
    REQUIRE(r.code == 0);
    REQUIRE(fs::exists(d / ("part.shard-" + std::to_string(i) + "-of-3.json")));
  }
  auto r = run_cli("merge " + (d / "part.shard-2-of-3.json").string() + " " + (d / "part.shard-0-of-3.json").string() +
                   " " + (d / "part.shard-1-of-3.json").string() + " --out " + (d / "merged.json").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  same_output(d / "one.json", d / "merged.json");
  // an incomplete merge says so and keeps the exact parts
  r = run_cli("merge " + (d / "part.shard-0-of-3.json").string() + " " + (d / "part.shard-1-of-3.json").string() +
              " --out " + (d / "partial.json").string());
  REQUIRE(r.code == 0);
  REQUIRE(r.out.find("partial") != std::string::npos);
  // the same shard twice is refused, nothing written
  r = run_cli("merge " + (d / "part.shard-0-of-3.json").string() + " " + (d / "part.shard-0-of-3.json").string() +
              " --out " + (d / "dup.json").string());
  REQUIRE(r.code == 1);
  REQUIRE(r.out.find("given twice") != std::string::npos);
  REQUIRE(!fs::exists(d / "dup.json"));
}

TEST_CASE("cost --shard: parts merge into the single-process costs file, byte for byte") {
  const auto d = tmp("cost_shards");
  const std::string c = "cost --quiet --model " + model.string() + " --formats NVFP4,FP8_SOURCE --out ";
  REQUIRE(run_cli(c + (d / "one.json").string()).code == 0);
  REQUIRE(run_cli(c + (d / "p.json").string() + " --shard 0/2").code == 0);
  REQUIRE(run_cli(c + (d / "p.json").string() + " --shard 1/2").code == 0);
  const auto r = run_cli("merge " + (d / "p.shard-0-of-2.json").string() + " " + (d / "p.shard-1-of-2.json").string() +
                         " --out " + (d / "merged.json").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  same_output(d / "one.json", d / "merged.json");
}

TEST_CASE("eval: the shipped models' measured losses, and the JSON shape") {
  auto r = run_cli("eval --json --model " + model.string() + " --tokens " + (model / "eval_tokens.bin").string() +
                   " --domains code,prose,math");
  INFO(r.out);
  REQUIRE(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.size() == 3);
  REQUIRE(j["tokens"].get<std::int64_t>() == 192 * 255);
  // models/minimax-m2-tiny/eval_results.json (transformers, 5 decimals)
  REQUIRE(std::fabs(j["loss"].get<double>() - 2.11933) < 1e-5);
  REQUIRE(std::fabs(j["domains"]["code"].get<double>() - 2.29317) < 1e-5);
  REQUIRE(std::fabs(j["domains"]["prose"].get<double>() - 2.73965) < 1e-5);
  REQUIRE(std::fabs(j["domains"]["math"].get<double>() - 1.32517) < 1e-5);
  const fs::path qwen = fs::path(PQ_SOURCE_DIR) / "models" / "qwen3-moe-tiny";
  r = run_cli("eval --json --model " + qwen.string() + " --tokens " + (qwen / "eval_tokens.bin").string() +
              " --domains code,prose,math");
  INFO(r.out);
  REQUIRE(r.code == 0);
  j = nlohmann::json::parse(r.out);
  const auto ref = nlohmann::json::parse(slurp(qwen / "eval_results.json"));
  REQUIRE(std::fabs(j["loss"].get<double>() - ref["eval_loss"].get<double>()) < 2e-6);
  for (const char* dn : {"code", "prose", "math"})
    REQUIRE(std::fabs(j["domains"][dn].get<double>() - ref["eval_loss_per_domain"][dn].get<double>()) < 2e-6);
}

namespace {
// A copy of the shipped model as one safetensors file, with `edit` applied to the tensor list.
void write_model(const fs::path& dir, const std::function<void(std::vector<pq::tensor_data>&,
                                                                std::vector<std::vector<std::byte>>&)>& edit) {
  fs::create_directories(dir);
  fs::copy_file(model / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  const pq::checkpoint ck(model);
  std::vector<pq::tensor_data> t;
  std::vector<std::vector<std::byte>> keep;
  keep.reserve(2000);
  for (const auto& n : ck.names()) {
    const auto v = ck.tensor(n);
    keep.emplace_back(v.bytes.begin(), v.bytes.end());
    t.push_back({{n, v.type, std::vector<std::uint64_t>(v.shape.begin(), v.shape.end())}, keep.back()});
  }
  edit(t, keep);
  pq::write_safetensors(dir / "model.safetensors", t);
}
void expect_error(const std::string& args, const std::string& what, const fs::path& must_not_exist) {
  const auto r = run_cli(args);
  INFO(args << "\n" << r.out);
  REQUIRE(r.code == 1);
  REQUIRE(r.out.rfind("prismaquant: error: ", 0) == 0);
  REQUIRE(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  REQUIRE(r.out.find(what) != std::string::npos);
  REQUIRE(!fs::exists(must_not_exist));
}
}  // namespace

TEST_CASE("eval --layer-config: the loss of the round-tripped weights; FP8_SOURCE is the source; pruning costs loss") {
  const auto d = tmp("eval_variants");
  const pq::checkpoint ck(model);
  nlohmann::json fp8 = nlohmann::json::object(), nv = nlohmann::json::object();
  std::vector<std::string> nv_modules;  // o_proj and w2: Linears without fused siblings
  for (const auto& n : ck.names())
    if (n.ends_with(".weight_scale_inv")) {
      const std::string mod = n.substr(0, n.size() - 17);
      fp8[mod] = {{"fmt", "FP8_SOURCE"}};
      if (mod.ends_with("o_proj") || mod.ends_with(".w2")) {
        nv[mod] = {{"fmt", "NVFP4"}};
        nv_modules.push_back(mod);
      }
    }
  std::ofstream(d / "fp8.json") << fp8.dump();
  std::ofstream(d / "nv.json") << nv.dump();
  // the same weights materialised: a checkpoint whose o_proj / w2 are their NVFP4 round trips in F32
  write_model(d / "nv_model", [&](auto& t, auto& keep) {
    for (const auto& mod : nv_modules) {
      const auto src = pq::engine::open_source_weight(ck, mod, ck.tensor(mod + ".weight").shape[0],
                                                      ck.tensor(mod + ".weight").shape[1]);
      const auto w = pq::formats::find("NVFP4").round_trip(src.view, pq::formats::measure(src.view));
      for (std::size_t i = 0; i < t.size(); ++i)
        if (t[i].spec.name == mod + ".weight") {
          keep[i].resize(w.size() * 4);
          std::memcpy(keep[i].data(), w.data(), keep[i].size());
          t[i].spec.type = pq::dtype::F32;
          t[i].bytes = keep[i];
        }
    }
    for (const auto& mod : nv_modules)  // last: t and keep share indices until here
      std::erase_if(t, [&](const pq::tensor_data& x) { return x.spec.name == mod + ".weight_scale_inv"; });
  });
  const std::string e = "eval --json --tokens " + calib() + " --model ";
  auto loss = [&](const std::string& args) {
    const auto r = run_cli(e + args);
    INFO(args << "\n" << r.out);
    REQUIRE(r.code == 0);
    return nlohmann::json::parse(r.out)["loss"].get<double>();
  };
  const double plain = loss(model.string());
  REQUIRE(loss(model.string() + " --layer-config " + (d / "fp8.json").string()) == plain);
  const double q4 = loss(model.string() + " --layer-config " + (d / "nv.json").string());
  REQUIRE(q4 != plain);
  REQUIRE(loss((d / "nv_model").string()) == q4);
  nlohmann::json prune = nlohmann::json::object();
  for (int l = 0; l < 4; ++l) {
    std::vector<int> kept;
    for (int x = 0; x < 32; ++x)
      if (x % 4 != 1) kept.push_back(x);
    prune["model.layers." + std::to_string(l) + ".block_sparse_moe.gate"] = {{"kept_expert_ids", kept}};
  }
  std::ofstream(d / "prune.json") << prune.dump();
  REQUIRE(loss(model.string() + " --prune-manifest " + (d / "prune.json").string()) > plain + 1e-3);
}

TEST_CASE("probe and eval: bad input is one line naming the file or tensor, and nothing is written") {
  const auto d = tmp("bad");
  const auto out = d / "stats.json";
  auto probe = [&](const std::string& model_dir, const std::string& tokens) {
    return "probe --quiet --model " + model_dir + " --calib " + tokens + " --out " + out.string();
  };
  // token files
  std::vector<std::uint16_t> ids(500, 65);  // 1000 bytes: one 256-token row (512 bytes) and a partial one
  ids[17] = 300;  // >= vocab 260
  std::ofstream(d / "big.bin", std::ios::binary).write(reinterpret_cast<const char*>(ids.data()), 512);
  expect_error(probe(model.string(), (d / "big.bin").string()), "big.bin: token 300 at row 0, position 17", out);
  std::ofstream(d / "odd.bin", std::ios::binary).write(reinterpret_cast<const char*>(ids.data()), 1000);
  expect_error(probe(model.string(), (d / "odd.bin").string()), "odd.bin: 1000 bytes is not a whole number of rows", out);
  std::ofstream(d / "empty.bin", std::ios::binary).flush();
  expect_error(probe(model.string(), (d / "empty.bin").string()), "empty.bin: empty token file", out);
  expect_error(probe(model.string(), calib()) + " --seq-len 8192", "--seq-len: 8192 exceeds the model's max_position_embeddings 4096", out);
  expect_error(probe(model.string(), calib()) + " --domains a,b,c,d,e", "rows do not split into 5 equal domains", out);
  expect_error(probe(model.string(), calib()) + " --shard 2/2", "--shard: shard 2/2 is out of range", out);
  expect_error("probe --quiet --model " + model.string() + " --calib " + calib() + " --out " + (d / "nowhere" / "s.json").string(),
               "--out: folder", d / "nowhere");
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);  // the child inherits a launcher's inconsistent rank
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  expect_error(probe(model.string(), calib()) + " --shard auto", "OMPI_COMM_WORLD_RANK=3, OMPI_COMM_WORLD_SIZE=2", out);
  unsetenv("OMPI_COMM_WORLD_RANK");
  unsetenv("OMPI_COMM_WORLD_SIZE");
  // models: a missing tensor, a misshapen one, NaN in a weight, NaN in an FP8 block scale
  write_model(d / "missing", [](auto& t, auto&) {
    std::erase_if(t, [](const pq::tensor_data& x) { return x.spec.name == "model.layers.1.input_layernorm.weight"; });
  });
  expect_error(probe((d / "missing").string(), calib()), "model.layers.1.input_layernorm.weight: missing", out);
  write_model(d / "shape", [](auto& t, auto&) {
    for (auto& x : t)
      if (x.spec.name == "model.layers.2.self_attn.k_norm.weight") {
        x.spec.shape = {64};
        x.bytes = x.bytes.subspan(0, 128);
      }
  });
  expect_error(probe((d / "shape").string(), calib()), "model.layers.2.self_attn.k_norm.weight: shape [64]", out);
  write_model(d / "nan", [](auto& t, auto& keep) {
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t[i].spec.name == "model.layers.3.post_attention_layernorm.weight") {
        const std::uint16_t nan = 0x7FC0;  // bf16 NaN
        std::memcpy(keep[i].data() + 10, &nan, 2);
      }
  });
  expect_error(probe((d / "nan").string(), calib()), "model.layers.3.post_attention_layernorm.weight\": NaN at [5]", out);
  write_model(d / "nanscale", [](auto& t, auto& keep) {
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t[i].spec.name == "model.layers.0.block_sparse_moe.experts.5.w2.weight_scale_inv") {
        const float inf = INFINITY;
        std::memcpy(keep[i].data(), &inf, 4);
      }
  });
  expect_error(probe((d / "nanscale").string(), calib()), "experts.5.w2.weight_scale_inv\": Inf at [0, 0]", out);
  // eval's own inputs
  std::ofstream(d / "lc.json") << R"({"model.layers.0.self_attn.q_proj": {"fmt": "NOPE"}})";
  expect_error("eval --model " + model.string() + " --tokens " + calib() + " --layer-config " + (d / "lc.json").string(),
               "lc.json: \"model.layers.0.self_attn.q_proj\": unknown format \"NOPE\"", out);
  std::ofstream(d / "pm.json") << R"({"model.layers.0.block_sparse_moe.gate": {"kept_expert_ids": [0, 1]}})";
  expect_error("eval --model " + model.string() + " --tokens " + calib() + " --prune-manifest " + (d / "pm.json").string(),
               "keeps 2 experts, fewer than top_k 4", out);
  expect_error("merge " + (d / "lc.json").string() + " --out " + out.string(), "not a prismaquant stats or costs file", out);
}
