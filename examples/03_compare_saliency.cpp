// 03: compare expert-saliency scores on the same statistics: which experts each would drop
// at a 25 % prune ratio, and how much the drop sets overlap (Jaccard). Then the per-domain
// policies on two calibration domains that disagree.
#include <prismaquant/saliency/domains.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <set>

namespace pq = prismaquant;
namespace ps = prismaquant::saliency;

int main() {
  constexpr int E = 32, K = 4, T = 4000, n_drop = E / 4;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::lognormal_distribution<double> ln(0.0, 0.7);
  // Each expert has a popularity (how often it is routed), a typical gate weight and a typical
  // output norm — independent, so the scores that weigh them differently disagree.
  std::vector<double> pop(E), gate(E), norm(E);
  for (int e = 0; e < E; ++e) { pop[e] = ln(rng); gate[e] = ln(rng); norm[e] = ln(rng); }
  pq::stats::router_stats r;
  r.name = "model.layers.0.block_sparse_moe.gate";
  r.num_experts = E;
  r.top_k = K;
  const char* domains[] = {"code", "math"};
  for (int dom = 0; dom < 2; ++dom) {
    auto& d = r.domain(domains[dom]);
    for (int t = 0; t < T; ++t) {
      ++d.total_tokens;
      // routing: K distinct experts sampled by popularity (the math domain favours other experts)
      std::vector<double> w(E);
      for (int e = 0; e < E; ++e) w[e] = dom == 0 ? pop[e] : pop[(e * 7 + 3) % E];
      std::set<int> chosen;
      while (static_cast<int>(chosen.size()) < K) {
        std::discrete_distribution<int> pick(w.begin(), w.end());
        chosen.insert(pick(rng));
      }
      double gs = 0;
      for (int e : chosen) gs += gate[e] * (0.5 + u(rng));
      for (int e : chosen) d.experts[e].add_token(gate[e] * (0.5 + u(rng)) / gs, norm[e] * (0.5 + u(rng)));
    }
  }
  r.validate("example");

  const auto names = ps::saliency_names();
  std::vector<std::vector<int>> sets;
  std::printf("experts dropped at ratio 0.25 (%d of %d), pooled over both domains:\n", n_drop, E);
  for (auto& n : names) {
    const auto rk = ps::rank_experts(r, ps::saliency_by_name(n), ps::domain_policy::pooled);
    sets.push_back(rk.prune_set(n_drop));
    std::printf("  %-19s", n.c_str());
    for (int e : sets.back()) std::printf(" %2d", e);
    std::printf("\n");
  }
  std::printf("\nJaccard overlap of the drop sets:\n%19s", "");
  for (auto& n : names) std::printf(" %6.6s", n.c_str());
  std::printf("\n");
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::printf("  %-17.17s", names[i].c_str());
    for (std::size_t j = 0; j < names.size(); ++j) {
      std::set<int> a(sets[i].begin(), sets[i].end()), un = a;
      int inter = 0;
      for (int e : sets[j]) { inter += a.count(e) ? 1 : 0; un.insert(e); }
      std::printf(" %6.2f", static_cast<double>(inter) / static_cast<double>(un.size()));
    }
    std::printf("\n");
  }
  std::printf("\nREAP per-domain policies (what each would drop):\n");
  const auto reap = ps::saliency_by_name("reap");
  for (auto [label, pol] : {std::pair{"pooled", ps::domain_policy::pooled}, std::pair{"mean", ps::domain_policy::mean},
                            std::pair{"max", ps::domain_policy::max}, std::pair{"union", ps::domain_policy::union_},
                            std::pair{"intersection", ps::domain_policy::intersection}}) {
    const auto s = ps::rank_experts(r, reap, pol).prune_set(n_drop);
    std::printf("  %-13s", label);
    for (int e : s) std::printf(" %2d", e);
    std::printf("\n");
  }
  // Sanity: the REAP drop set has the lowest mean g·‖f‖ among all experts.
  const auto rk = ps::rank_experts(r, reap);
  for (int j : rk.prune_set(n_drop))
    for (int k : std::vector<int>(rk.drop_order.begin() + n_drop, rk.drop_order.end()))
      if (rk.score[j] > rk.score[k]) return 1;
  return 0;
}
