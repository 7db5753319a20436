// The error contract of every `prismaquant` command, table-driven: each bad input (argument,
// option value, file) must give exit 1 and exactly one line
//   prismaquant: error: <file, option or object>: <problem>
// containing the expected words, and must write nothing: the sandbox (models, earlier outputs)
// is byte-for-byte the same afterwards, with no new entry (no partial set, no staging folder).
// docs/errors.md lists what each command rejects; the counts per command are printed at the end.
#include <prismaquant/io/safetensors.hpp>
#include <prismaquant/model/synthetic.hpp>
#include <prismaquant/solvers/json.hpp>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"
#include "test_allocate_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
namespace pq = prismaquant;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
void put(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

// Every entry under `d` (hidden ones included) with its bytes ("/" for a folder).
std::map<std::string, std::string> snapshot(const fs::path& d) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(d))
    m[fs::relative(e.path(), d).string()] = e.is_directory() ? "/" : slurp(e.path());
  return m;
}

// Overwrites one byte of a tensor inside a safetensors file.
void patch_byte(const fs::path& file, const std::string& tensor, std::size_t index, std::uint8_t value) {
  std::uint64_t at = 0;
  {
    pq::safetensors_file f(file);
    const auto* e = f.header().find(tensor);
    REQUIRE(e);
    at = f.header().data_offset() + e->begin + index;
  }
  std::fstream s(file, std::ios::in | std::ios::out | std::ios::binary);
  s.seekp(static_cast<std::streamoff>(at));
  s.put(static_cast<char>(value));
}

struct sandbox {
  fs::path dir = fs::temp_directory_path() / ("pq_bad_input_" + std::to_string(::getpid()));
  std::string model, nan_model, ff_model, stats, costs, problem;
  sandbox() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    pq::model::synthetic_minimax_options o;
    o.hidden = 256, o.layers = 1, o.heads = 4, o.kv_heads = 2, o.head_dim = 64, o.experts = 4, o.top_k = 2;
    o.intermediate = 128, o.vocab = 300, o.max_shard_bytes = 200'000;
    pq::model::write_synthetic_minimax(dir / "model", o);
    model = (dir / "model").string();
    // The same checkpoint with one FP8 NaN code (0x7F, then 0xFF) in o_proj's weight.
    const std::string o_proj = "model.layers.0.self_attn.o_proj.weight";
    for (auto [name, code] : {std::pair{"nan_model", 0x7F}, std::pair{"ff_model", 0xFF}}) {
      fs::copy(dir / "model", dir / name);
      pq::checkpoint ck(dir / name);
      patch_byte(ck.file_of(o_proj), o_proj, 3 * 256 + 5, static_cast<std::uint8_t>(code));
    }
    {  // and one with a NaN block scale (F32 0x7FC00000, little-endian)
      fs::copy(dir / "model", dir / "scale_nan_model");
      pq::checkpoint ck(dir / "scale_nan_model");
      const std::string s = "model.layers.0.self_attn.o_proj.weight_scale_inv";
      patch_byte(ck.file_of(s), s, 2, 0xC0);
      patch_byte(ck.file_of(s), s, 3, 0x7F);
    }
    nan_model = (dir / "nan_model").string();
    ff_model = (dir / "ff_model").string();
    auto m = fixture::make(7, 1, 6, 2);
    pq::stats::write_stats(dir / "stats.json", m.stats);
    pq::stats::write_costs(dir / "costs.json", m.costs);
    stats = (dir / "stats.json").string();
    costs = (dir / "costs.json").string();
    pq::solvers::problem p;
    p.items.push_back({"a", 100, {{"NVFP4", 56, 0.5, {}}, {"BF16", 200, 0.0, {}}}});
    put(dir / "problem.json", pq::solvers::problem_to_json(p).dump());
    problem = (dir / "problem.json").string();
  }
  ~sandbox() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  std::string file(const std::string& name, const std::string& text) const {
    put(dir / name, text);
    return path(name);
  }
};

struct bad_case {
  std::string args;                // after "prismaquant "
  std::vector<std::string> words;  // each must appear in the error line
};

std::map<std::string, int>& counts() {
  static std::map<std::string, int> c;
  return c;
}

void expect_rejected(const sandbox& sb, const std::vector<bad_case>& cases) {
  for (const auto& c : cases) {
    const auto before = snapshot(sb.dir);
    const auto r = pq_test::run_cli(c.args);
    INFO("prismaquant " << c.args << "\n" << r.out);
    CHECK(r.code == 1);
    // The error is one line, the last; progress lines of a long stage may come before it.
    REQUIRE_THAT(r.out, Catch::EndsWith("\n"));
    const auto start = r.out.rfind('\n', r.out.size() - 2);
    const std::string line = r.out.substr(start == std::string::npos ? 0 : start + 1);
    CHECK_THAT(line, Catch::StartsWith("prismaquant: error: "));
    CHECK(r.out.find("prismaquant: error: ") == r.out.size() - line.size());
    for (const auto& w : c.words) CHECK_THAT(line, Catch::Contains(w));
    CHECK(snapshot(sb.dir) == before);  // nothing written, nothing left behind
    ++counts()[c.args.substr(0, c.args.find(' '))];
  }
}

}  // namespace

