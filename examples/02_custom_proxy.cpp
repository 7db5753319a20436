// 02: write your own Δloss proxy and allocate with it, end to end.
//
// A proxy is any type with a name, the statistics it reads (one vocabulary,
// stats/statistic.hpp: the cost pass computes exactly the cost-stage part), and a call
// operator. This one adds an outlier penalty to the reference's 0.5·H_trace·MSE_W: a format
// whose worst element error is large relative to its RMS error (NVFP4 on heavy-tailed rows)
// is charged extra. It reads the Fisher sum (probe), the total SSE and max |W − Ŵ| (cost).
//
// The recipe names it next to the seed's other choices; the cost pass, the candidates, the
// solver, the sweep and the output files all follow. The result is then checked against a
// direct computation: the chosen allocation's Δloss, summed by hand from the files.
#include "example_support.hpp"

#include <prismaquant/recipe.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>

namespace pq = prismaquant;
namespace st = prismaquant::stat;

struct outlier_aware_fisher {
  static constexpr std::string_view name = "outlier_aware_fisher";
  using needs = st::list<st::fisher, st::sse, st::max_abs>;
  double lambda = 0.5;  // weight of the outlier term
  double operator()(const pq::stats::linear_stats& s, std::string_view, const pq::stats::format_cost& c) const {
    const double mse = c.mse();
    const double peak = mse > 0 ? c.max_abs_err * c.max_abs_err / mse : 0.0;  // crest factor²
    return 0.5 * s.h_trace() * mse * (1.0 + lambda * std::log1p(peak));
  }
};
// Fails to compile, naming the missing piece, if the proxy is incomplete.
static_assert(pq::proxy::check_proxy<outlier_aware_fisher>());

using my_recipe = pq::recipe<pq::seed_formats, outlier_aware_fisher>;
// What the cost pass computes for it: the cost-stage part of its needs.
static_assert(std::is_same_v<my_recipe::cost_request, pq::cost::request<st::sse, st::max_abs>>);

static nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

int main() {
  example::workspace ws("pq_example_02");
  const auto model = example::tiny_minimax(ws.dir);
  // The cost stage and the probe's statistics (synthetic here) as files, as a pipeline has them.
  pq::stats::write_costs(ws / "costs.json", my_recipe::measure_model(model));
  pq::stats::write_stats(ws / "stats.json", example::synthetic_stats(pq::model::open_model(model).description));

  // The allocation, in four lines.
  const auto in = pq::allocate::read_inputs(ws / "stats.json", ws / "costs.json", model);
  const auto sweep = my_recipe{}.sweep(in, pq::allocate::bits({4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0}),
                                       {.prune_ratios = {0.0, 0.25}, .alpha = 0.15});
  pq::allocate::write_outputs(ws / "out", sweep);

  // Check: the chosen Δloss, summed directly from the files with the proxy's formula written out.
  const auto lc = read_json(ws / "out" / "layer_config.json");
  const auto manifest = read_json(ws / "out" / "layer_config.json.prune.json");
  const auto costs = pq::stats::read_costs(ws / "costs.json");
  const auto stats = pq::stats::read_stats(ws / "stats.json");
  double direct = 0.0;
  for (const auto& [module, entry] : lc.items()) {
    const auto& c = costs.linears.at(module).formats.at(entry["fmt"].get<std::string>());
    const auto& s = stats.linears.at(module);
    const double h = s.fisher_sum.value() / static_cast<double>(s.rows_seen);
    const double mse = c.sse / static_cast<double>(c.n);
    const double peak = mse > 0 ? c.max_abs_err * c.max_abs_err / mse : 0.0;
    direct += 0.5 * h * mse * (1.0 + 0.5 * std::log1p(peak));
  }
  for (const auto& [router, m] : manifest.items()) {  // α · reap_dropout of each dropped expert
    const auto& dom = stats.routers.at(router).domains.at("default");
    for (int e : m["pruned_expert_ids"])
      direct += 0.15 * dom.experts[static_cast<std::size_t>(e)].sum_g_norm_sq.value() / static_cast<double>(dom.total_tokens);
  }
  const auto& chosen = sweep.rows[static_cast<std::size_t>(sweep.chosen)];
  std::printf("%s: %zu targets, knee at %.3f bits: Δloss %.6g (direct sum %.6g), %d experts dropped, gap %.1e\n",
              std::string(outlier_aware_fisher::name).c_str(), sweep.rows.size(), chosen.sol.achieved_bits,
              chosen.sol.dloss, direct, chosen.n_experts_dropped, chosen.sol.gap);

  // The same inputs under the reference proxy: how many Linears the outlier term moves.
  const auto ref = pq::recipe<>{}.sweep(in, pq::allocate::bits({chosen.target_bits}), {.prune_ratios = {0.0, 0.25}});
  int differ = 0;
  for (const auto& [m, f] : ref.rows[0].layer_formats)
    differ += !chosen.layer_formats.count(m) || chosen.layer_formats.at(m) != f;
  std::printf("%d of %zu Linears differ from fisher_trace's allocation at the same target\n", differ,
              ref.rows[0].layer_formats.size());

  const bool ok = std::fabs(direct - chosen.sol.dloss) <= 1e-9 * std::fabs(direct) &&
                  chosen.sol.total_bytes <= chosen.budget_bytes && chosen.sol.gap <= 1e-9;
  return ok ? 0 : 1;
}
