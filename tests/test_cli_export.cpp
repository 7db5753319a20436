// `prismaquant export` on the shipped model: what it writes (config.json's
// quantization_config, pruned experts renumbered, router and correction bias shrunk in kept
// order, FP8_SOURCE copied byte for byte, byte-identical reruns) and bad input (one line
// `prismaquant: error: <file or option>: <problem>`, exit 1, nothing written).
// The real clients' checks are tests/live/test_export_*.py.
#include "cli_run.hpp"

#include <prismaquant/export/plan.hpp>
#include <prismaquant/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using json = nlohmann::json;
using pq_test::run_cli;

namespace {

const fs::path model = fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny";
const fs::path golden = fs::path(PQ_SOURCE_DIR) / "tests" / "golden" / "export";

fs::path scratch(const std::string& name) {
  fs::path p = fs::path(PQ_BUILD_DIR) / "test_cli_export" / name;
  fs::remove_all(p);
  fs::create_directories(p.parent_path());
  return p;
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}
std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
void write_json(const fs::path& p, const json& j) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << j.dump(1);
}

json entry(const std::string& fmt) {
  if (fmt == "NVFP4") return {{"bits", 4}, {"group_size", 16}, {"data_type", "nv_fp"}, {"fmt", fmt}};
  if (fmt == "MXFP8_E4M3") return {{"bits", 8}, {"group_size", 32}, {"data_type", "mx_fp"}, {"fmt", fmt}};
  if (fmt == "FP8_SOURCE") return {{"bits", 8}, {"group_size", 128}, {"data_type", "fp8_e4m3"}, {"fmt", fmt}};
  return {{"bits", 16}, {"group_size", -1}, {"data_type", "float"}, {"fmt", "BF16"}};
}

json all_linears(const std::string& fmt) {
  json lc = json::object();
  for (int l = 0; l < 4; ++l) {
    for (const char* p : {"q", "k", "v", "o"}) lc["model.layers." + std::to_string(l) + ".self_attn." + p + "_proj"] = entry(fmt);
    for (int e = 0; e < 32; ++e)
      for (const char* w : {"w1", "w2", "w3"})
        lc["model.layers." + std::to_string(l) + ".block_sparse_moe.experts." + std::to_string(e) + "." + w] = entry(fmt);
  }
  return lc;
}

// The export flags of each golden case, as python/golden/make_export_golden.py wrote them
// (export_flags.json; paths relative to the repository).
std::string golden_flags(const std::string& c) {
  std::string flags;
  for (const auto& f : read_json(golden / c / "export_flags.json")) {
    const std::string a = f.get<std::string>();
    flags += (flags.empty() ? "" : " ") + (a.rfind("models/", 0) == 0 ? (fs::path(PQ_SOURCE_DIR) / a).string() : a);
  }
  return flags;
}

// GPTQ's codes follow the float rounding of the calibration forward and of the column loop. The
// goldens were made by the Release build (-O3 -march=native); the sanitizer build (baseline
// x86-64, -O1, so no FMA contraction) flips a few codes (measured: 365 of 971 tensors differ in
// a few bytes, held-out loss by up to 5e-5, logits by up to 0.15 where routing flips), so there
// the GPTQ cases are checked for rerun determinism only, and compared with the client by the
// Release build.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitizer_build = true;
#else
constexpr bool sanitizer_build = false;
#endif
bool client_comparable(const std::string& c) { return !(sanitizer_build && c.rfind("gptq", 0) == 0); }

// A failing export: exit 1, exactly one line naming what is wrong, no output folder.
void expect_error(const std::string& args, const fs::path& out, const std::string& must_contain) {
  const auto r = run_cli("export --model " + model.string() + " --out " + out.string() + " " + args);
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.rfind("prismaquant: error: ", 0) == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  CHECK(r.out.find(must_contain) != std::string::npos);
  CHECK_FALSE(fs::exists(out));
  for (const auto& de : fs::directory_iterator(out.parent_path()))  // no staging folder left
    CHECK(de.path().filename().string().find(".staging-") == std::string::npos);
}

}  // namespace

TEST_CASE("export: the golden layer configs write what files.json records, byte-identical on rerun", "[export]") {
  for (const char* c : {"nvfp4", "mixed_pruned", "experts_mixed", "attn_w_a", "gptq", "gptq_nvfp4"}) {
    INFO(c);
    const fs::path in = golden / c;
    REQUIRE(fs::exists(in / "files.json"));  // python/golden/make_export_golden.py
    const std::string flags = golden_flags(c);
    const fs::path a = scratch(std::string(c) + "_a"), b = scratch(std::string(c) + "_b");
    for (const auto& out : {a, b}) {
      const auto r = run_cli("export --model " + model.string() + " --layer-config " + (in / "layer_config.json").string() +
                             " --out " + out.string() + " " + flags);
      INFO(r.out);
      REQUIRE(r.code == 0);
    }
    const json files = read_json(in / "files.json");
    std::size_t n = 0;
    for (const auto& de : fs::directory_iterator(a)) {
      const std::string name = de.path().filename().string();
      INFO(name);
      CHECK(files.contains(name));
      CHECK(read_bytes(de.path()) == read_bytes(b / name));
      // A calibrated export's report holds float sums over calibration activations (output
      // errors) whose last digits follow the compiler's instruction choices (the sanitizer
      // build's differ): its size is not compared; the checkpoint's files are.
      const bool calibrated_report = flags.find("--calib") != std::string::npos && name == "export_report.json";
      if (files.contains(name) && !calibrated_report)
        CHECK(files[name]["bytes"].get<std::uintmax_t>() == fs::file_size(de.path()));
      ++n;
    }
    CHECK(n == files.size());
  }
}

