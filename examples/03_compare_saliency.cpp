// 03: expert saliency — compare the built-in scores, then write your own and prune with it,
// end to end.
//
// A score sees one expert through saliency::expert_view: its accumulators, its calibration
// domain (token totals and every other expert) and its router. The one written here,
// `peak_reap`, is an expert's largest single contribution max g·‖f‖ weighted by the square
// root of its share of the domain's tokens: it protects an expert that is routed rarely but
// decides the output when it is (which mean-based scores such as REAP drop first).
//
// First the built-in scores on one router: which experts each would drop at a 25 % ratio,
// and how much the drop sets overlap (Jaccard). Then a recipe with `peak_reap` runs the whole
// allocation (cost → candidates → solve → sweep → layer_config + prune manifest), checked
// against a direct computation: the experts it dropped are the lowest by the score computed
// by hand from the stats file.
#include "example_support.hpp"

#include <prismaquant/recipe.hpp>
#include <prismaquant/saliency/domains.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

namespace pq = prismaquant;
namespace ps = prismaquant::saliency;
namespace st = prismaquant::stat;

struct peak_reap {
  static constexpr std::string_view name = "peak_reap";
  using needs = st::list<st::reap>;
  double operator()(const ps::expert_view& e) const {
    const double share = e.total_tokens() > 0 ? static_cast<double>(e.acc.count) / static_cast<double>(e.total_tokens()) : 0.0;
    return e.acc.max_g_norm * std::sqrt(share);
  }
};
static_assert(ps::check_saliency<peak_reap>());

int main() {
  example::workspace ws("pq_example_03");
  const auto model = example::tiny_minimax(ws.dir);
  const auto description = pq::model::open_model(model).description;
  const auto st = example::synthetic_stats(description);
  const auto& router = st.routers.begin()->second;
  const int E = router.num_experts, n_drop = E / 4;

  // ---- the built-in scores (and ours) side by side on the first router ----
  // (the re-routing scores need the probe's re-routing sums, which these synthetic stats lack)
  std::vector<ps::any_saliency> scores;
  for (auto& s : ps::builtin_saliency_list())
    if (!s.needs().contains<pq::stat::reroute>()) scores.push_back(s);
  scores.emplace_back(peak_reap{});
  std::vector<std::vector<int>> sets;
  std::printf("experts of %s dropped at ratio 0.25 (%d of %d):\n", router.name.c_str(), n_drop, E);
  for (const auto& s : scores) {
    sets.push_back(ps::rank_experts(router, s).prune_set(n_drop));
    std::printf("  %-19s", std::string(s.name()).c_str());
    for (int e : sets.back()) std::printf(" %2d", e);
    std::printf("\n");
  }
  std::printf("\nJaccard overlap of the drop sets:\n%21s", "");
  for (const auto& s : scores) std::printf(" %6.6s", std::string(s.name()).c_str());
  std::printf("\n");
  for (std::size_t i = 0; i < scores.size(); ++i) {
    std::printf("  %-19.19s", std::string(scores[i].name()).c_str());
    for (std::size_t j = 0; j < scores.size(); ++j) {
      std::set<int> a(sets[i].begin(), sets[i].end()), un = a;
      int inter = 0;
      for (int e : sets[j]) {
        inter += a.count(e) ? 1 : 0;
        un.insert(e);
      }
      std::printf(" %6.2f", static_cast<double>(inter) / static_cast<double>(un.size()));
    }
    std::printf("\n");
  }

  // ---- the whole allocation with peak_reap ----
  using my_recipe = pq::recipe<pq::seed_formats, pq::proxy::fisher_trace, peak_reap>;
  pq::stats::write_costs(ws / "costs.json", my_recipe::measure_model(model));
  pq::stats::write_stats(ws / "stats.json", st);
  const auto in = pq::allocate::read_inputs(ws / "stats.json", ws / "costs.json", model);
  const auto sweep = my_recipe{}.sweep(in, pq::allocate::bits({4.5}), {.prune_ratios = {0.25}});
  pq::allocate::write_outputs(ws / "out", sweep);

  // Check: per router, the dropped experts are the floor(0.25·E) lowest by peak_reap computed
  // directly from the stats file (ties by id), and the manifest says so.
  std::ifstream f(ws / "out" / "layer_config.json.prune.json");
  const auto manifest = nlohmann::json::parse(f);
  const auto stats = pq::stats::read_stats(ws / "stats.json");
  bool ok = manifest.size() == stats.routers.size();
  for (const auto& [name, r] : stats.routers) {
    const auto& d = r.domains.at("default");
    std::vector<std::pair<double, int>> by_score;
    for (int e = 0; e < r.num_experts; ++e) {
      const auto& x = d.experts[static_cast<std::size_t>(e)];
      by_score.push_back({x.max_g_norm * std::sqrt(static_cast<double>(x.count) / static_cast<double>(d.total_tokens)), e});
    }
    std::sort(by_score.begin(), by_score.end());
    std::vector<int> expect;
    for (int k = 0; k < r.num_experts / 4; ++k) expect.push_back(by_score[static_cast<std::size_t>(k)].second);
    std::sort(expect.begin(), expect.end());
    const auto got = manifest.at(name)["pruned_expert_ids"].get<std::vector<int>>();
    std::printf("%s: dropped", name.c_str());
    for (int e : got) std::printf(" %d", e);
    std::printf(" (lowest peak_reap:");
    for (int e : expect) std::printf(" %d", e);
    std::printf(")\n");
    ok = ok && got == expect;
  }
  const auto& c = sweep.rows[0];
  std::printf("allocation at 4.5 bits with peak_reap: %.4f bits, Δloss %.6g, %d experts dropped\n", c.sol.achieved_bits,
              c.sol.dloss, c.n_experts_dropped);
  return ok && c.feasible && c.n_experts_dropped == 2 * (E / 4) ? 0 : 1;
}
