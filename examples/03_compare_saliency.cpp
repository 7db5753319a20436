// 03: expert saliency — compare the built-in scores, then write your own and prune with it,
// end to end.
//
// A score sees one expert through saliency::expert_view: its accumulators, its calibration
// domain (token totals and every other expert) and its router. The one written here,
// `reap_share`, is an expert's share of its router's total REAP mass Σ g·‖f‖ — a score that
// needs the other experts too, which the view hands over.
//
// First the built-in scores on one router: which experts each would drop at a 25 % ratio,
// and how much the drop sets overlap (Jaccard). Then a recipe with `reap_share` runs the whole
// allocation (cost → candidates → solve → sweep → layer_config + prune manifest), checked
// against a direct computation: the experts it dropped are the lowest by the score computed
// by hand from the stats file.
#include "example_support.hpp"

#include <prismaquant/recipe.hpp>
#include <prismaquant/saliency/domains.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

namespace pq = prismaquant;
namespace ps = prismaquant::saliency;
namespace st = prismaquant::stat;

struct reap_share {
  static constexpr std::string_view name = "reap_share";
  using needs = st::list<st::reap>;
  double operator()(const ps::expert_view& e) const {
    double total = 0.0;
    for (const auto& x : e.domain.experts) total += x.sum_g_norm.value();
    return total > 0.0 ? e.acc.sum_g_norm.value() / total : 0.0;
  }
};
static_assert(ps::check_saliency<reap_share>());

int main() {
  example::workspace ws("pq_example_03");
  const auto model = example::tiny_minimax(ws.dir);
  const auto description = pq::model::open_model(model).description;
  const auto st = example::synthetic_stats(description);
  const auto& router = st.routers.begin()->second;
  const int E = router.num_experts, n_drop = E / 4;

  // ---- the built-in scores (and ours) side by side on the first router ----
  auto scores = ps::builtin_saliency_list();
  scores.emplace_back(reap_share{});
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

  // ---- the whole allocation with reap_share ----
  using my_recipe = pq::recipe<pq::seed_formats, pq::proxy::fisher_trace, reap_share>;
  pq::stats::write_costs(ws / "costs.json", my_recipe::measure_model(model));
  pq::stats::write_stats(ws / "stats.json", st);
  const auto in = pq::allocate::read_inputs(ws / "stats.json", ws / "costs.json", model);
  const auto sweep = my_recipe{}.sweep(in, pq::allocate::bits({4.5}), {.prune_ratios = {0.25}});
  pq::allocate::write_outputs(ws / "out", sweep);

  // Check: per router, the dropped experts are the floor(0.25·E) lowest by reap_share computed
  // directly from the stats file (ties by id), and the manifest says so.
  std::ifstream f(ws / "out" / "layer_config.json.prune.json");
  const auto manifest = nlohmann::json::parse(f);
  const auto stats = pq::stats::read_stats(ws / "stats.json");
  bool ok = manifest.size() == stats.routers.size();
  for (const auto& [name, r] : stats.routers) {
    const auto& d = r.domains.at("default");
    double total = 0.0;
    for (const auto& x : d.experts) total += x.sum_g_norm.value();
    std::vector<std::pair<double, int>> by_score;
    for (int e = 0; e < r.num_experts; ++e)
      by_score.push_back({d.experts[static_cast<std::size_t>(e)].sum_g_norm.value() / total, e});
    std::sort(by_score.begin(), by_score.end());
    std::vector<int> expect;
    for (int k = 0; k < r.num_experts / 4; ++k) expect.push_back(by_score[static_cast<std::size_t>(k)].second);
    std::sort(expect.begin(), expect.end());
    const auto got = manifest.at(name)["pruned_expert_ids"].get<std::vector<int>>();
    std::printf("%s: dropped", name.c_str());
    for (int e : got) std::printf(" %d", e);
    std::printf(" (lowest reap_share:");
    for (int e : expect) std::printf(" %d", e);
    std::printf(")\n");
    ok = ok && got == expect;
  }
  const auto& c = sweep.rows[0];
  std::printf("allocation at 4.5 bits with reap_share: %.4f bits, Δloss %.6g, %d experts dropped\n", c.sol.achieved_bits,
              c.sol.dloss, c.n_experts_dropped);
  return ok && c.feasible && c.n_experts_dropped == 2 * (E / 4) ? 0 : 1;
}