TEST_CASE("export: config.json, pruning, router and bias, FP8_SOURCE pass-through", "[export]") {
  const fs::path in = golden / "mixed_pruned";
  const fs::path out = scratch("mixed_pruned");
  const auto r = run_cli("export --model " + model.string() + " --layer-config " + (in / "layer_config.json").string() +
                         " --out " + out.string() + " --weight-only");
  INFO(r.out);
  REQUIRE(r.code == 0);
  const json cfg = read_json(out / "config.json");
  CHECK(cfg["num_local_experts"] == 24);
  const json& qc = cfg["quantization_config"];
  CHECK(qc["quant_method"] == "compressed-tensors");
  CHECK(qc["format"] == "mixed-precision");
  CHECK(qc["quantization_status"] == "compressed");
  for (int l = 0; l < 4; ++l)
    CHECK(std::find(qc["ignore"].begin(), qc["ignore"].end(), "model.layers." + std::to_string(l) + ".mlp.gate") !=
          qc["ignore"].end());
  CHECK(qc["config_groups"]["MXFP8"]["weights"]["scale_dtype"] == "torch.uint8");
  CHECK(qc["config_groups"]["FP8_BLOCK"]["weights"]["block_structure"] == json::array({128, 128}));
  CHECK(qc["config_groups"]["MXFP8"]["targets"] ==
        json::array({"re:^model[.]layers[.]0[.]mlp[.]experts[.][0-9]+[.](down|gate|up)_proj$",
                     "re:^model[.]layers[.]2[.]self_attn[.]o_proj$"}));
  for (const auto& [g, grp] : qc["config_groups"].items())
    for (const auto& t : grp["targets"]) {
      CHECK(t.get<std::string>().rfind("re:^model[.]layers[.]", 0) == 0);
      CHECK(t.get<std::string>().back() == '$');
    }

  prismaquant::checkpoint src(model), dst(out);
  const std::vector<int> dropped{3, 9, 17, 20, 21, 25, 28, 31};
  std::vector<int> kept;
  for (int e = 0; e < 32; ++e)
    if (std::find(dropped.begin(), dropped.end(), e) == dropped.end()) kept.push_back(e);
  for (int l = 0; l < 4; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".block_sparse_moe.";
    const auto g0 = src.tensor(p + "gate.weight").to_vector<float>(), g1 = dst.tensor(p + "gate.weight").to_vector<float>();
    const auto b0 = src.tensor(p + "e_score_correction_bias").to_vector<float>();
    const auto bt = dst.tensor(p + "e_score_correction_bias");
    CHECK(bt.type == prismaquant::dtype::F32);
    const auto b1 = bt.to_vector<float>();
    REQUIRE(g1.size() == 24 * 256);
    REQUIRE(b1.size() == 24);
    for (int k = 0; k < 24; ++k) {
      CHECK(b1[k] == b0[kept[k]]);
      CHECK(std::equal(g1.begin() + k * 256, g1.begin() + (k + 1) * 256, g0.begin() + kept[k] * 256));
    }
    auto any_with = [&](const std::string& prefix) {
      for (const auto& n : dst.names())
        if (n.rfind(prefix, 0) == 0) return true;
      return false;
    };
    CHECK(any_with(p + "experts.23.w1.weight"));
    CHECK(any_with(p + "experts.23.w2.weight"));
    CHECK_FALSE(any_with(p + "experts.24."));
    for (const auto& n : dst.names()) CHECK(n.find("weight_scale_inv") == std::string::npos);
  }
  // layer 0: q/k/v FP8_SOURCE: the source fp8 bytes and weight_scale_inv, renamed weight_scale
  for (const char* x : {"q", "k", "v"}) {
    const std::string m = std::string("model.layers.0.self_attn.") + x + "_proj";
    const auto w0 = src.tensor(m + ".weight"), w1 = dst.tensor(m + ".weight");
    CHECK(std::equal(w0.bytes.begin(), w0.bytes.end(), w1.bytes.begin(), w1.bytes.end()));
    const auto s0 = src.tensor(m + ".weight_scale_inv"), s1 = dst.tensor(m + ".weight_scale");
    CHECK(std::equal(s0.bytes.begin(), s0.bytes.end(), s1.bytes.begin(), s1.bytes.end()));
  }
  // layer 0 experts MXFP8: expert 3 dropped, so new expert 3 is the old expert 4
  CHECK(dst.tensor("model.layers.0.block_sparse_moe.experts.3.w2.weight").type == prismaquant::dtype::F8_E4M3);
  CHECK(dst.tensor("model.layers.0.block_sparse_moe.experts.3.w2.weight_scale").type == prismaquant::dtype::U8);
  // other files copied
  CHECK(read_bytes(out / "generation_config.json") == read_bytes(model / "generation_config.json"));
  const json rep = read_json(out / "export_report.json");
  CHECK(rep["linears"].size() == 4 * (4 + 24 * 3));
}

