#pragma once
// The cost pass's view of a statistics list (stats/statistic.hpp): which error statistics it
// computes, as constexpr flags, so every branch on a statistic that was not asked for is an
// `if constexpr` — nothing unneeded is computed or stored.
//
//   using req = pq::cost::request<pq::stat::sse, pq::stat::max_abs>;
//   using req = pq::cost::request_for<P::needs>;   // a policy's needs, the cost part of them
//
// `cost::stat` is the one vocabulary, `prismaquant::stat`.
#include <prismaquant/core/config.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <type_traits>

namespace prismaquant::cost {

namespace stat = prismaquant::stat;

template <class... Stats>
struct request {
  static_assert(sizeof...(Stats) > 0, "cost::request needs at least one statistic of the cost pass (stat::sse, ...)");
  static_assert(((Stats::of == stat::stage::cost) && ...),
                "cost::request: every statistic must be one the cost pass computes: stat::{sse,row_sse,act_sse,max_abs}");
  static constexpr bool sse = (std::is_same_v<Stats, stat::sse> || ...);
  static constexpr bool row_sse = (std::is_same_v<Stats, stat::row_sse> || ...);
  static constexpr bool act_sse = (std::is_same_v<Stats, stat::act_sse> || ...);
  static constexpr bool max_abs = (std::is_same_v<Stats, stat::max_abs> || ...);
  // Any squared-error sum at all (row sums are the unit the total is reduced from).
  static constexpr bool any_sse = sse || row_sse;
  static constexpr stat::set mask = stat::list<Stats...>::mask;
};

using all_stats = request<stat::sse, stat::row_sse, stat::act_sse, stat::max_abs>;

template <class T>
struct is_request : std::false_type {};
template <class... S>
struct is_request<request<S...>> : std::true_type {};

namespace detail {
template <class L>
struct request_of {
  static_assert(stat::is_list<L>::value, "cost::request_for: pass a stat::list<...>");
};
template <class... S>
struct request_of<stat::list<S...>> {
  using type = request<S...>;
};
}  // namespace detail

// The cost-pass part of a statistics list, as a request.
template <class L>
using request_for = typename detail::request_of<typename L::template only<stat::stage::cost>>::type;

}  // namespace prismaquant::cost