TEST_CASE("every command: bad input is one line, exit 1, nothing written") {
  const sandbox sb;
  const std::string m = sb.model, st = sb.stats, co = sb.costs, pr = sb.problem;
  const std::string out_dir = sb.path("out"), out_file = sb.path("out.json");
  // Earlier outputs that failed runs must leave exactly as they are.
  fs::create_directories(sb.dir / "prev");
  put(sb.dir / "prev" / "cost.json", "earlier costs");
  put(sb.dir / "prev" / "cost.safetensors", "earlier side file");
  put(sb.dir / "prev" / "layer_config.json", "earlier allocation");
  put(sb.dir / "prev" / "layer_config.json.prune.json", "{}");
  fs::create_directories(sb.dir / "prev_blocked" / "pareto.csv");  // publishing would fail on this name
  put(sb.dir / "prev_blocked" / "layer_config.json", "earlier allocation");
  fs::create_directories(sb.dir / "foreign");
  put(sb.dir / "foreign" / "notes.txt", "someone's");

  // Files with one thing wrong each.
  auto fx = fixture::make(7, 1, 6, 2, true, {"NVFP4", "BF16"});
  pq::stats::write_costs(sb.dir / "costs_no_mx.json", fx.costs);
  auto f5 = fixture::make(7, 1, 6, 2);
  for (auto& [n, l] : f5.costs.linears) l.formats["NVFP5"] = l.formats.at("NVFP4");
  pq::stats::write_costs(sb.dir / "costs_nvfp5.json", f5.costs);
  auto fa = fixture::make(7, 1, 6, 2);
  for (auto& [n, l] : fa.costs.linears)
    for (auto& [f, c] : l.formats) c.act_sse.reset();
  pq::stats::write_costs(sb.dir / "costs_no_act.json", fa.costs);
  auto fg = fixture::make(7, 1, 6, 2);
  fg.costs.linears["model.ghost"] = fg.costs.linears.begin()->second;
  fg.costs.linears["model.ghost"].name = "model.ghost";
  pq::stats::write_costs(sb.dir / "costs_ghost.json", fg.costs);
  auto fs_ = fixture::make(7, 1, 6, 2);
  fs_.stats.linears.erase(fs_.stats.linears.begin());
  pq::stats::write_stats(sb.dir / "stats_missing_linear.json", fs_.stats);
  const std::string overflow = sb.file("overflow.json", R"({"items": [{"name": "a", "n_params": 1e309, "candidates": []}]})");
  const std::string nan_problem =
      sb.file("nan.json", R"({"items": [{"name": "a", "n_params": 1, "candidates": [{"fmt": "X", "memory_bytes": 1, "dloss": NaN}]}]})");
  const std::string garbage = sb.file("garbage.safetensors", "not a safetensors file at all");
  const std::string wrong_doc = sb.file("wrong_doc.json", R"({"format": "prismaquant.costs", "version": 1, "linears": {}})");
  const std::string version_huge = sb.file("version_huge.json", R"({"format": "prismaquant.stats", "version": 1e300})");
  // cost --stats for the synthetic model: lacking a Linear, and lacking xtx_diag
  {
    pq::stats::model_stats s;
    pq::stats::linear_stats l;
    l.name = "model.layers.0.self_attn.q_proj", l.out_features = 256, l.in_features = 256, l.rows_seen = 1;
    l.source_dtype = pq::dtype::F8_E4M3;
    s.linears[l.name] = l;
    pq::stats::write_stats(sb.dir / "stats_cost_no_xtx.json", s);
    s.linears[l.name].xtx_diag.assign(256, 1.0);
    pq::stats::write_stats(sb.dir / "stats_cost_one.json", s);
  }
  // quantize: F32 weights with a NaN and an Inf
  for (auto [name, v] : {std::pair{"w_nan.safetensors", std::nanf("")}, std::pair{"w_inf.safetensors", -INFINITY}}) {
    std::vector<float> w(32 * 64, 0.25f);
    w[5 * 64 + 9] = v;
    pq::checkpoint_writer_options o;
    o.single_file = true;
    pq::checkpoint_writer wr(sb.dir / name, o);
    wr.add(pq::tensor_spec{"layer.weight", pq::dtype::F32, {32, 64}}, std::as_bytes(std::span<const float>(w)));
    wr.finish();
  }
  const std::string w_nan = sb.path("w_nan.safetensors"), w_inf = sb.path("w_inf.safetensors");
  // export: layer configs for the synthetic models (sb.model: 1 layer; model2: 2 layers), all
  // NVFP4 with one thing changed each, and a prune manifest keeping 3 experts in layer 0, 2 in layer 1
  {
    pq::model::synthetic_minimax_options o;
    o.hidden = 256, o.layers = 2, o.heads = 4, o.kv_heads = 2, o.head_dim = 64, o.experts = 4, o.top_k = 2;
    o.intermediate = 128, o.vocab = 300, o.max_shard_bytes = 200'000;
    pq::model::write_synthetic_minimax(sb.dir / "model2", o);
  }
  using njson = nlohmann::json;
  const njson nvfp4 = {{"bits", 4}, {"group_size", 16}, {"data_type", "nv_fp"}, {"fmt", "NVFP4"}};
  const njson mxfp8 = {{"bits", 8}, {"group_size", 32}, {"data_type", "mx_fp"}, {"fmt", "MXFP8_E4M3"}};
  auto lc_all = [&](int layers, const std::vector<std::pair<int, int>>& drop) {  // (layer, expert) dropped
    njson j = njson::object();
    for (int l = 0; l < layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      for (const char* x : {"q", "k", "v", "o"}) j[p + "self_attn." + x + "_proj"] = nvfp4;
      for (int e = 0; e < 4; ++e)
        if (std::find(drop.begin(), drop.end(), std::pair{l, e}) == drop.end())
          for (const char* w : {"w1", "w2", "w3"}) j[p + "block_sparse_moe.experts." + std::to_string(e) + "." + w] = nvfp4;
    }
    return j;
  };
  const std::string e_lc = sb.file("e_lc.json", lc_all(1, {}).dump());
  njson j = lc_all(1, {});
  j["model.layers.7.self_attn.q_proj"] = nvfp4;
  const std::string e_ghost = sb.file("e_ghost.json", j.dump());
  j = lc_all(1, {});
  j["model.layers.0.self_attn.o_proj"] = {{"bits", 5}, {"group_size", 16}, {"data_type", "nv_fp"}, {"fmt", "NVFP5"}};
  const std::string e_nvfp5 = sb.file("e_nvfp5.json", j.dump());
  j = lc_all(1, {});
  j["model.layers.0.self_attn.o_proj"] = {{"bits", 3}, {"group_size", 7}, {"data_type", "int"}};
  const std::string e_int3 = sb.file("e_int3.json", j.dump());
  j = lc_all(1, {});
  j["model.layers.0.self_attn.k_proj"] = mxfp8;
  const std::string e_qkv = sb.file("e_qkv.json", j.dump());
  j = lc_all(1, {});
  j["model.layers.0.block_sparse_moe.experts.2.w2"] = mxfp8;
  const std::string e_moe = sb.file("e_moe.json", j.dump());
  j = lc_all(1, {});
  j["model.layers.0.block_sparse_moe.gate"] = nvfp4;
  const std::string e_router = sb.file("e_router.json", j.dump());
  const std::string e_broken = sb.file("e_broken.json", "{\"model.layers.0.self_attn.q_proj\": {\"bits\": 4,");
  const std::string e_pruned = sb.file("e_pruned.json", lc_all(2, {{0, 3}, {1, 2}, {1, 3}}).dump());
  {
    njson pm = njson::object();
    for (int l = 0; l < 2; ++l) {
      njson kept = njson::array(), o2n = njson::object(), pruned = njson::array();
      for (int e = 0; e < 4; ++e)
        if (e >= 3 - l) pruned.push_back(e);
        else o2n[std::to_string(e)] = static_cast<int>(kept.size()), kept.push_back(e);
      pm["model.layers." + std::to_string(l) + ".block_sparse_moe.gate"] = {
          {"num_experts_orig", 4}, {"num_experts_kept", kept.size()}, {"pruned_expert_ids", pruned},
          {"kept_expert_ids", kept}, {"orig_to_new_eid", o2n}};
    }
    sb.file("e_pruned.json.prune.json", pm.dump());
    njson ghost = njson::object();
    ghost["model.layers.5.block_sparse_moe.gate"] = pm["model.layers.0.block_sparse_moe.gate"];
    sb.file("e_pm_ghost.json", ghost.dump());
  }
  const std::string ex = "export --weight-only --model " + m + " --out " + out_dir + " --layer-config ";

  const std::string a_io = "allocate --stats " + st + " --costs " + co + " ";
  const std::string fit_header = "saliency,alpha_single,alpha_sets,alpha_given\n";
  const std::string fit_bad = sb.file("alpha_fit_bad.csv", "saliency,alpha\nreap_dropout,0.1\n");
  const std::string fit_nan = sb.file("alpha_fit_nan.csv", fit_header + "reap,1e-4,2e-4,0.15\nreap_dropout,5e-6,nan,0.15\n");
  const std::string fit_short = sb.file("alpha_fit_short.csv", fit_header + "reap_dropout,5e-6\n");
  // probe / eval / merge: the tiny Qwen3-MoE model (vocab 260), a copy of it with a BF16 NaN in
  // layer 1's post-attention norm, and token files of 4 rows x 16 with one thing wrong each.
  const fs::path qwen_src = fs::path(PQ_SOURCE_DIR) / "models" / "qwen3-moe-tiny";
  fs::copy(qwen_src, sb.dir / "qwen");
  fs::copy(qwen_src, sb.dir / "qwen_nan");
  patch_byte(sb.dir / "qwen_nan" / "model.safetensors", "model.layers.1.post_attention_layernorm.weight", 2 * 7, 0xC0);
  patch_byte(sb.dir / "qwen_nan" / "model.safetensors", "model.layers.1.post_attention_layernorm.weight", 2 * 7 + 1, 0x7F);
  auto token_file = [&](const std::string& name, std::vector<std::uint16_t> ids, std::size_t bytes) {
    ids.resize(64, 65);
    put(sb.dir / name, std::string(reinterpret_cast<const char*>(ids.data()), bytes));
    return sb.path(name);
  };
  const std::string qwen = sb.path("qwen"), tok = token_file("tok.bin", {}, 128);
  const std::string tok_short = token_file("tok_short.bin", {}, 100);  // 100 bytes: not whole rows of 16 tokens
  std::vector<std::uint16_t> oov(64, 65);
  oov[16 + 3] = 260;  // row 1, position 3: the vocabulary is 0..259
  const std::string tok_oov = token_file("tok_oov.bin", oov, 128);
  const std::string p_run = "probe --quiet --seq-len 16 --model ";
  const std::string e_run = "eval --quiet --seq-len 16 --model ";
  const std::string pl_run = "pipeline --quiet --seq-len 16 --model " + qwen + " --calib " + tok + " --eval " + tok + " --out " + out_dir;
  const std::string v_run = "validate --quiet --seq-len 16 --model " + m + " --stats " + st + " --costs " + co + " --eval " + tok +
                            " --out " + out_dir;
  pq::stats::model_stats part;
  part.shards = {"0/2"};
  pq::stats::write_stats(sb.dir / "part.json", part);

  expect_rejected(sb, {
      // argument parsing, any command
      {"", {"subcommand: missing", "cost", "solve"}},
      {"bogus", {"bogus: unknown subcommand", "allocate"}},
      {"inspect --model " + m + " --bogus", {"--bogus", "unexpected argument"}},
      {"inspect --model", {"--model"}},
      // inspect
      {"inspect", {"--model: is required"}},
      {"inspect --model " + sb.path("nowhere"), {"--model", "nowhere", "no such file or folder"}},
      {"inspect --model " + garbage, {"garbage.safetensors"}},
      {"inspect --model " + sb.path("foreign"), {"foreign"}},
      // cost
      {"cost --quiet --model " + sb.nan_model + " --out " + sb.path("prev/cost.json"),
       {"model.layers.0.self_attn.o_proj.weight", "NaN at [3, 5]"}},
      {"cost --quiet --model " + sb.ff_model + " --formats BF16 --out " + out_file, {"o_proj.weight", "NaN at [3, 5]"}},
      {"cost --quiet --model " + sb.path("scale_nan_model") + " --out " + out_file,
       {"o_proj.weight_scale_inv", "NaN at [0, 0]"}},
      {"cost --quiet --model " + m + " --out " + sb.path("prev"), {"--out", "prev", "is a folder"}},
      {"cost --quiet --model " + m + " --out " + sb.path("prev/cost.safetensors"), {"--out", "costs file is JSON"}},
      {"cost --quiet --model " + m + " --formats NVFP5 --out " + out_file, {"--formats", "unknown format \"NVFP5\""}},
      {"cost --quiet --model " + m + " --formats NVFP4,NVFP4 --out " + out_file, {"--formats", "twice"}},
      {"cost --quiet --model " + m + " --formats , --out " + out_file, {"--formats", "empty list"}},
      {"cost --quiet --model " + m + " --formats all,NVFP4 --out " + out_file, {"--formats", "\"all\""}},
      {"cost --quiet --model " + m + " --formats MXFP4_RCEIL --out " + out_file, {"--formats", "not measured by the cost pass"}},
      {"cost --quiet --model " + sb.path("nowhere") + " --out " + out_file, {"--model", "no such file or folder"}},
      {"cost --quiet --model " + m, {"--out: is required"}},
      {"cost --quiet --model " + m + " --out " + out_file + " --proxies act_weighted --stats " + sb.path("missing.json"), {"--stats", "missing.json", "no such file"}},
      {"cost --quiet --model " + m + " --out " + out_file + " --proxies act_weighted --stats " + sb.path("stats_cost_one.json"),
       {"stats_cost_one.json", "no statistics for Linear"}},
      {"cost --quiet --model " + m + " --out " + out_file + " --proxies act_weighted --stats " + sb.path("stats_cost_no_xtx.json"),
       {"stats_cost_no_xtx.json", "model.layers.0.self_attn.q_proj", "no xtx_diag"}},
      {"cost --quiet --model " + m + " --out " + out_file + " --proxies act_weighted --stats " + wrong_doc, {"wrong_doc.json", "\"format\" must be \"prismaquant.stats\""}},
      {"cost --quiet --model " + m + " --out " + out_file + " --proxies act_weighted --stats " + version_huge, {"version_huge.json", "version"}},
      // quantize
      {"quantize --format NVFP5 --in " + w_nan + " --out " + out_file, {"--format", "unknown value \"NVFP5\""}},
      {"quantize --format NVFP4 --in " + w_nan + " --out " + out_file, {"layer.weight", "NaN at [5, 9]"}},
      {"quantize --format MXFP8_E4M3 --in " + w_inf + " --out " + out_file, {"layer.weight", "Inf at [5, 9]"}},
      {"quantize --format NVFP4 --in " + sb.nan_model + " --out " + out_file, {"o_proj.weight", "NaN at [3, 5]"}},
      {"quantize --format FP8_SOURCE --in " + sb.ff_model + " --out " + out_file, {"o_proj.weight", "NaN"}},
      {"quantize --format NVFP4 --in " + sb.path("nowhere") + " --out " + out_file, {"--in", "no such file or folder"}},
      {"quantize --format NVFP4 --in " + w_inf + " --out " + sb.path("prev"), {"--out", "is a folder"}},
      {"quantize --format NVFP4 --in " + w_inf + " --out " + out_file + " --group layer,ghost", {"--group", "ghost"}},
      {"quantize --format NVFP4 --in " + w_inf + " --out " + out_file + " --ignore ghost", {"--ignore", "ghost"}},
      {"quantize --format NVFP4 --in " + garbage + " --out " + out_file, {"garbage.safetensors"}},
      // solve
      {"solve --problem " + pr + " --target-bits 5 --time-limit nan --out " + out_file, {"--time-limit", "not a finite number"}},
      {"solve --problem " + pr + " --target-bits 5 --time-limit -1 --out " + out_file, {"--time-limit", "out of range"}},
      {"solve --problem " + pr + " --target-bits 5 --gap-tolerance inf --out " + out_file, {"--gap-tolerance", "not a finite number"}},
      {"solve --problem " + pr + " --target-bits 5 --bit-precision 0 --out " + out_file, {"--bit-precision", "out of range"}},
      {"solve --problem " + pr + " --target-bits nan --out " + out_file, {"--target-bits", "not a finite number"}},
      {"solve --problem " + pr + " --target-bits inf --out " + out_file, {"--target-bits", "not a finite number"}},
      {"solve --problem " + pr + " --target-bits 1e13 --out " + out_file, {"--target-bits", "out of range"}},
      {"solve --problem " + pr + " --target-bits abc --out " + out_file, {"--target-bits", "not a number"}},
      {"solve --problem " + pr + " --target-bytes -5 --out " + out_file, {"--target-bytes", "out of range"}},
      {"solve --problem " + pr + " --target-bytes 1.5 --out " + out_file, {"--target-bytes", "not an integer"}},
      {"solve --problem " + pr + " --target-bytes 1e30 --out " + out_file, {"--target-bytes", "out of range"}},
      {"solve --problem " + pr + " --target-bits 5 --target-bytes 100 --out " + out_file, {"--target-bits", "together", "--target-bytes"}},
      {"solve --problem " + pr + " --out " + out_file, {"exactly one of --target-bits and --target-bytes"}},
      {"solve --problem " + pr + " --target-bytes 10 --out " + out_file, {"smallest feasible"}},
      {"solve --problem " + sb.path("nowhere.json") + " --target-bits 5 --out " + out_file, {"--problem", "no such file"}},
      {"solve --problem " + sb.path("prev") + " --target-bits 5 --out " + out_file, {"--problem", "is a folder"}},
      {"solve --problem " + overflow + " --target-bits 5 --out " + out_file, {"overflow.json", "malformed JSON", "1e309"}},
      {"solve --problem " + nan_problem + " --target-bits 5 --out " + out_file, {"nan.json", "NaN"}},
      {"solve --problem " + pr + " --target-bits 5 --solver bogus --out " + out_file, {"--solver", "unknown value \"bogus\""}},
      {"solve --problem " + pr + " --target-bits 5 --out " + sb.path("prev"), {"--out", "is a folder"}},
      {"solve --problem " + pr + " --target-bits 5", {"--out: is required"}},
      // allocate
      {a_io + "--formats NVFP4,MXFP4 --target-bits 6 --out " + out_dir, {"costs.json", "no costs for format MXFP4"}},
      {"allocate --stats " + st + " --costs " + sb.path("costs_no_mx.json") + " --formats NVFP4,MXFP8_E4M3 --target-bits 6 --out " + out_dir,
       {"costs_no_mx.json", "MXFP8_E4M3"}},
      {"allocate --stats " + st + " --costs " + sb.path("costs_nvfp5.json") + " --target-bits 6 --out " + out_dir,
       {"costs_nvfp5.json", "unknown format \"NVFP5\""}},
      {a_io + "--formats NVFP5 --target-bits 6 --out " + out_dir, {"--formats", "\"NVFP5\""}},
      {a_io + "--target-bits 1e13 --out " + out_dir, {"--target-bits", "out of range"}},
      {a_io + "--target-bits inf --out " + out_dir, {"--target-bits", "not a finite number"}},
      {a_io + "--target-bits nan --out " + out_dir, {"--target-bits", "not a finite number"}},
      {a_io + "--target-bits -1 --out " + out_dir, {"--target-bits", "out of range"}},
      {a_io + "--target-bits 6 --target-bytes 5000 --out " + out_dir, {"--target-bits", "together"}},
      {a_io + "--target-bits 6 --sweep 4,5 --out " + out_dir, {"together"}},
      {a_io + "--out " + out_dir, {"exactly one of --target-bits"}},
      {a_io + "--target-bytes 1.5 --out " + out_dir, {"--target-bytes", "not an integer"}},
      {a_io + "--target-bytes 1e19 --out " + out_dir, {"--target-bytes", "out of range"}},
      {a_io + "--sweep 4,nan --out " + out_dir, {"--sweep", "not a finite number"}},
      {a_io + "--sweep-bytes 100,2.5 --out " + out_dir, {"--sweep-bytes", "not an integer"}},
      {a_io + "--target-bits 6 --prune-ratios 0,1.5 --out " + out_dir, {"--prune-ratios", "out of range"}},
      {a_io + "--target-bits 6 --prune-ratios nan --out " + out_dir, {"--prune-ratios", "not a finite number"}},
      {a_io + "--target-bits 6 --alpha nan --out " + out_dir, {"--alpha", "not a finite number"}},
      {a_io + "--target-bits 6 --alpha -1 --out " + out_dir, {"--alpha", "out of range"}},
      {a_io + "--target-bits 6 --alpha 0.1 --alpha-fit " + fit_nan + " --out " + out_dir, {"together"}},
      {a_io + "--target-bits 6 --alpha-fit " + fit_bad + " --out " + out_dir, {fit_bad, "not an alpha_fit.csv"}},
      {a_io + "--target-bits 6 --alpha-fit " + fit_nan + " --out " + out_dir, {"reap_dropout", "not a finite non-negative"}},
      {a_io + "--target-bits 6 --alpha-fit " + fit_nan + " --saliency frequency --out " + out_dir,
       {fit_nan, "no row for saliency \"frequency\" (rows: reap, reap_dropout)"}},
      {a_io + "--target-bits 6 --alpha-fit " + fit_short + " --out " + out_dir, {"line 2", "expected 4 fields"}},
      {a_io + "--target-bits 6 --alpha-fit " + sb.path("nowhere.csv") + " --out " + out_dir, {"--alpha-fit", "no such file"}},
      {a_io + "--target-bits 6 --proxy bogus --out " + out_dir, {"--proxy", "unknown value \"bogus\""}},
      {a_io + "--target-bits 6 --saliency bogus --out " + out_dir, {"--saliency", "unknown value"}},
      {a_io + "--target-bits 6 --domain-policy bogus --out " + out_dir, {"--domain-policy", "unknown value"}},
      {a_io + "--target-bits 6 --solver bogus --out " + out_dir, {"--solver", "unknown value"}},
      {a_io + "--sweep 4,5,6 --knee bogus --out " + out_dir, {"--knee", "unknown value"}},
      {a_io + "--target-bits 6 --out " + sb.path("garbage.safetensors"), {"--out", "is a file, not a folder"}},
      {"allocate --stats " + sb.path("nowhere.json") + " --costs " + co + " --target-bits 6 --out " + out_dir, {"--stats", "no such file"}},
      {"allocate --stats " + st + " --costs " + sb.path("prev") + " --target-bits 6 --out " + out_dir, {"--costs", "is a folder"}},
      {"allocate --stats " + st + " --costs " + sb.path("costs_no_act.json") + " --target-bits 6 --proxy act_weighted --out " + out_dir,
       {"needs act_sse"}},
      {"allocate --stats " + st + " --costs " + sb.path("costs_ghost.json") + " --target-bits 6 --out " + out_dir,
       {"unknown Linear \"model.ghost\""}},
      {"allocate --stats " + sb.path("stats_missing_linear.json") + " --costs " + co + " --target-bits 6 --out " + out_dir,
       {"expert 0", "needs gate, up and down projections"}},  // the model the stats describe lacks that Linear
      {"allocate --stats " + co + " --costs " + co + " --target-bits 6 --out " + out_dir, {"costs.json", "prismaquant.stats"}},
      {a_io + "--target-bits 0.5 --out " + sb.path("prev"), {"smallest feasible size"}},
      {a_io + "--target-bits 6 --out " + sb.path("prev_blocked"), {"pareto.csv", "is a folder"}},
      // probe
      {"probe --quiet --model " + sb.path("nowhere") + " --calib " + tok + " --out " + out_file, {"--model", "nowhere", "no such file or folder"}},
      {p_run + qwen + " --calib " + sb.path("nowhere.bin") + " --out " + out_file, {"--calib", "no such file"}},
      {p_run + qwen + " --calib " + tok_short + " --out " + out_file, {"tok_short.bin", "100 bytes is not a whole number of rows"}},
      {p_run + qwen + " --calib " + tok_oov + " --out " + out_file, {"tok_oov.bin", "token 260 at row 1, position 3"}},
      {p_run + qwen + " --calib " + tok + " --domains a,b,c --out " + out_file, {"rows do not split into 3 equal domains"}},
      {p_run + sb.path("qwen_nan") + " --calib " + tok + " --out " + out_file,
       {"model.layers.1.post_attention_layernorm.weight", "NaN at [7]"}},
      {p_run + qwen + " --calib " + tok + " --out " + sb.path("nowhere/stats.json"), {"--out", "nowhere", "does not exist"}},
      {p_run + qwen + " --calib " + tok + " --out " + sb.path("prev"), {"--out", "is a folder"}},
      {p_run + qwen + " --calib " + tok + " --out " + sb.path("prev/cost.safetensors"), {"--out", "stats file is JSON"}},
      {p_run + qwen + " --calib " + tok + " --out " + out_file + " --token-weights bogus", {"--token-weights", "unknown value \"bogus\""}},
      {p_run + qwen + " --calib " + tok + " --out " + out_file + " --token-dtype u8", {"--token-dtype", "unknown value"}},
      {"probe --quiet --seq-len 1 --model " + qwen + " --calib " + tok + " --out " + out_file, {"--seq-len", "out of range"}},
      {p_run + qwen + " --calib " + tok + " --out " + out_file + " --batch 0", {"--batch", "out of range"}},
      {p_run + qwen + " --calib " + tok + " --out " + out_file + " --threads -1", {"--threads", "out of range"}},
      {p_run + qwen + " --calib " + tok + " --out " + out_file + " --max-memory nan", {"--max-memory", "not a finite number"}},
      {p_run + qwen + " --calib " + tok + " --out " + out_file + " --shard 2/2", {"--shard", "out of range"}},
      {"probe --quiet --seq-len 100000 --model " + qwen + " --calib " + tok + " --out " + out_file, {"--seq-len", "max_position_embeddings"}},
      // eval
      {"eval --quiet --model " + sb.path("nowhere") + " --tokens " + tok, {"--model", "no such file or folder"}},
      {e_run + qwen + " --tokens " + sb.path("nowhere.bin"), {"--tokens", "no such file"}},
      {e_run + qwen + " --tokens " + tok_short, {"tok_short.bin", "not a whole number of rows"}},
      {e_run + qwen + " --tokens " + tok_oov, {"tok_oov.bin", "token 260 at row 1, position 3"}},
      {e_run + qwen + " --tokens " + tok + " --domains a,b,c", {"rows do not split into 3 equal domains"}},
      {e_run + sb.path("qwen_nan") + " --tokens " + tok, {"post_attention_layernorm.weight", "NaN at [7]"}},
      {e_run + qwen + " --tokens " + tok + " --layer-config " + sb.path("nowhere.json"), {"--layer-config", "no such file"}},
      {e_run + qwen + " --tokens " + tok + " --prune-manifest " + sb.path("prev"), {"--prune-manifest", "is a folder"}},
      {e_run + qwen + " --tokens " + tok + " --threads x", {"--threads", "not an integer"}},
      // merge
      {"merge " + sb.path("nowhere.json") + " --out " + out_file, {"nowhere.json", "no such file"}},
      {"merge " + st + " --out " + sb.path("nowhere/merged.json"), {"--out", "nowhere", "does not exist"}},
      {"merge " + st + " --out " + sb.path("prev"), {"--out", "is a folder"}},
      {"merge " + st + " --out " + st, {"--out", "is also an input"}},
      {"merge " + pr + " --out " + out_file, {"problem.json", "not a prismaquant stats or costs file"}},
      {"merge " + sb.path("part.json") + " " + sb.path("part.json") + " --out " + out_file, {"shard 0/2 is given twice"}},
      {"merge " + st + " " + co + " --out " + out_file, {"costs.json", "\"format\" must be \"prismaquant.stats\""}},
      {"merge --out " + out_file, {"inputs: is required"}},
      // export
      {"export --weight-only --model " + sb.path("nowhere") + " --layer-config " + e_lc + " --out " + out_dir,
       {"--model", "nowhere", "no such folder"}},
      {"export --weight-only --model " + m + " --out " + out_dir, {"--layer-config: is required"}},
      {ex + sb.path("nowhere.json"), {"--layer-config", "no such file"}},
      {ex + e_ghost, {"e_ghost.json", "\"model.layers.7.self_attn.q_proj\"", "no such Linear in the model"}},
      {ex + e_nvfp5, {"e_nvfp5.json", "\"model.layers.0.self_attn.o_proj\"", "NVFP5"}},
      {ex + e_int3, {"e_int3.json", "\"model.layers.0.self_attn.o_proj\"", "no format this library knows"}},
      {ex + e_broken, {"e_broken.json", "malformed JSON"}},
      {ex + e_qkv, {"e_qkv.json", "\"model.layers.0.self_attn.k_proj\"", "fused sibling"}},
      {ex + e_moe, {"e_moe.json", "model.layers.0.block_sparse_moe.experts.2.w2", "vLLM needs one scheme"}},
      {ex + e_router, {"e_router.json", "\"model.layers.0.block_sparse_moe.gate\"", "routers are never quantized"}},
      {"export --weight-only --model " + sb.path("model2") + " --out " + out_dir + " --layer-config " + e_pruned,
       {"e_pruned.json.prune.json", "\"model.layers.1.block_sparse_moe.gate\"", "keeps 2 experts", "same number"}},
      {ex + e_lc + " --prune-manifest " + sb.path("e_pm_ghost.json"),
       {"e_pm_ghost.json", "\"model.layers.5.block_sparse_moe.gate\"", "not a router of the model"}},
      // pipeline: its own options are checked before any work; a stage's error is the stage's
      // line, and a first run that fails leaves no output folder
      {pl_run + " --formats MXFP6_E2M3", {"--formats", "MXFP6_E2M3", "no compressed-tensors scheme"}},
      {pl_run + " --formats NVFP5", {"--formats", "NVFP5"}},
      {pl_run + " --rounding best", {"--rounding", "unknown value \"best\""}},
      {pl_run + " --sweep 4,5 --target-bits 4", {"--target-bits", "cannot be given together", "--sweep"}},
      {pl_run + " --target-bits nan", {"--target-bits", "nan"}},
      {pl_run + " --prune-ratios 1", {"--prune-ratios"}},
      {pl_run + " --alpha-fit " + fit_nan + " --saliency ean_sum", {fit_nan, "no row for saliency \"ean_sum\""}},
      {"pipeline --quiet --model " + qwen + " --calib " + sb.path("nowhere.bin") + " --eval " + tok + " --out " + out_dir,
       {"--calib", "nowhere.bin"}},
      {"pipeline --quiet --model " + qwen + " --calib " + tok + " --eval " + tok, {"--out: is required"}},
      {"pipeline --quiet --seq-len 16 --model " + sb.path("qwen_nan") + " --calib " + tok + " --eval " + tok + " --out " + out_dir,
       {"post_attention_layernorm.weight", "NaN at [7]"}},
      {"export --weight-only --model " + sb.nan_model + " --out " + out_dir + " --layer-config " + e_lc,
       {"model.layers.0.self_attn.o_proj.weight", "NaN at [3, 5]"}},
      {ex + e_lc + " --max-shard-bytes 0", {"--max-shard-bytes", "out of range"}},
      {ex + e_lc + " --max-shard-bytes 1.5", {"--max-shard-bytes", "not an integer"}},
      {ex + e_lc + " --rounding gptq", {"--rounding", "gptq", "give --calib"}},
      {ex + e_lc + " --seq-len 16 --calib " + tok_short, {"tok_short.bin", "100 bytes is not a whole number of rows"}},
      {ex + e_lc + " --seq-len 16 --eval " + tok_short, {"tok_short.bin", "100 bytes is not a whole number of rows"}},
      {ex + e_lc + " --seq-len 16 --eval " + tok + " --act-quant maybe", {"--act-quant", "unknown value \"maybe\""}},
      {ex + e_lc + " --rounding best", {"--rounding", "unknown value \"best\""}},
      {ex + e_lc + " --loader sglang", {"--loader", "unknown value \"sglang\""}},
      {ex + e_lc + " --calib " + sb.path("nowhere.bin"), {"--calib", "no such file"}},
      {"export --model " + m + " --out " + out_dir + " --layer-config " + e_lc, {"--layer-config", "--calib", "--weight-only"}},
      {"export --weight-only --model " + m + " --layer-config " + e_lc + " --out " + sb.path("garbage.safetensors"),
       {"--out", "is a file"}},
      {"export --weight-only --model " + m + " --layer-config " + e_lc + " --out " + sb.path("foreign"),
       {"foreign", "notes.txt", "did not write"}},
      // validate: names, formats the costs file lacks and the cache's memory are checked before any measurement
      {v_run + " --parts everything", {"--parts", "everything"}},
      {v_run + " --formats INT3", {"--formats", "INT3 is not in the costs file"}},
      {v_run + " --allocation-formats INT2", {"--allocation-formats", "INT2 is not in the costs file"}},
      {v_run + " --rows -1", {"--rows", "out of range"}},
      {v_run + " --max-memory nan", {"--max-memory", "nan"}},
      {v_run + " --parts saliency --max-memory 0.000001", {"eval cache", "evaluate fewer rows"}},
      {"validate --model " + m + " --stats " + sb.path("nowhere.json") + " --costs " + co + " --eval " + tok + " --out " + out_dir,
       {"--stats", "nowhere.json"}},
      // synthesize
      {"synthesize --layers 0 --out " + out_dir, {"--layers", "out of range"}},
      {"synthesize --layers nan --out " + out_dir, {"--layers", "not an integer"}},
      {"synthesize --layers 1 --experts 4 --top-k 8 --out " + out_dir, {"--top-k", "larger than --experts"}},
      {"synthesize --layers 1 --shard-bytes 0 --out " + out_dir, {"--shard-bytes", "out of range"}},
      {"synthesize --layers 1 --out " + sb.path("garbage.safetensors"), {"--out", "is a file"}},
      {"synthesize --layers 1 --hidden 256 --experts 2 --top-k 1 --intermediate 128 --vocab 100 --heads 2 --kv-heads 1 "
       "--head-dim 64 --out " + sb.path("foreign"),
       {"foreign", "notes.txt", "did not write"}},
  });
  for (const auto& [cmd, n] : counts()) WARN("bad inputs tested for '" << (cmd.empty() ? "(none)" : cmd) << "': " << n);
}