TEST_CASE("export: bad input is one line, exit 1, nothing written", "[export]") {
  const fs::path dir = scratch("bad");
  fs::create_directories(dir);
  const fs::path out = dir / "out";
  json lc = all_linears("NVFP4");
  write_json(dir / "ok.json", lc);

  json x = lc;
  x["model.layers.9.self_attn.q_proj"] = entry("NVFP4");
  write_json(dir / "unknown_module.json", x);
  expect_error("--weight-only --layer-config " + (dir / "unknown_module.json").string(), out,
               "\"model.layers.9.self_attn.q_proj\": no such Linear in the model");

  x = lc;
  x["model.layers.0.self_attn.o_proj"] = {{"bits", 4}, {"group_size", 16}, {"data_type", "nv_fp"}, {"fmt", "NVFP5"}};
  write_json(dir / "unknown_format.json", x);
  expect_error("--weight-only --layer-config " + (dir / "unknown_format.json").string(), out, "NVFP5");

  x = lc;
  x["model.layers.0.block_sparse_moe.gate"] = entry("NVFP4");
  write_json(dir / "router.json", x);
  expect_error("--weight-only --layer-config " + (dir / "router.json").string(), out, "routers are never quantized");

  x = lc;
  x.erase("model.layers.2.block_sparse_moe.experts.5.w2");
  write_json(dir / "missing.json", x);
  expect_error("--weight-only --layer-config " + (dir / "missing.json").string(), out,
               "\"model.layers.2.block_sparse_moe.experts.5.w2\": missing");

  // vLLM needs one scheme per MoE layer; --loader transformers accepts it
  x = lc;
  x["model.layers.1.block_sparse_moe.experts.7.w2"] = entry("MXFP8_E4M3");
  write_json(dir / "moe_mix.json", x);
  expect_error("--weight-only --layer-config " + (dir / "moe_mix.json").string(), out,
               "vLLM needs one scheme for all experts and projections of a MoE layer");
  // fused siblings one format even for transformers
  x["model.layers.1.self_attn.k_proj"] = entry("MXFP8_E4M3");
  write_json(dir / "qkv_mix.json", x);
  expect_error("--weight-only --loader transformers --layer-config " + (dir / "qkv_mix.json").string(), out,
               "fused sibling");

  // kept counts differ across layers
  json pm = json::object();
  for (int l = 0; l < 4; ++l) {
    const int drop = l == 2 ? 2 : 1;
    json kept = json::array(), o2n = json::object(), pruned = json::array();
    for (int e = 0; e < 32; ++e)
      if (e < drop) pruned.push_back(e);
      else { o2n[std::to_string(e)] = static_cast<int>(kept.size()); kept.push_back(e); }
    pm["model.layers." + std::to_string(l) + ".block_sparse_moe.gate"] = {
        {"num_experts_orig", 32}, {"num_experts_kept", kept.size()}, {"pruned_expert_ids", pruned},
        {"kept_expert_ids", kept}, {"orig_to_new_eid", o2n}};
  }
  json lc2 = lc;
  for (int l = 0; l < 4; ++l)
    for (int e = 0; e < (l == 2 ? 2 : 1); ++e)
      for (const char* w : {"w1", "w2", "w3"})
        lc2.erase("model.layers." + std::to_string(l) + ".block_sparse_moe.experts." + std::to_string(e) + "." + w);
  write_json(dir / "pruned.json", lc2);
  write_json(dir / "pruned.json.prune.json", pm);
  expect_error("--weight-only --layer-config " + (dir / "pruned.json").string(), out,
               "every MoE layer must keep the same number");

  // a dropped expert still in the layer config (expert 0 dropped in every layer)
  json pm0 = json::object();
  for (int l = 0; l < 4; ++l) pm0["model.layers." + std::to_string(l) + ".block_sparse_moe.gate"] =
      pm["model.layers.0.block_sparse_moe.gate"];
  write_json(dir / "dropped_listed.json", lc);
  write_json(dir / "dropped_listed.json.prune.json", pm0);
  expect_error("--weight-only --layer-config " + (dir / "dropped_listed.json").string(), out, "drops");

  // W4A4 without calibration; GPTQ without calibration; options
  expect_error("--layer-config " + (dir / "ok.json").string(), out, "--calib");
  expect_error("--weight-only --rounding gptq --layer-config " + (dir / "ok.json").string(), out, "--calib");
  expect_error("--weight-only --rounding best --layer-config " + (dir / "ok.json").string(), out, "--rounding");
  expect_error("--weight-only --loader sglang --layer-config " + (dir / "ok.json").string(), out, "--loader");
  expect_error("--weight-only --layer-config " + (dir / "nope.json").string(), out, "nope.json");

  // an existing folder holding someone's files is not replaced
  fs::create_directories(out);
  std::ofstream(out / "notes.txt") << "mine";
  const auto r = run_cli("export --model " + model.string() + " --out " + out.string() + " --weight-only --layer-config " +
                         (dir / "ok.json").string());
  CHECK(r.code == 1);
  CHECK(r.out.find("notes.txt") != std::string::npos);
  CHECK(read_bytes(out / "notes.txt") == "mine");
}

