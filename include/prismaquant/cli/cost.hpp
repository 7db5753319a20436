#pragma once
// `prismaquant cost --model DIR [--formats LIST] [--proxies LIST] [--stats S.json] --out cost.json
//                   [--shard I/N|auto] [--device cpu|cuda]`
//
// Streams over the checkpoint's shards and runs the fused cost pass (cost/engine.hpp) on every
// Linear the model profile lists: FP8-block sources are dequantized in float32, fused siblings
// (q/k/v, an expert's w1/w3) share one NVFP4 global scale (a job group: from the pass's own
// pre-pass), and every requested format is measured in one read of each weight after that
// pre-pass. LIST is comma-separated canonical names, or `all`. Writes the documented costs file
// (docs/file-formats.md, keyed by the checkpoint's module names) atomically.
//
// Statistics: exactly what the proxies named by --proxies read from the cost pass (their
// declared needs, stats/statistic.hpp), plus total SSE and max |error|, which every costs file
// carries; the activation-weighted SSE needs --stats with the Linears' xtx_diag.
// A format is measured for a Linear only where the format accepts its source (FP8_SOURCE:
// FP8 128x128-block sources) and its shape.
// A shard's mapping is released as soon as no remaining Linear needs it.
// --shard I/N|auto (engine/shard.hpp): whole work units (a fused group, or one Linear) are dealt
// round-robin; the process writes its part (cost.shard-I-of-N.json) for `prismaquant merge`.
// --device cuda runs the same pass on the GPU (kernels/cost_stream.cuh): Linears go in batches
// of about a GB, each copied to the GPU while the previous one is measured; the costs file is
// the same, byte for byte.
#include <prismaquant/cli/command.hpp>
#include <prismaquant/cli/options.hpp>
#include <prismaquant/cli/toolset.hpp>
#include <prismaquant/cost/model.hpp>
#include <prismaquant/engine/shard.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/finite.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/model/open.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