TEST_CASE("cost: a rerun writes byte-identical files; a new run replaces the whole set") {
  const sandbox sb;
  for (const char* name : {"a", "b"}) {
    const auto r = pq_test::run_cli("cost --quiet --model " + sb.model + " --formats NVFP4,MXFP8_E4M3,FP8_SOURCE,BF16 "
                                    "--proxies per_row_fisher --out " + sb.path(std::string(name) + "/cost.json"));
    INFO(r.out);
    REQUIRE(r.code == 0);
  }
  for (const char* f : {"cost.json", "cost.safetensors"}) {
    INFO(f);
    REQUIRE(fs::exists(sb.dir / "a" / f));
    CHECK(slurp(sb.dir / "a" / f) == slurp(sb.dir / "b" / f));
  }
  // Without per-row SSE (fisher_trace reads none) the set has no side file: the earlier one is
  // removed with the set.
  const auto r = pq_test::run_cli("cost --quiet --model " + sb.model + " --formats NVFP4 --out " + sb.path("a/cost.json"));
  REQUIRE(r.code == 0);
  CHECK_FALSE(fs::exists(sb.dir / "a" / "cost.safetensors"));
  CHECK(std::vector<std::string>{"cost.json"} == [&] {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(sb.dir / "a")) v.push_back(e.path().filename().string());
    return v;
  }());
}