TEST_CASE("export plan: FP8_SOURCE needs an FP8 block source", "[export]") {
  namespace pm = prismaquant::model;
  pm::model_description d;
  pm::linear_info l;
  l.name = "model.layers.0.self_attn.o_proj";
  l.vllm_name = l.name;
  l.kind = pm::linear_kind::attn_o;
  l.layer = 0;
  l.out_features = l.in_features = 256;
  l.source = pm::source_format::bf16;
  d.linears.push_back(l);
  prismaquant::allocate::layer_config lc;
  lc.linears[l.name] = {"FP8_SOURCE", 8, 128, "fp8_e4m3"};
  CHECK_THROWS_WITH(prismaquant::exporter::make_plan(d, lc, {}, prismaquant::exporter::loader::vllm, true, "lc.json", "pm"),
                    Catch::Contains("lc.json: \"model.layers.0.self_attn.o_proj\"") &&
                        Catch::Contains("FP8_SOURCE cannot be chosen for a BF16 source weight"));
  d.linears[0].source = pm::source_format::fp8_block128;
  CHECK_NOTHROW(prismaquant::exporter::make_plan(d, lc, {}, prismaquant::exporter::loader::vllm, true, "lc.json", "pm"));
}

TEST_CASE("export: --max-shard-bytes writes several shards and an index; same tensors, byte-identical rerun", "[export]") {
  const fs::path lc = golden / "nvfp4" / "layer_config.json";
  const fs::path one = scratch("shards_one"), a = scratch("shards_a"), b = scratch("shards_b");
  for (const auto& [out, extra] : {std::pair{one, std::string()}, std::pair{a, std::string(" --max-shard-bytes 1000000")},
                                   std::pair{b, std::string(" --max-shard-bytes 1e6")}}) {
    const auto r = run_cli("export --weight-only --model " + model.string() + " --layer-config " + lc.string() + " --out " +
                           out.string() + extra);
    INFO(r.out);
    REQUIRE(r.code == 0);
  }
  CHECK(fs::exists(one / "model.safetensors"));
  CHECK_FALSE(fs::exists(one / "model.safetensors.index.json"));
  const json idx = read_json(a / "model.safetensors.index.json");
  std::set<std::string> shards;
  for (const auto& [t, f] : idx["weight_map"].items()) shards.insert(f.get<std::string>());
  REQUIRE(shards.size() >= 8);  // ~8.1 MB of tensors in shards of at most 1 MB
  std::uintmax_t tensor_bytes = 0;
  std::size_t n = 0;
  for (const auto& f : shards) {
    INFO(f);
    CHECK(f.rfind("model-", 0) == 0);
    CHECK(f.find("-of-" + std::string(5 - std::to_string(shards.size()).size(), '0') + std::to_string(shards.size()) +
                 ".safetensors") != std::string::npos);
    // a shard over the limit only when one tensor alone is larger
    prismaquant::safetensors_file sf(a / f);
    std::uintmax_t largest = 0, sum = 0;
    for (const auto& v : sf.tensors()) {
      largest = std::max<std::uintmax_t>(largest, v.bytes.size());
      sum += v.bytes.size();
      CHECK(idx["weight_map"][std::string(v.name)] == f);
      ++n;
    }
    CHECK((sum <= 1'000'000 || sf.tensors().size() == 1));
    tensor_bytes += sum;
    CHECK(read_bytes(a / f) == read_bytes(b / f));  // 1e6 and 1000000 are the same limit: same bytes
  }
  CHECK(n == idx["weight_map"].size());
  CHECK(idx["metadata"]["total_size"].get<std::uintmax_t>() == tensor_bytes);
  CHECK(read_bytes(a / "model.safetensors.index.json") == read_bytes(b / "model.safetensors.index.json"));
  CHECK_FALSE(fs::exists(a / "model.safetensors"));
  // every tensor equals the single-file export's, byte for byte; the other files are the same
  prismaquant::checkpoint c1(one), cn(a);
  REQUIRE(c1.names().size() == cn.names().size());
  for (const auto& name : c1.names()) {
    const auto x = c1.tensor(name), y = cn.tensor(name);
    INFO(name);
    CHECK(x.type == y.type);
    CHECK(std::equal(x.bytes.begin(), x.bytes.end(), y.bytes.begin(), y.bytes.end()));
  }
  for (const char* f : {"config.json", "export_report.json", "generation_config.json"}) CHECK(read_bytes(one / f) == read_bytes(a / f));

  // re-exporting into the sharded folder with one file replaces the whole tree: no stale shard left
  const auto r = run_cli("export --weight-only --model " + model.string() + " --layer-config " + lc.string() + " --out " + a.string());
  REQUIRE(r.code == 0);
  for (const auto& de : fs::directory_iterator(a)) {
    INFO(de.path());
    CHECK(de.path().filename().string().rfind("model-", 0) != 0);
    CHECK(read_bytes(de.path()) == read_bytes(one / de.path().filename()));
  }
  CHECK_FALSE(fs::exists(a / "model.safetensors.index.json"));
}

