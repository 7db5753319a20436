#pragma once
// The compile-time statistics request: which error statistics the cost pass computes.
//
//   using req = pq::cost::request<pq::cost::stat::sse, pq::cost::stat::max_abs>;
//
// A Δloss proxy names the statistics it needs (design.md "Δloss proxy"); the pass turns the
// request into constexpr flags, and every branch on a statistic that was not asked for is an
// `if constexpr` — nothing unneeded is computed or stored.
#include <prismaquant/core/config.hpp>

#include <type_traits>

namespace prismaquant::cost {

namespace stat {
struct sse {};          // Σ (w - ŵ)²  over the tensor
struct row_sse {};      // Σ_j (w_ij - ŵ_ij)²  per output row i
struct act_sse {};      // Σ_ij a_j (w_ij - ŵ_ij)²  for a per-input-column weight a (e.g. diag(XᵀX))
struct max_abs {};      // max |w - ŵ|
}  // namespace stat

namespace detail {
template <class S>
inline constexpr bool is_stat_v = std::is_same_v<S, stat::sse> || std::is_same_v<S, stat::row_sse> ||
                                  std::is_same_v<S, stat::act_sse> || std::is_same_v<S, stat::max_abs>;
}

template <class... Stats>
struct request {
  static_assert(sizeof...(Stats) > 0, "cost::request needs at least one statistic (cost::stat::...)");
  static_assert((detail::is_stat_v<Stats> && ...),
                "cost::request: every argument must be one of cost::stat::{sse,row_sse,act_sse,max_abs}");
  static constexpr bool sse = (std::is_same_v<Stats, stat::sse> || ...);
  static constexpr bool row_sse = (std::is_same_v<Stats, stat::row_sse> || ...);
  static constexpr bool act_sse = (std::is_same_v<Stats, stat::act_sse> || ...);
  static constexpr bool max_abs = (std::is_same_v<Stats, stat::max_abs> || ...);
  // Any squared-error sum at all (row sums are the unit the total is reduced from).
  static constexpr bool any_sse = sse || row_sse;
};

using all_stats = request<stat::sse, stat::row_sse, stat::act_sse, stat::max_abs>;

template <class T>
struct is_request : std::false_type {};
template <class... S>
struct is_request<request<S...>> : std::true_type {};

}  // namespace prismaquant::cost
