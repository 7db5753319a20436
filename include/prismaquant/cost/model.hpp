#pragma once
// The cost pass over a whole checkpoint: every Linear its model description lists, read once
// from the memory-mapped shards (FP8-block sources dequantized in float32 on the fly), fused
// siblings (the description's fused groups: q/k/v, an expert's w1/w3) measured as one job
// group so they share NVFP4's global scale, every format of the pass measured in that one
// read. A shard's mapping is released as soon as no remaining Linear needs it.
//
//   auto r = pq::cost::measure_model(m, formats, [](auto jobs, bool act) { return pass(jobs, act); }, o);
//   pq::stats::write_costs("costs.json", r.costs);
//
// `pass` is any compiled cost pass (cost::evaluate<List, Req>, a cli::cost_pass); a format is
// recorded for a Linear only where it accepts the Linear's source and can store its shape.
#include <prismaquant/cost/result.hpp>
#include <prismaquant/engine/checkpoint_tensor.hpp>
#include <prismaquant/engine/shard.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/finite.hpp>
#include <prismaquant/model/open.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::cost {

struct model_options {
  bool row_sse = false;                        // record per-row SSE (stat::row_sse)
  bool act_sse = false;                        // record act_sse (stat::act_sse): needs `stats`
  const stats::model_stats* stats = nullptr;   // xtx_diag per Linear, for act_sse
  std::string stats_where = "stats";           // names the stats in messages
  bool progress = false;                       // a progress line on stderr
  engine::shard_spec shard{};                  // this process's share of the work units
  // Source bytes worth one call of the pass: 0 = one work unit a call (the CPU pass); a device
  // pass takes many units at once (its per-call cost is launches and copies).
  std::size_t batch_bytes = 0;
};

struct model_report {
  stats::model_costs costs;
  std::size_t linears = 0;
  double params = 0, source_bytes = 0;  // weights read (as stored)
  double seconds = 0, compute_seconds = 0;  // whole run; the fused pass alone
};

template <class Pass>
model_report measure_model(model::opened_model& m, std::span<const formats::format_entry> wanted, Pass&& pass,
                           const model_options& o = {}) {
  namespace pq = prismaquant;
  const auto& d = m.description;
  if (d.linears.empty()) throw pq::error(m.dir.string(), "the model profile found no Linear layers");
  const bool row_sse = o.row_sse, with_act = o.act_sse, quiet = !o.progress;
  if (with_act && !o.stats) throw pq::error("cost", "act_sse needs the Linears' xtx_diag: give the stats");
  const std::string& stats_path = o.stats_where;
  const pq::stats::model_stats* st = o.stats;
  auto act_of = [&](const pq::model::linear_info& l) -> std::vector<float> {
    if (!with_act) return {};
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

  for (const auto& l : d.linears) (void)act_of(l);  // the stats cover every Linear: checked before the pass

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
  units = engine::deal(units, o.shard);
  std::map<std::string, int> pending;  // shard path -> Linears still to read from it
  std::size_t total = 0;
  for (const auto& u : units)
    for (int i : u) {
      ++pending[m.weights->file_of(d.linears[static_cast<std::size_t>(i)].name + ".weight").string()];
      ++total;
    }
  // Batches of whole units: one a call, or about o.batch_bytes of source weights.
  std::vector<std::vector<int>> batches;
  {
    std::size_t bytes = 0;
    for (std::size_t u = 0; u < units.size(); ++u) {
      if (batches.empty() || bytes >= o.batch_bytes) {
        batches.emplace_back();
        bytes = 0;
      }
      batches.back().push_back(static_cast<int>(u));
      for (int i : units[u]) {
        const auto& l = d.linears[static_cast<std::size_t>(i)];
        bytes += static_cast<std::size_t>(l.out_features * l.in_features) *
                 (l.source == model::source_format::fp8_block128 ? 1 : 2);
      }
    }
  }

  pq::stats::model_costs costs;
  const auto t0 = std::chrono::steady_clock::now();
  double source_bytes = 0, params = 0, compute_seconds = 0;
  std::size_t done = 0;
  auto last_print = t0;
  for (const auto& batch : batches) {
    std::vector<int> unit;               // the batch's Linears, unit after unit
    std::vector<std::int32_t> unit_of;   // their unit's index within the batch: the job group
    for (std::size_t b = 0; b < batch.size(); ++b)
      for (int i : units[static_cast<std::size_t>(batch[b])]) {
        unit.push_back(i);
        unit_of.push_back(static_cast<std::int32_t>(b));
      }
    std::vector<engine::source_weight> ws(unit.size());
    std::vector<std::vector<float>> acts(unit.size());
    for (std::size_t k = 0; k < unit.size(); ++k) {
      const auto& l = d.linears[unit[k]];
      // The fused pass refuses a NaN / Inf weight in its own scan, so the weight is read once.
      ws[k] = engine::open_source_weight(*m.weights, l.name, l.out_features, l.in_features, false);
      acts[k] = act_of(d.linears[unit[k]]);
    }
    std::vector<pq::formats::weight_view> views;
    for (auto& w : ws) views.push_back(w.view);
    const auto c0 = std::chrono::steady_clock::now();
    // One group per unit: fused siblings share NVFP4's global scale, from the pass's own pre-pass.
    std::vector<job> jobs;
    for (std::size_t k = 0; k < unit.size(); ++k)
      jobs.push_back({views[k], acts[k].empty() ? nullptr : acts[k].data(), std::nullopt, unit_of[k]});
    const std::vector<tensor_cost> res = pass(std::span<const job>(jobs), with_act);
    compute_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();

    for (std::size_t k = 0; k < unit.size(); ++k) {
      const auto& l = d.linears[unit[k]];
      pq::stats::linear_costs lc;
      lc.name = l.name;
      lc.out_features = l.out_features;
      lc.in_features = l.in_features;
      for (const auto& entry : wanted) {
        const std::string f(entry.name);
        if (!entry.allows(l.source)) continue;  // e.g. FP8_SOURCE: FP8 128x128-block sources only
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
        if (with_act) fc.act_sse = r.act_sse;
        lc.formats.emplace(f, std::move(fc));
      }
      if (lc.formats.empty()) throw pq::error(l.name, "none of the requested formats can store this Linear's shape");
      costs.linears.emplace(l.name, std::move(lc));
      source_bytes += static_cast<double>(ws[k].view.size()) * pq::dtype_bits(ws[k].view.type) / 8.0;
      params += static_cast<double>(ws[k].view.size());
      const std::string shard_file = m.weights->file_of(l.name + ".weight").string();
      if (--pending[shard_file] == 0) m.weights->release(shard_file);
      ++done;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!quiet && (now - last_print > std::chrono::milliseconds(500) || done == total)) {
      last_print = now;
      const double s = std::chrono::duration<double>(now - t0).count();
      std::fprintf(stderr, "\rcost: %zu/%zu linears, %.2f GB read, %.2f GB/s", done, total,
                   source_bytes / 1e9, s > 0 ? source_bytes / 1e9 / s : 0.0);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) std::fprintf(stderr, "\n");
  return {std::move(costs), done, params, source_bytes, secs, compute_seconds};
}

}  // namespace prismaquant::cost