TEST_CASE("export --calib: GPTQ on the sequential forward lowers the output error RTN leaves; RTN ignores calibration",
          "[export]") {
  const fs::path lc = scratch("gptq_lc") / "layer_config.json";
  write_json(lc, all_linears("NVFP4"));
  // the first 16 of the shipped calibration rows (256 tokens each): enough for XᵀX of full rank
  const fs::path calib_file = scratch("gptq_calib") / "calib16.bin";
  fs::create_directories(calib_file.parent_path());
  std::ofstream(calib_file, std::ios::binary) << read_bytes(model / "calib_tokens.bin").substr(0, 16 * 256 * 2);
  const std::string calib = calib_file.string();
  const std::string base = "export --quiet --weight-only --model " + model.string() + " --layer-config " + lc.string();
  const fs::path rtn = scratch("rtn"), rtn_cal = scratch("rtn_cal"), gptq = scratch("gptq"), gptq2 = scratch("gptq2");
  for (const auto& [out, flags] : std::vector<std::pair<fs::path, std::string>>{
           {rtn, ""},
           {rtn_cal, " --calib " + calib},
           {gptq, " --rounding gptq --calib " + calib},
           {gptq2, " --rounding gptq --calib " + calib + " --threads 1"}}) {
    const auto r = run_cli(base + " --out " + out.string() + flags);
    INFO(r.out);
    REQUIRE(r.code == 0);
  }
  // RTN's tensors do not depend on calibration; GPTQ's do not depend on the thread count.
  CHECK(read_bytes(rtn / "model.safetensors") == read_bytes(rtn_cal / "model.safetensors"));
  CHECK(read_bytes(gptq / "model.safetensors") == read_bytes(gptq2 / "model.safetensors"));
  CHECK(read_bytes(gptq / "model.safetensors") != read_bytes(rtn / "model.safetensors"));
  // Every Linear was calibrated (attention sees every token; an expert the tokens routed to it)
  // and GPTQ's output error tr(ΔW H ΔWᵀ) is below RTN's in total and for nearly every Linear.
  const json rep = read_json(gptq / "export_report.json")["linears"];
  REQUIRE(rep.size() == 400);
  double e_gptq = 0, e_rtn = 0;
  int lower = 0, calibrated = 0;
  for (const auto& [name, r] : rep.items()) {
    INFO(name);
    if (name.find("self_attn") != std::string::npos) CHECK(r["rows_seen"] == 16 * 256);
    if (r["rows_seen"].get<std::int64_t>() == 0) continue;
    ++calibrated;
    CHECK(r["rounding"] == "gptq");
    e_gptq += r["output_error"].get<double>();
    e_rtn += r["output_error_rtn"].get<double>();
    lower += r["output_error"].get<double>() <= r["output_error_rtn"].get<double>();
  }
  CHECK(calibrated >= 360);
  CHECK(e_gptq < 0.9 * e_rtn);
  CHECK(lower >= calibrated * 95 / 100);
  WARN("GPTQ vs RTN output error, " << calibrated << " calibrated Linears: " << e_gptq << " vs " << e_rtn << " ("
                                    << lower << " lower)");
  // W4A4 NVFP4 stores each Linear's input_global_scale, from the calibration inputs' amax.
  const fs::path w4a4 = scratch("w4a4");
  const auto r = run_cli("export --quiet --model " + model.string() + " --layer-config " + lc.string() + " --out " +
                         w4a4.string() + " --calib " + calib);
  INFO(r.out);
  REQUIRE(r.code == 0);
  const json cfg = read_json(w4a4 / "config.json");
  CHECK(cfg["quantization_config"]["config_groups"].contains("NVFP4"));
  const std::string st = read_bytes(w4a4 / "model.safetensors");
  CHECK(st.find("model.layers.0.self_attn.q_proj.input_global_scale") != std::string::npos);
}

