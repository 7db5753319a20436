#pragma once
// Per-domain saliency: a router's accumulators are tagged by calibration domain (agentic,
// math, code, …) and a policy combines the domains into one drop order and one score per
// expert (the score prices a drop: α·S_j).
//
//   pooled        score of the accumulators merged over all domains (one big calibration set)
//   mean          mean over domains of each domain's score
//   max           max over domains: an expert any domain needs is protected
//   union         drop order by the best (lowest) rank over domains: the first n experts in
//                 this order are exactly the union of the domains' k-lowest prune sets for
//                 growing k — an expert any domain would prune goes first
//   intersection  drop order by the worst (highest) rank over domains: prune only what every
//                 domain would prune
// For union/intersection the price of a drop is the mean score over domains. Ties are broken
// by expert id (the reference sorts by (prune Δloss, id)), so orders are deterministic.
#include <prismaquant/saliency/scores.hpp>
#include <prismaquant/stats/expert_stats.hpp>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

namespace prismaquant::saliency {

enum class domain_policy { pooled, mean, max, union_, intersection };

inline domain_policy domain_policy_by_name(const std::string& n) {
  if (n == "pooled") return domain_policy::pooled;
  if (n == "mean") return domain_policy::mean;
  if (n == "max") return domain_policy::max;
  if (n == "union") return domain_policy::union_;
  if (n == "intersection") return domain_policy::intersection;
  throw error("--domain-policy", "unknown policy \"" + n + "\" (known: pooled, mean, max, union, intersection)");
}

inline std::string_view domain_policy_name(domain_policy p) noexcept {
  switch (p) {
    case domain_policy::pooled: return "pooled";
    case domain_policy::mean: return "mean";
    case domain_policy::max: return "max";
    case domain_policy::union_: return "union";
    case domain_policy::intersection: return "intersection";
  }
  return "pooled";
}

struct expert_ranking {
  std::vector<double> score;    // per original expert id: the price basis S_j
  std::vector<int> drop_order;  // expert ids, first dropped first
  // The n experts dropped first, sorted by id.
  std::vector<int> prune_set(int n) const {
    std::vector<int> d(drop_order.begin(), drop_order.begin() + n);
    std::sort(d.begin(), d.end());
    return d;
  }
};

// Every expert's score within one domain (or the pooled accumulators).
template <saliency_score S>
std::vector<double> scores(const stats::router_stats& r, const stats::domain_acc& acc, const S& s) {
  std::vector<double> v(acc.experts.size());
  for (std::size_t j = 0; j < v.size(); ++j) v[j] = s(expert_view{acc.experts[j], acc, r, static_cast<int>(j)});
  return v;
}

// Per domain, per expert scores (domains in name order).
template <saliency_score S>
std::vector<std::vector<double>> domain_scores(const stats::router_stats& r, const S& s) {
  std::vector<std::vector<double>> out;
  for (auto& [d, acc] : r.domains) out.push_back(scores(r, acc, s));
  return out;
}

inline std::vector<int> order_by(const std::vector<double>& key, const std::vector<double>& tiebreak) {
  std::vector<int> o(key.size());
  std::iota(o.begin(), o.end(), 0);
  std::stable_sort(o.begin(), o.end(), [&](int a, int b) {
    if (key[a] != key[b]) return key[a] < key[b];
    if (tiebreak[a] != tiebreak[b]) return tiebreak[a] < tiebreak[b];
    return a < b;
  });
  return o;
}

template <saliency_score S>
expert_ranking rank_experts(const stats::router_stats& r, const S& s, domain_policy p = domain_policy::pooled) {
  const std::size_t E = static_cast<std::size_t>(r.num_experts);
  expert_ranking out;
  if (p == domain_policy::pooled) {
    out.score = scores(r, r.pooled(), s);
    out.drop_order = order_by(out.score, out.score);
    return out;
  }
  const auto per = domain_scores(r, s);
  std::vector<double> mean(E, 0.0), mx(E, 0.0);
  for (std::size_t j = 0; j < E; ++j) {
    for (auto& v : per) {
      mean[j] += v[j];
      mx[j] = std::max(mx[j], v[j]);
    }
    mean[j] /= static_cast<double>(per.size());
  }
  if (p == domain_policy::mean) {
    out.score = mean;
    out.drop_order = order_by(mean, mean);
    return out;
  }
  if (p == domain_policy::max) {
    out.score = mx;
    out.drop_order = order_by(mx, mean);
    return out;
  }
  // rank policies
  std::vector<double> best(E, 1e300), worst(E, -1.0);
  for (auto& v : per) {
    const auto o = order_by(v, v);
    for (std::size_t rnk = 0; rnk < E; ++rnk) {
      const auto j = static_cast<std::size_t>(o[rnk]);
      best[j] = std::min(best[j], static_cast<double>(rnk));
      worst[j] = std::max(worst[j], static_cast<double>(rnk));
    }
  }
  out.score = mean;
  out.drop_order = order_by(p == domain_policy::union_ ? best : worst, mean);
  return out;
}

}  // namespace prismaquant::saliency