namespace prismaquant::cli {

namespace cost_detail {

namespace pq = prismaquant;

inline std::vector<std::string> split_list(const std::string& list, const char* option) {
  std::vector<std::string> v;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) v.push_back(item);
  if (v.empty()) throw pq::error(option, "empty list");
  std::set<std::string> seen;
  for (auto& f : v)
    if (!seen.insert(f).second) throw pq::error(option, "\"" + f + "\" is listed twice");
  return v;
}

inline std::vector<std::string> split_formats(const std::string& list, const toolset& tools) {
  if (list == "all") {  // every format the largest compiled pass measures, in its order
    if (tools.cost_passes.empty()) throw pq::error("cost", "this executable has no compiled cost pass");
    return tools.cost_passes.back().formats;
  }
  auto v = split_list(list, "--formats");
  for (auto& f : v) tools.format(f, "--formats");  // throws for an unknown name
  return v;
}

// The cost-pass statistics the named proxies read.
inline stat::set requested_stats(const std::string& list, const toolset& tools) {
  stat::set s;
  if (list == "all") {
    for (const auto& p : tools.proxies) s = s | p.needs();
  } else {
    for (const auto& n : split_list(list, "--proxies")) s = s | tools.proxy(n).needs();
  }
  return s.only(stat::stage::cost);
}

inline int run_cost(const toolset& tools, const std::string& dir, const std::string& format_list, const std::string& proxies,
             const std::string& out_arg, const std::string& stats_path, bool quiet, const std::string& shard_arg = "0/1",
             const std::string& device = "cpu") {
  const auto shard = pq::engine::parse_shard(shard_arg);
  const std::string out_path = pq::engine::shard_output(out_arg, shard).string();
  const auto wanted = split_formats(format_list, tools);
  const auto& passes = device == "cuda" ? tools.device_cost_passes : tools.cost_passes;
  if (passes.empty())
    throw pq::error("--device " + device, "this prismaquant was built without CUDA (configure with nvcc present and "
                                          "-DPRISMAQUANT_CUDA=ON)");
  const stat::set need = requested_stats(proxies, tools);
  const bool row_sse = need.contains<stat::row_sse>(), with_act = need.contains<stat::act_sse>();
  if (with_act && stats_path.empty())
    throw pq::error("--stats", "the proxies named by --proxies read act_sse: give a stats file with the Linears' xtx_diag");
  if (!with_act && !stats_path.empty())
    throw pq::error("--stats", "no proxy named by --proxies reads act_sse, the only statistic the stats file gives the cost "
                               "pass (e.g. --proxies act_weighted)");
  // The first (smallest) compiled pass that measures every wanted format.
  const cost_pass* pass = nullptr;
  for (const auto& p : passes)
    if (!pass && std::all_of(wanted.begin(), wanted.end(), [&](auto& f) {
          return std::find(p.formats.begin(), p.formats.end(), f) != p.formats.end();
        }))
      pass = &p;
  if (!pass) {
    for (const auto& f : wanted) {
      bool measured = false;
      for (const auto& p : passes) measured = measured || std::find(p.formats.begin(), p.formats.end(), f) != p.formats.end();
      if (!measured)
        throw pq::error("--formats", "\"" + f + "\" is not measured by the cost pass (use one of the default formats)");
    }
    throw pq::error("--formats", "no compiled cost pass measures all of these formats together");
  }

  // The costs file and its side file are one set: both published at the end, or neither
  // (io/output_set.hpp); a side file left from an earlier run is removed with the set.
  const std::filesystem::path out_file(out_path);
  if (out_file.extension() == ".safetensors")
    throw pq::error("--out", out_path + ": the costs file is JSON (its side file takes the name <stem>.safetensors)");
  pq::output_set out(out_file.parent_path().empty() ? std::filesystem::path(".") : out_file.parent_path(),
                     pq::publish_mode::replace_files, {}, "--out " + out_path);
  out.owns(std::filesystem::path(out_file).replace_extension(".safetensors").filename().string());

  auto m = pq::model::open_model(dir);
  std::optional<pq::stats::model_stats> st;
  if (!stats_path.empty()) st = pq::stats::read_stats(stats_path);
  std::vector<pq::formats::format_entry> fmts;
  for (const auto& f : wanted) fmts.push_back(tools.format(f, "--formats"));
  pq::cost::model_options o;
  o.row_sse = row_sse;
  o.act_sse = with_act;
  o.stats = st ? &*st : nullptr;
  o.stats_where = stats_path;
  o.progress = !quiet;
  o.shard = shard;
  o.batch_bytes = pass->batch_bytes;
  const auto r = pq::cost::measure_model(m, fmts, pass->measure, o);
  const auto& costs = r.costs;
  const std::size_t done = r.linears;
  const double params = r.params, source_bytes = r.source_bytes, compute_seconds = r.compute_seconds;
  pq::stats::write_costs(out.path(out_file.filename().string()), costs);
  out.publish();
  const double s = r.seconds;
  // Throughput in parameters/s and in GB/s of the same weights stored as bf16 (the unit of the
  // cost-pass benchmarks), for the whole command and for the fused pass alone.
  std::printf("cost: %zu linears x %zu formats, %.4g params (%.3f GB as stored) in %.2f s: %.3g params/s = %.2f GB/s "
              "as bf16 (fused pass alone %.2f s: %.3g params/s = %.2f GB/s as bf16) -> %s\n",
              done, wanted.size(), params, source_bytes / 1e9, s, params / s, 2 * params / s / 1e9, compute_seconds,
              params / compute_seconds, 2 * params / compute_seconds / 1e9, out_path.c_str());
  return 0;
}

}  // namespace cost_detail

inline std::function<int()> setup_cost(CLI::App& sub, const toolset& tools) {
  using namespace cost_detail;
  struct args {
    std::string model, formats, proxies = "fisher_trace", out, stats, shard = "0/1", device = "cpu";
    bool quiet = false;
  };
  auto a = std::make_shared<args>();
  pq::formats::seed_formats::for_each([&]<class F>() { a->formats += (a->formats.empty() ? "" : ",") + std::string(F::name); });
  sub.add_option("--model", a->model, "checkpoint folder")->required()->check(check::existing_path());
  sub.add_option("--formats", a->formats, "comma-separated canonical format names, or all (every format the pass measures)")->capture_default_str();
  sub.add_option("--out", a->out, "costs file to write (JSON; long vectors go to a .safetensors beside it)")
      ->required()
      ->check(check::output_file());
  sub.add_option("--proxies", a->proxies,
                 "the Δloss proxies the costs are for, comma-separated, or all: the file holds the statistics they read "
                 "(known: " + toolset::names(tools.proxies) + ")")
      ->capture_default_str();
  sub.add_option("--stats", a->stats, "stats file with xtx_diag (for proxies that read act_sse)")->check(check::existing_file());
  sub.add_option("--shard", a->shard, "I/N, or auto (Open MPI, PMI or SLURM): this process's share of the tensors")
      ->capture_default_str();
  sub.add_option("--device", a->device, "where the pass runs: cpu, or cuda (the first GPU)")
      ->capture_default_str()
      ->check(check::one_of({"cpu", "cuda"}));
  sub.add_flag("--quiet", a->quiet, "no progress line");
  return [=, &tools] {
    return run_cost(tools, a->model, a->formats, a->proxies, a->out, a->stats, a->quiet, a->shard, a->device);
  };
}

}  // namespace prismaquant::cli