TEST_CASE("export --eval: the loss of exactly the weights written; with RTN, the simulated model's loss", "[export]") {
  const fs::path lc = scratch("eval_lc") / "layer_config.json";
  write_json(lc, all_linears("NVFP4"));
  const fs::path out = scratch("eval_ckpt"), res = scratch("eval_res") / "loss.json";
  fs::create_directories(res.parent_path());
  const std::string tokens = (model / "eval_tokens.bin").string();
  const auto r = run_cli("export --quiet --weight-only --model " + model.string() + " --layer-config " + lc.string() +
                         " --out " + out.string() + " --eval " + tokens + " --domains code,prose,math --eval-out " +
                         res.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("held-out loss of the exported weights"));
  const json got = read_json(res);
  const auto sim = run_cli("eval --quiet --json --model " + model.string() + " --tokens " + tokens +
                           " --domains code,prose,math --layer-config " + lc.string());
  INFO(sim.out);
  REQUIRE(sim.code == 0);
  const json want = json::parse(sim.out.substr(sim.out.find('{')));
  // NVFP4's round trip (the allocation's) and CT's NVFP4A16 encoding (the export's) store the
  // same codes and scales: the two models are the same model.
  CHECK(got["loss"].get<double>() == Approx(want["loss"].get<double>()).epsilon(1e-12));
  for (const char* d : {"code", "prose", "math"}) CHECK(got["domains"][d].get<double>() == Approx(want["domains"][d].get<double>()).epsilon(1e-12));
  CHECK(got["rounding"] == "rtn");

  // The same tokens as uint32 ids (--token-dtype uint32, as vocabularies beyond 65536 need):
  // the same loss.
  const fs::path t32 = scratch("eval_t32") / "eval_tokens_u32.bin";
  fs::create_directories(t32.parent_path());
  {
    std::ifstream in(tokens, std::ios::binary);
    std::ofstream o(t32, std::ios::binary);
    for (std::uint16_t id; in.read(reinterpret_cast<char*>(&id), 2);) {
      const std::uint32_t wide = id;
      o.write(reinterpret_cast<const char*>(&wide), 4);
    }
  }
  const fs::path res32 = scratch("eval_res32") / "loss.json";
  fs::create_directories(res32.parent_path());
  const auto r32 = run_cli("export --quiet --weight-only --model " + model.string() + " --layer-config " + lc.string() +
                           " --out " + scratch("eval_ckpt32").string() + " --eval " + t32.string() +
                           " --token-dtype uint32 --domains code,prose,math --eval-out " + res32.string());
  INFO(r32.out);
  REQUIRE(r32.code == 0);
  CHECK(read_json(res32)["loss"].get<double>() == got["loss"].get<double>());
}

TEST_CASE("eval of an export reads it as stored: the real client's numbers on our weights; the simulated model", "[export][eval]") {
  // client.json's eval_loss_f32 / logits_f32.safetensors: transformers + compressed-tensors
  // running the export with prismaquant's float32 dequantized weights and activation
  // fake-quantization off; eval_loss_f32_act / logits_f32_act.safetensors: with it on (the
  // stock client quantizes attention inputs only: compared where experts have no input
  // activations); eval_loss_f32_act_all / logits_f32_act_all.safetensors: expert inputs
  // quantized too, by compressed-tensors' forward_quantize per expert (the gptq case).
  // python/golden/make_export_golden.py. Measured with --act-quant off: logits within 1.1e-5,
  // losses within 2e-6. With it on, each quantizer is bit-exact to CT's fake-quantize on the
  // same input, but the inputs differ in the last float bit (summation order) and a 4-bit
  // quantizer turns a few of those into a whole step: logits within 3.7e-3, losses within
  // 1.2e-5, and the loss the activation quantization adds within 0.6 % of the client's.
  const std::string tokens = (model / "eval_tokens.bin").string();
  for (const char* c : {"nvfp4", "mixed_pruned", "experts_mixed", "attn_w_a", "gptq", "gptq_nvfp4"}) {
    INFO(c);
    const fs::path in = golden / c;
    if (!client_comparable(c)) continue;
    const fs::path out = scratch(std::string(c) + "_eval");
    const auto r = run_cli("export --quiet --model " + model.string() + " --layer-config " + (in / "layer_config.json").string() +
                           " --out " + out.string() + " " + golden_flags(c));
    INFO(r.out);
    REQUIRE(r.code == 0);
    // "on" is compared where the client quantized every input the export's schemes name: the
    // stock path (attention only) when experts have no input activations, or the client with
    // expert inputs quantized too (client.json "eval_loss_f32_act_all")
    const json cj = read_json(in / "client.json");
    const bool experts_act = cj.contains("eval_loss_f32_act_all");
    const bool client_quantizes_all =
        std::string(c) == "nvfp4" || std::string(c) == "gptq_nvfp4" || std::string(c) == "attn_w_a" || experts_act;
    const std::string act_key = experts_act ? "eval_loss_f32_act_all" : "eval_loss_f32_act";
    const std::string act_logits = experts_act ? "logits_f32_act_all.safetensors" : "logits_f32_act.safetensors";
    std::map<std::string, double> loss;
    for (const std::string act : {"off", "on"}) {
      INFO("--act-quant " << act);
      if (act == "on" && !client_quantizes_all) continue;
      const fs::path logits = scratch(std::string(c) + "_logits_" + act + ".safetensors");
      const auto e = run_cli("eval --quiet --json --model " + out.string() + " --tokens " + tokens +
                             " --domains code,prose,math --act-quant " + act + " --logits-out " + logits.string());
      INFO(e.out);
      REQUIRE(e.code == 0);
      const json got = json::parse(e.out.substr(e.out.find('{')));
      const json want = cj[act == "on" ? act_key : "eval_loss_f32"];
      const double tol = act == "on" ? 5e-5 : 1e-5;
      loss[act] = got["loss"].get<double>();
      CHECK(std::abs(got["loss"].get<double>() - want["all"].get<double>()) < tol);
      for (const char* d : {"code", "prose", "math"})
        CHECK(std::abs(got["domains"][d].get<double>() - want[d].get<double>()) < tol);

      const prismaquant::checkpoint mine(logits), theirs(in / (act == "on" ? act_logits : "logits_f32.safetensors"));
      const auto a = mine.tensor("logits").to_vector<float>(), b = theirs.tensor("logits").to_vector<float>();
      const auto shape = mine.tensor("logits").shape;
      REQUIRE(std::vector<std::uint64_t>(shape.begin(), shape.end()) == std::vector<std::uint64_t>{1, 256, 260});
      REQUIRE(a.size() == b.size());
      float worst = 0;
      for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
      CHECK(worst < (act == "on" ? 2e-2f : 1e-4f));
    }
    if (client_quantizes_all) {  // what activation quantization costs, ours against the client's
      const double theirs = cj[act_key]["all"].get<double>() - cj["eval_loss_f32"]["all"].get<double>();
      const double ours = loss["on"] - loss["off"];
      if (std::string(c) == "nvfp4" || std::string(c) == "gptq_nvfp4") CHECK(ours == 0.0);  // NVFP4A16: nothing to quantize
      else CHECK(std::abs(ours - theirs) < 0.02 * std::abs(theirs));
    }

    if (std::string(c) == "nvfp4") {  // (c) the simulated model: the round trip of the same layer config
      const auto e = run_cli("eval --quiet --json --model " + out.string() + " --tokens " + tokens);
      const auto sim = run_cli("eval --quiet --json --model " + model.string() + " --tokens " + tokens +
                               " --layer-config " + (in / "layer_config.json").string());
      REQUIRE(e.code == 0);
      REQUIRE(sim.code == 0);
      const json got = json::parse(e.out.substr(e.out.find('{'))), s = json::parse(sim.out.substr(sim.out.find('{')));
      CHECK(got["loss"].get<double>() == Approx(s["loss"].get<double>()).epsilon(1e-12));
    }
  }
}

