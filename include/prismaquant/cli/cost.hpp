#pragma once
// `prismaquant cost --model DIR --formats LIST --out cost.json [--stats S.json] [--no-row-sse]`
//
// Streams over the checkpoint's shards and runs the fused cost pass (cost/engine.hpp) on every
// Linear the model profile lists: FP8-block sources are dequantized in float32, fused siblings
// (q/k/v, an expert's w1/w3) share one NVFP4 global scale (a job group: from the pass's own
// pre-pass), and every requested format is measured in one read of each weight after that
// pre-pass. LIST is comma-separated canonical names, or `all`. Writes the documented costs file
// (docs/file-formats.md, keyed by the checkpoint's module names) atomically.
//
// Statistics: total SSE and max |error| always; per-row SSE unless --no-row-sse; the
// activation-weighted SSE when --stats gives the Linears' xtx_diag.
// A shard's mapping is released as soon as no remaining Linear needs it.
#include <prismaquant/cli/command.hpp>
#include <prismaquant/cli/options.hpp>
#include <prismaquant/cli/toolset.hpp>
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

inline std::vector<std::string> split_formats(const std::string& list, const toolset& tools) {
  if (list == "all") {  // every format the largest compiled pass measures, in its order
    if (tools.cost_passes.empty()) throw pq::error("cost", "this executable has no compiled cost pass");
    return tools.cost_passes.back().formats;
  }
  std::vector<std::string> v;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) v.push_back(item);
  if (v.empty()) throw pq::error("--formats", "empty list");
  std::set<std::string> seen;
  for (auto& f : v) {
    pq::formats::find(f, "--formats");  // throws for an unknown name
    if (!seen.insert(f).second) throw pq::error("--formats", "\"" + f + "\" is listed twice");
  }
  return v;
}

// One Linear's weight as the cost pass reads it. Scales (and, rarely, a misaligned weight)
// are copied so that float/uint16 loads are aligned; the weight itself is used in place.
struct loaded_weight {
  pq::formats::weight_view view;
  std::vector<float> scale_inv;
  std::vector<std::byte> realigned;
  std::string name;
};

inline void load(const pq::checkpoint& ck, const pq::model::linear_info& l, loaded_weight& out) {
  out.name = l.name + ".weight";
  const auto t = ck.tensor(out.name);
  const void* data = t.bytes.data();
  const std::size_t align = static_cast<std::size_t>(std::max(1, pq::dtype_bits(t.type) / 8));
  if (reinterpret_cast<std::uintptr_t>(data) % align != 0) {
    out.realigned.assign(t.bytes.begin(), t.bytes.end());
    data = out.realigned.data();
  }
  const float* scales = nullptr;
  if (t.type == pq::dtype::F8_E4M3) {
    const auto s = ck.tensor(l.name + ".weight_scale_inv");
    require_finite(s);
    if (s.type == pq::dtype::F32) {
      out.scale_inv = s.to_vector<float>();
    } else if (s.type == pq::dtype::BF16) {
      const auto raw = s.to_vector<std::uint16_t>();
      out.scale_inv.resize(raw.size());
      for (std::size_t i = 0; i < raw.size(); ++i) out.scale_inv[i] = pq::bf16::from_bits(raw[i]).to_float();
    } else {
      throw pq::error(l.name + ".weight_scale_inv", "dtype must be F32 or BF16");
    }
    scales = out.scale_inv.data();
  }
  out.view = pq::formats::weight_view::from_bytes(data, t.type, l.out_features, l.in_features, out.name, scales, 128);
}

