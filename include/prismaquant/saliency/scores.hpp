#pragma once
// The expert-saliency policy axis: maps one expert's accumulators (stats/expert_stats.hpp)
// to a score; low scores are pruned first and dropping expert j costs α·S_j of Δloss.
//
// Definitions follow CerebrasResearch/reap src/reap/observer.py (per routed token t of
// expert j, g = router weight, f = expert output before gating):
//   reap                mean over routed tokens of g·‖f‖        ("reap")
//   reap_dropout        (1/T) Σ g·‖f‖², T = all tokens the router saw (PrismaQuant's variant)
//   frequency           number of routed tokens                  ("expert_frequency")
//   ean_sum             Σ ‖f‖                                     ("ean_sum")
//   ean_mean            mean over routed tokens of ‖f‖            ("ean_mean")
//   weighted_frequency  Σ g                                       ("weighted_expert_frequency_sum")
//   weighted_ean        Σ g·‖f‖                                   ("weighted_ean_sum")
// A never-routed expert scores 0 under every definition.
// Re-routing-aware scores (reroute_fisher, reroute_taylor, reroute_output) live in
// saliency/reroute.hpp and are registered by name here too.
//
// A model of the concept:
//
//   static constexpr std::string_view name;
//   using needs = stat::list<stat::reap>;          // what it reads (stats/statistic.hpp)
//   double operator()(const saliency::expert_view& e) const;
//
// expert_view hands over the whole picture of one expert — its accumulators, its domain's
// (token totals and every other expert's accumulators) and its router's (num_experts, top_k)
// — so a score may read any field the probe records without a change of signature.
// An erased score (any_saliency) gives name() and needs() at run time.
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/policy.hpp>
#include <prismaquant/saliency/reroute.hpp>
#include <prismaquant/saliency/score.hpp>
#include <prismaquant/stats/expert_stats.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace prismaquant::saliency {

struct reap {
  static constexpr std::string_view name = "reap";
  using needs = stat::list<stat::reap>;
  double operator()(const expert_view& e) const { return safe_div(e.acc.sum_g_norm.value(), static_cast<double>(e.acc.count)); }
};
struct reap_dropout {
  static constexpr std::string_view name = "reap_dropout";
  using needs = stat::list<stat::reap>;
  double operator()(const expert_view& e) const {
    return safe_div(e.acc.sum_g_norm_sq.value(), static_cast<double>(e.total_tokens()));
  }
};
struct frequency {
  static constexpr std::string_view name = "frequency";
  using needs = stat::list<stat::reap>;
  double operator()(const expert_view& e) const { return static_cast<double>(e.acc.count); }
};
struct ean_sum {
  static constexpr std::string_view name = "ean_sum";
  using needs = stat::list<stat::reap>;
  double operator()(const expert_view& e) const { return e.acc.sum_norm.value(); }
};
struct ean_mean {
  static constexpr std::string_view name = "ean_mean";
  using needs = stat::list<stat::reap>;
  double operator()(const expert_view& e) const { return safe_div(e.acc.sum_norm.value(), static_cast<double>(e.acc.count)); }
};
struct weighted_frequency {
  static constexpr std::string_view name = "weighted_frequency";
  using needs = stat::list<stat::reap>;
  double operator()(const expert_view& e) const { return e.acc.sum_g.value(); }
};
struct weighted_ean {
  static constexpr std::string_view name = "weighted_ean";
  using needs = stat::list<stat::reap>;
  double operator()(const expert_view& e) const { return e.acc.sum_g_norm.value(); }
};

static_assert(check_saliency<reap>() && check_saliency<reap_dropout>() && check_saliency<frequency>() &&
              check_saliency<ean_sum>() && check_saliency<ean_mean>() && check_saliency<weighted_frequency>() &&
              check_saliency<weighted_ean>());
static_assert(check_saliency<reroute_fisher>() && check_saliency<reroute_taylor>() && check_saliency<reroute_output>());

// Erased: any score behind one call, with name() and needs() at run time (a model of the
// same concept); the built-in scores by name, for the command line.
class any_saliency {
 public:
  template <class S>
    requires(!std::same_as<std::remove_cvref_t<S>, any_saliency>)
  any_saliency(S s)  // implicit: any score converts where an any_saliency is wanted
      : any_saliency(std::move(s), check_saliency<S>()) {}
  std::string_view name() const noexcept { return name_; }
  stat::set needs() const noexcept { return needs_; }
  double operator()(const expert_view& e) const { return fn_(e); }

 private:
  template <class S>
  any_saliency(S s, bool)
      : name_(policy_name(s)), needs_(policy_needs(s)),
        fn_([s = std::move(s)](const expert_view& e) { return static_cast<double>(s(e)); }) {}
  std::string name_;
  stat::set needs_;
  std::function<double(const expert_view&)> fn_;
};
static_assert(saliency_score<any_saliency>);

template <saliency_score S>
any_saliency erase(S s) {
  return any_saliency(std::move(s));
}

using builtin_scores = std::tuple<reap, reap_dropout, frequency, ean_sum, ean_mean, weighted_frequency, weighted_ean,
                                  reroute_fisher, reroute_taylor, reroute_output>;

inline std::vector<any_saliency> builtin_saliency_list() {
  return std::apply([](auto... s) { return std::vector<any_saliency>{any_saliency(s)...}; }, builtin_scores{});
}

inline std::vector<std::string> saliency_names() {
  std::vector<std::string> v;
  for (const auto& s : builtin_saliency_list()) v.emplace_back(s.name());
  return v;
}

// The scores that need the probe's re-routing sums (saliency/reroute.hpp).
inline std::vector<std::string> reroute_saliency_names() { return {"reroute_fisher", "reroute_taylor", "reroute_output"}; }

inline any_saliency saliency_by_name(const std::string& n) {
  return find_policy(builtin_saliency_list(), n, "--saliency", "saliency");
}

}  // namespace prismaquant::saliency