TEST_CASE("eval --layer-config --act-quant on: the simulated model serves activations as its weight-only export",
          "[export][eval]") {
  // attn_w_a's attention: NVFP4, FP8 blocks, MXFP4, MXFP8 and FP8 per channel; experts BF16. Each
  // entry is restated as the format the weight-only export stores (NVFP4A16, the MX formats
  // with compressed-tensors' scale rule), so the round trip on the source is the stored weight;
  // the MX and FP8 inputs are quantized dynamically when served, NVFP4A16's are not.
  const fs::path lc = scratch("act_sim_layer_config.json"), out = scratch("act_sim_export");
  json lcj = read_json(golden / "attn_w_a" / "layer_config.json");
  for (auto& [m, e] : lcj.items())
    e = prismaquant::allocate::layer_config_entry(
        prismaquant::formats::find(prismaquant::exporter::stored_format(e["fmt"].get<std::string>(), true, m)));
  write_json(lc, lcj);
  const auto x = run_cli("export --quiet --weight-only --model " + model.string() + " --layer-config " + lc.string() +
                         " --out " + out.string());
  REQUIRE(x.code == 0);
  const std::string tokens = (model / "eval_tokens.bin").string();
  auto loss = [&](const std::string& args) {
    const auto r = run_cli("eval --quiet --json --tokens " + tokens + " " + args);
    INFO(r.out);
    REQUIRE(r.code == 0);
    return json::parse(r.out.substr(r.out.find('{')))["loss"].get<double>();
  };
  const double served = loss("--model " + out.string());  // the export, activations as served (default)
  const double sim_on = loss("--model " + model.string() + " --layer-config " + lc.string() + " --act-quant on");
  const double sim_off = loss("--model " + model.string() + " --layer-config " + lc.string());  // default: weights alone
  const double weights = loss("--model " + out.string() + " --act-quant off");
  CHECK(sim_on == Approx(served).epsilon(1e-12));
  CHECK(sim_off == Approx(weights).epsilon(1e-12));
  CHECK(std::abs(sim_on - sim_off) > 1e-4);  // the activations' own cost is visible
}

