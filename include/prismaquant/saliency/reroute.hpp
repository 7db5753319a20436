#pragma once
// Re-routing-aware saliency: the price of dropping expert j when the router, as it will after
// pruning, sends j's tokens to the next expert and renormalises (stats/expert_stats.hpp:
// Δy_t = that change of the MoE output, δ_t = dL/d(MoE output), per-batch sums over the
// calibration batches; T = tokens the router saw). The REAP-family scores price g·f_j as if it
// simply vanished; these price the output that actually changes.
//   reroute_fisher  ½ Σ_b (Σ_{t∈b} δ_t·Δy_t)² / T     second-order Δloss with the per-batch
//                                                   empirical Fisher (the quantization proxy's
//                                                   ½·H·error², for the expert's removal)
//   reroute_taylor  max(0, Σ_t δ_t·Δy_t + ½ Σ_b (…)²) / T   first + second order
//   reroute_output  Σ_t ‖Δy_t‖² / T                  mean squared change of the layer output
// They need the probe's re-routing sums (stats file version 2); a file without them is refused.
#include <prismaquant/core/error.hpp>
#include <prismaquant/saliency/score.hpp>
#include <prismaquant/stats/expert_stats.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace prismaquant::saliency {

namespace detail {
inline void require_reroute(const stats::expert_acc& e, std::string_view name) {
  if (!e.reroute)
    throw error("saliency " + std::string(name),
                "needs the re-routing sums (reroute_first / reroute_fisher / reroute_sq) in the stats file; "
                "run `prismaquant probe`");
}
inline double per_token(double v, std::int64_t t) { return t > 0 ? v / static_cast<double>(t) : 0.0; }
}  // namespace detail

struct reroute_fisher {
  static constexpr std::string_view name = "reroute_fisher";
  using needs = stat::list<stat::reroute>;
  double operator()(const expert_view& e) const {
    detail::require_reroute(e.acc, name);
    return detail::per_token(0.5 * e.acc.reroute_fisher.value(), e.total_tokens());
  }
};

struct reroute_taylor {
  static constexpr std::string_view name = "reroute_taylor";
  using needs = stat::list<stat::reroute>;
  double operator()(const expert_view& e) const {
    detail::require_reroute(e.acc, name);
    return detail::per_token(std::max(0.0, e.acc.reroute_first.value() + 0.5 * e.acc.reroute_fisher.value()), e.total_tokens());
  }
};

struct reroute_output {
  static constexpr std::string_view name = "reroute_output";
  using needs = stat::list<stat::reroute>;
  double operator()(const expert_view& e) const {
    detail::require_reroute(e.acc, name);
    return detail::per_token(e.acc.reroute_sq.value(), e.total_tokens());
  }
};

}  // namespace prismaquant::saliency