inline int run_cost(const toolset& tools, const std::string& dir, const std::string& format_list, const std::string& out_path,
             const std::string& stats_path, bool row_sse, bool quiet) {
  const auto wanted = split_formats(format_list, tools);
  // The first (smallest) compiled pass that measures every wanted format.
  const cost_pass* pass = nullptr;
  for (const auto& p : tools.cost_passes)
    if (!pass && std::all_of(wanted.begin(), wanted.end(), [&](auto& f) {
          return std::find(p.formats.begin(), p.formats.end(), f) != p.formats.end();
        }))
      pass = &p;
  if (!pass) {
    for (const auto& f : wanted) {
      bool measured = false;
      for (const auto& p : tools.cost_passes) measured = measured || std::find(p.formats.begin(), p.formats.end(), f) != p.formats.end();
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
  const auto& d = m.description;
  if (d.linears.empty()) throw pq::error(dir, "the model profile found no Linear layers");

  std::optional<pq::stats::model_stats> st;
  if (!stats_path.empty()) st = pq::stats::read_stats(stats_path);
  auto act_of = [&](const pq::model::linear_info& l) -> std::vector<float> {
    if (!st) return {};
    auto it = st->linears.find(l.name);
    if (it == st->linears.end()) throw pq::error(stats_path, "no statistics for Linear \"" + l.name + "\"");
    const auto& s = it->second;
    if (s.in_features != l.in_features || s.out_features != l.out_features)
      throw pq::error(stats_path, "Linear \"" + l.name + "\" has a different shape than the checkpoint");
    if (s.xtx_diag.empty())
      throw pq::error(stats_path, "Linear \"" + l.name + "\" has no xtx_diag (needed for act_sse)");
    std::vector<float> a(static_cast<std::size_t>(l.in_features));
    for (std::size_t j = 0; j < a.size(); ++j) a[j] = static_cast<float>(s.act_second_moment(j));
    return a;
  };
  for (const auto& l : d.linears) (void)act_of(l);  // the stats file holds every Linear: checked before the pass
  const bool with_act = st.has_value();

  // Work units: fused groups, then every Linear in no group, in description order.
  std::vector<std::vector<int>> units;
  std::vector<bool> grouped(d.linears.size(), false);
  for (const auto& g : d.fused_groups) {
    units.push_back(g);
    for (int i : g) grouped[i] = true;
  }
  for (std::size_t i = 0; i < d.linears.size(); ++i)
    if (!grouped[i]) units.push_back({static_cast<int>(i)});
  std::sort(units.begin(), units.end(), [](auto& a, auto& b) { return a.front() < b.front(); });
  std::map<std::string, int> pending;  // shard path -> Linears still to read from it
  for (const auto& l : d.linears) ++pending[m.weights->file_of(l.name + ".weight").string()];

  pq::stats::model_costs costs;
  const auto t0 = std::chrono::steady_clock::now();
  double source_bytes = 0, params = 0, compute_seconds = 0;
  std::size_t done = 0;
  auto last_print = t0;
  for (const auto& unit : units) {
    std::vector<loaded_weight> ws(unit.size());
    std::vector<std::vector<float>> acts(unit.size());
    for (std::size_t k = 0; k < unit.size(); ++k) {
      load(*m.weights, d.linears[unit[k]], ws[k]);
      acts[k] = act_of(d.linears[unit[k]]);
    }
    std::vector<pq::formats::weight_view> views;
    for (auto& w : ws) views.push_back(w.view);
    const auto c0 = std::chrono::steady_clock::now();
    // One group: the siblings share NVFP4's global scale, from the pass's own pre-pass.
    std::vector<pq::cost::job> jobs;
    for (std::size_t k = 0; k < unit.size(); ++k)
      jobs.push_back({views[k], acts[k].empty() ? nullptr : acts[k].data(), std::nullopt, 0});
    const auto res = pass->measure(jobs, with_act);
    compute_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();

    for (std::size_t k = 0; k < unit.size(); ++k) {
      const auto& l = d.linears[unit[k]];
      pq::stats::linear_costs lc;
      lc.name = l.name;
      lc.out_features = l.out_features;
      lc.in_features = l.in_features;
      for (const auto& f : wanted) {
        // Pass-through of FP8 blocks exists only for FP8-block sources.
        if (f == "FP8_SOURCE" && l.source != pq::model::source_format::fp8_block128) continue;
        const auto& entry = pq::formats::find(f);
        try {
          entry.check_shape(l.out_features, l.in_features, l.name);
        } catch (const pq::error&) {
          continue;  // this format cannot store this shape: no candidate
        }
        const auto& r = res[k][f];
        pq::stats::format_cost fc;
        fc.bytes = static_cast<std::int64_t>(entry.storage_bytes(l.out_features, l.in_features));
        fc.n = r.elements;
        fc.sse = r.sse;
        fc.max_abs_err = r.max_abs;
        if (row_sse) fc.sse_row = r.row_sse;
        if (st) fc.act_sse = r.act_sse;
        lc.formats.emplace(f, std::move(fc));
      }
      if (lc.formats.empty()) throw pq::error(l.name, "none of the requested formats can store this Linear's shape");
      costs.linears.emplace(l.name, std::move(lc));
      source_bytes += static_cast<double>(ws[k].view.size()) * pq::dtype_bits(ws[k].view.type) / 8.0;
      params += static_cast<double>(ws[k].view.size());
      const std::string shard = m.weights->file_of(l.name + ".weight").string();
      if (--pending[shard] == 0) m.weights->release(shard);
      ++done;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!quiet && (now - last_print > std::chrono::milliseconds(500) || done == d.linears.size())) {
      last_print = now;
      const double s = std::chrono::duration<double>(now - t0).count();
      std::fprintf(stderr, "\rcost: %zu/%zu linears, %.2f GB read, %.2f GB/s", done, d.linears.size(),
                   source_bytes / 1e9, s > 0 ? source_bytes / 1e9 / s : 0.0);
    }
  }
  pq::stats::write_costs(out.path(out_file.filename().string()), costs);
  out.publish();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) std::fprintf(stderr, "\n");
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
    std::string model, formats = "NVFP4,MXFP8_E4M3,FP8_SOURCE,BF16", out, stats;
    bool no_row_sse = false, quiet = false;
  };
  auto a = std::make_shared<args>();
  sub.add_option("--model", a->model, "checkpoint folder")->required()->check(check::existing_path());
  sub.add_option("--formats", a->formats, "comma-separated canonical format names, or all (every format the pass measures)")->capture_default_str();
  sub.add_option("--out", a->out, "costs file to write (JSON; long vectors go to a .safetensors beside it)")
      ->required()
      ->check(check::output_file());
  sub.add_option("--stats", a->stats, "stats file with xtx_diag: adds the activation-weighted SSE")
      ->check(check::existing_file());
  sub.add_flag("--no-row-sse", a->no_row_sse, "leave out the per-output-row SSE vectors");
  sub.add_flag("--quiet", a->quiet, "no progress line");
  return [=, &tools] { return run_cost(tools, a->model, a->formats, a->out, a->stats, !a->no_row_sse, a->quiet); };
}

}  // namespace prismaquant::cli