TEST_CASE("an export is read only by eval: other uses are one-line errors", "[export][eval]") {
  const fs::path out = scratch("readonly_export");
  const auto r = run_cli("export --quiet --weight-only --model " + model.string() + " --layer-config " +
                         (golden / "nvfp4" / "layer_config.json").string() + " --out " + out.string());
  REQUIRE(r.code == 0);
  const std::string tokens = (model / "eval_tokens.bin").string();
  const auto lc = run_cli("eval --quiet --model " + out.string() + " --tokens " + tokens + " --layer-config " +
                          (golden / "nvfp4" / "layer_config.json").string());
  INFO(lc.out);
  CHECK(lc.code == 1);
  CHECK_THAT(lc.out, Catch::Contains("compressed-tensors checkpoint, already quantized"));
  const fs::path stats = scratch("readonly_stats.json");
  const auto p = run_cli("probe --quiet --model " + out.string() + " --calib " + tokens + " --out " + stats.string());
  INFO(p.out);
  CHECK(p.code == 1);
  CHECK_THAT(p.out, Catch::Contains("is stored compressed"));
  CHECK(std::count(p.out.begin(), p.out.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(stats));
}

TEST_CASE("eval of an export: schemes it cannot read or simulate are one-line errors naming the Linear", "[export][eval]") {
  const fs::path out = scratch("scheme_errors");
  REQUIRE(run_cli("export --quiet --weight-only --model " + model.string() + " --layer-config " +
                  (golden / "nvfp4" / "layer_config.json").string() + " --out " + out.string())
              .code == 0);
  const std::string tokens = (model / "eval_tokens.bin").string();
  const json original = read_json(out / "config.json");
  auto eval_with = [&](const std::function<void(json&)>& edit, const std::string& flags) {
    json cfg = original;
    edit(cfg["quantization_config"]);
    std::ofstream(out / "config.json") << cfg.dump(1);
    return run_cli("eval --quiet --model " + out.string() + " --tokens " + tokens + " " + flags);
  };
  auto one_line = [](const pq_test::cli_result& r, const std::string& must) {
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    CHECK_THAT(r.out, Catch::Contains(must));
  };
  // input activations no simulation covers (static int8 per tensor): an error, unless off
  const auto int8_inputs = [](json& q) {
    q["config_groups"]["NVFP4A16"]["input_activations"] = {{"num_bits", 8}, {"type", "int"}, {"strategy", "tensor"},
                                                           {"dynamic", false}, {"symmetric", true}};
  };
  one_line(eval_with(int8_inputs, ""), "cannot be simulated");
  CHECK(eval_with(int8_inputs, "--act-quant off").code == 0);
  // a weight scheme no format stores
  one_line(eval_with([](json& q) { q["config_groups"]["NVFP4A16"]["format"] = "pack-quantized"; }, ""),
           "is not a scheme prismaquant decodes");
  // a known format string whose weight arguments no preset has (NVFP4 in groups of 32)
  one_line(eval_with([](json& q) { q["config_groups"]["NVFP4A16"]["weights"]["group_size"] = 32; }, ""),
           "is not a scheme prismaquant decodes");
  // per-tensor FP8 (no preset: decoded as FP8 per tensor), on tensors that are NVFP4's: the missing one is named
  one_line(eval_with([](json& q) {
             auto& w = q["config_groups"]["NVFP4A16"]["weights"];
             q["config_groups"]["NVFP4A16"]["format"] = "float-quantized";
             w["num_bits"] = 8, w["strategy"] = "tensor", w["group_size"] = nullptr;
           }, ""),
           "(the FP8_E4M3_TENSOR scheme stores it)");
  // a compressed Linear no group targets, or one the ignore list names
  one_line(eval_with([](json& q) { q["config_groups"]["NVFP4A16"]["targets"] = json::array({"re:^lm_head$"}); }, ""),
           "no quantization_config group targets it");
  one_line(eval_with([](json& q) { q["ignore"].push_back("model.layers.0.self_attn.q_proj"); }, ""),
           "model.layers.0.self_attn.q_proj: is stored compressed but quantization_config ignores it");
  // no quantization_config at all
  {
    json cfg = original;
    cfg.erase("quantization_config");
    std::ofstream(out / "config.json") << cfg.dump(1);
    one_line(run_cli("eval --quiet --model " + out.string() + " --tokens " + tokens), "no quantization_config");
  }
}

TEST_CASE("export --eval of a W4A4 export: the loss eval reads back, activations as served or not", "[export][eval]") {
  const fs::path in = golden / "attn_w_a";
  const std::string tokens = (model / "eval_tokens.bin").string();
  std::map<std::string, double> loss;
  for (const std::string act : {"on", "off"}) {
    const fs::path out = scratch("w4a4_eval_" + act), res = scratch("w4a4_eval_" + act + ".json");
    const auto r = run_cli("export --quiet --model " + model.string() + " --layer-config " + (in / "layer_config.json").string() +
                           " --out " + out.string() + " " + golden_flags("attn_w_a") + " --eval " + tokens +
                           " --act-quant " + act + " --eval-out " + res.string());
    INFO(r.out);
    REQUIRE(r.code == 0);
    const json got = read_json(res);
    CHECK(got["act_quant"] == act);
    const auto e = run_cli("eval --quiet --json --model " + out.string() + " --tokens " + tokens + " --act-quant " + act);
    REQUIRE(e.code == 0);
    CHECK(json::parse(e.out.substr(e.out.find('{')))["loss"].get<double>() == got["loss"].get<double>());
    loss[act] = got["loss"].get<double>();
  }
  // the client's own measure of what the activation quantization costs here: +0.0010679
  const json cj = read_json(in / "client.json");
  const double theirs = cj["eval_loss_f32_act"]["all"].get<double>() - cj["eval_loss_f32"]["all"].get<double>();
  CHECK(std::abs((loss["on"] - loss["off"]) - theirs) < 0.02 * theirs);
}
