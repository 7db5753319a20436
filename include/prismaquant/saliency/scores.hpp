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
// A model of the concept: `static constexpr std::string_view name;` and
// `double operator()(const stats::expert_acc&, std::int64_t total_tokens) const`.
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/saliency/reroute.hpp>
#include <prismaquant/stats/expert_stats.hpp>

#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::saliency {

template <class S>
concept saliency_score = requires(const S& s, const stats::expert_acc& e, std::int64_t t) {
  { S::name } -> std::convertible_to<std::string_view>;
  { s(e, t) } -> std::convertible_to<double>;
};

template <class S>
constexpr bool check_saliency() {
  static_assert(requires { { S::name } -> std::convertible_to<std::string_view>; },
                "prismaquant saliency: missing `static constexpr std::string_view name`");
  static_assert(requires(const S& s, const stats::expert_acc& e, std::int64_t t) { { s(e, t) } -> std::convertible_to<double>; },
                "prismaquant saliency: missing `double operator()(const stats::expert_acc&, std::int64_t total_tokens) const`");
  return true;
}

PQ_HD constexpr double safe_div(double a, double b) noexcept { return b > 0.0 ? a / b : 0.0; }

struct reap {
  static constexpr std::string_view name = "reap";
  double operator()(const stats::expert_acc& e, std::int64_t) const {
    return safe_div(e.sum_g_norm.value(), static_cast<double>(e.count));
  }
};
struct reap_dropout {
  static constexpr std::string_view name = "reap_dropout";
  double operator()(const stats::expert_acc& e, std::int64_t total_tokens) const {
    return safe_div(e.sum_g_norm_sq.value(), static_cast<double>(total_tokens));
  }
};
struct frequency {
  static constexpr std::string_view name = "frequency";
  double operator()(const stats::expert_acc& e, std::int64_t) const { return static_cast<double>(e.count); }
};
struct ean_sum {
  static constexpr std::string_view name = "ean_sum";
  double operator()(const stats::expert_acc& e, std::int64_t) const { return e.sum_norm.value(); }
};
struct ean_mean {
  static constexpr std::string_view name = "ean_mean";
  double operator()(const stats::expert_acc& e, std::int64_t) const {
    return safe_div(e.sum_norm.value(), static_cast<double>(e.count));
  }
};
struct weighted_frequency {
  static constexpr std::string_view name = "weighted_frequency";
  double operator()(const stats::expert_acc& e, std::int64_t) const { return e.sum_g.value(); }
};
struct weighted_ean {
  static constexpr std::string_view name = "weighted_ean";
  double operator()(const stats::expert_acc& e, std::int64_t) const { return e.sum_g_norm.value(); }
};

static_assert(check_saliency<reap>() && check_saliency<reap_dropout>() && check_saliency<frequency>() &&
              check_saliency<ean_sum>() && check_saliency<ean_mean>() && check_saliency<weighted_frequency>() &&
              check_saliency<weighted_ean>());
static_assert(check_saliency<reroute_fisher>() && check_saliency<reroute_taylor>() && check_saliency<reroute_output>());

// Type-erased, by name (command line).
struct any_saliency {
  std::string name;
  std::function<double(const stats::expert_acc&, std::int64_t)> fn;
  double operator()(const stats::expert_acc& e, std::int64_t t) const { return fn(e, t); }
};

template <saliency_score S>
any_saliency erase(S s) {
  return any_saliency{std::string(S::name), [s](const stats::expert_acc& e, std::int64_t t) { return s(e, t); }};
}

inline std::vector<std::string> saliency_names() {
  return {"reap", "reap_dropout", "frequency", "ean_sum", "ean_mean", "weighted_frequency", "weighted_ean"};
}
// The scores that need the probe's re-routing sums (saliency/reroute.hpp).
inline std::vector<std::string> reroute_saliency_names() { return {"reroute_fisher", "reroute_taylor", "reroute_output"}; }

inline any_saliency saliency_by_name(const std::string& n) {
  if (n == "reap") return erase(reap{});
  if (n == "reap_dropout") return erase(reap_dropout{});
  if (n == "frequency") return erase(frequency{});
  if (n == "ean_sum") return erase(ean_sum{});
  if (n == "ean_mean") return erase(ean_mean{});
  if (n == "weighted_frequency") return erase(weighted_frequency{});
  if (n == "weighted_ean") return erase(weighted_ean{});
  if (n == "reroute_fisher") return erase(reroute_fisher{});
  if (n == "reroute_taylor") return erase(reroute_taylor{});
  if (n == "reroute_output") return erase(reroute_output{});
  std::string all;
  for (auto& x : saliency_names()) all += (all.empty() ? "" : ", ") + x;
  for (auto& x : reroute_saliency_names()) all += ", " + x;
  throw error("--saliency", "unknown saliency \"" + n + "\" (known: " + all + ")");
}

}  // namespace prismaquant::saliency
