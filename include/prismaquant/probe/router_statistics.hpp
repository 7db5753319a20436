#pragma once
// The probe's statistics per router (per expert, per calibration domain), one policy per
// statistic of the vocabulary (stats/statistic.hpp):
//
//   router_statistic<stat::reap>     Σg, Σ‖f‖, Σ‖f‖², Σg‖f‖, Σg‖f‖², max g‖f‖ over routed tokens
//   router_statistic<stat::reroute>  reroute_first = Σ_t δ_t·Δy_t, reroute_fisher = Σ_b (Σ_{t∈b} δ·Δy)²,
//                                    reroute_sq = Σ_t ‖Δy_t‖²   (stats/expert_stats.hpp)
//
// Counts (tokens routed to each expert, tokens the router saw) are always kept. A call is one
// batch (all its tokens); its per-expert partials are summed in double in token order and added
// exactly, so shards and thread counts do not change a bit.
#include <prismaquant/engine/observer.hpp>
#include <prismaquant/stats/expert_stats.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <algorithm>
#include <vector>

namespace prismaquant::probe {

template <class>
inline constexpr bool no_router_policy = false;

template <class S>
struct router_statistic {
  static_assert(no_router_policy<S>, "prismaquant probe: no router observer for this statistic");
};

template <>
struct router_statistic<stat::reap> {
  static constexpr bool needs_reroute = false;
  struct partial {
    std::vector<double> sg, sn, sn2, sgn, sgn2, mx;
  };
  static partial measure(const engine::router_rows& r) {
    const std::size_t E = static_cast<std::size_t>(r.experts);
    partial p{std::vector<double>(E), std::vector<double>(E), std::vector<double>(E), std::vector<double>(E),
              std::vector<double>(E), std::vector<double>(E)};
    for (std::int64_t i = 0; i < r.tokens * r.k; ++i) {
      const std::size_t e = static_cast<std::size_t>(r.expert[i]);
      const double g = r.weight[i], n = r.out_norm[i];
      p.sg[e] += g;
      p.sn[e] += n;
      p.sn2[e] += n * n;
      p.sgn[e] += g * n;
      p.sgn2[e] += g * n * n;
      p.mx[e] = std::max(p.mx[e], g * n);
    }
    return p;
  }
  static void add(std::vector<stats::expert_acc>& acc, const partial& p) {
    for (std::size_t e = 0; e < acc.size(); ++e) {
      acc[e].sum_g.add(p.sg[e]);
      acc[e].sum_norm.add(p.sn[e]);
      acc[e].sum_norm_sq.add(p.sn2[e]);
      acc[e].sum_g_norm.add(p.sgn[e]);
      acc[e].sum_g_norm_sq.add(p.sgn2[e]);
      acc[e].max_g_norm = std::max(acc[e].max_g_norm, p.mx[e]);
    }
  }
};

template <>
struct router_statistic<stat::reroute> {
  static constexpr bool needs_reroute = true;
  struct partial {
    std::vector<double> first, sq;
  };
  static partial measure(const engine::router_rows& r) {
    const std::size_t E = static_cast<std::size_t>(r.experts);
    partial p{std::vector<double>(E), std::vector<double>(E)};
    for (std::int64_t i = 0; i < r.tokens * r.k; ++i) {
      const std::size_t e = static_cast<std::size_t>(r.expert[i]);
      p.first[e] += r.reroute_dot[i];
      p.sq[e] += r.reroute_sq[i];
    }
    return p;
  }
  static void add(std::vector<stats::expert_acc>& acc, const partial& p) {
    for (std::size_t e = 0; e < acc.size(); ++e) {
      acc[e].reroute = true;
      acc[e].reroute_first.add(p.first[e]);
      acc[e].reroute_fisher.add(p.first[e] * p.first[e]);  // this batch's (Σ_t δ·Δy)²
      acc[e].reroute_sq.add(p.sq[e]);
    }
  }
};

}  // namespace prismaquant::probe
