#pragma once
// What an expert-saliency score is: the view of one expert it reads (expert_view) and the
// concept a score models (saliency_score: name, needs, call). The built-in scores are in
// saliency/scores.hpp and saliency/reroute.hpp.
//
//   static constexpr std::string_view name;
//   using needs = stat::list<stat::reap>;          // what it reads (stats/statistic.hpp)
//   double operator()(const saliency::expert_view& e) const;
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/policy.hpp>
#include <prismaquant/stats/expert_stats.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <concepts>
#include <cstdint>

namespace prismaquant::saliency {

// One expert as a score sees it: its accumulators within one calibration domain (or all
// domains pooled), that domain, and its router.
struct expert_view {
  const stats::expert_acc& acc;       // this expert's sums (== domain.experts[expert])
  const stats::domain_acc& domain;    // total_tokens, and every expert of the router
  const stats::router_stats& router;  // name, num_experts, top_k
  int expert = 0;                     // the expert id
  std::int64_t total_tokens() const noexcept { return domain.total_tokens; }
};

template <class S>
concept has_saliency_name = static_policy_name<S> || runtime_policy_name<S>;
template <class S>
concept has_saliency_needs = static_policy_needs<S> || runtime_policy_needs<S>;
template <class S>
concept has_saliency_call = requires(const S& s, const expert_view& e) {
  { s(e) } -> std::convertible_to<double>;
};

template <class S>
concept saliency_score = has_saliency_name<S> && has_saliency_needs<S> && has_saliency_call<S>;

template <class S>
constexpr bool check_saliency() {
  static_assert(has_saliency_name<S>, "prismaquant saliency: missing `static constexpr std::string_view name`");
  static_assert(has_saliency_needs<S>,
                "prismaquant saliency: missing `using needs = prismaquant::stat::list<...>` (the router statistics "
                "it reads: stat::reap, stat::reroute)");
  static_assert(has_saliency_call<S>,
                "prismaquant saliency: missing `double operator()(const saliency::expert_view&) const`");
  return true;
}

PQ_HD constexpr double safe_div(double a, double b) noexcept { return b > 0.0 ? a / b : 0.0; }

}  // namespace prismaquant::saliency
