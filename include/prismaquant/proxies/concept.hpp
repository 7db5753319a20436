#pragma once
// The Δloss-proxy policy axis: maps (Linear stats, format error statistics) to a predicted
// loss increase. A model of the concept provides
//
//   static constexpr std::string_view name;          // for files, the CLI and messages
//   using needs = stat::list<...>;                   // what it reads (stats/statistic.hpp):
//                                                    //   cost-pass statistics (sse, row_sse, ...)
//                                                    //   and probe statistics (fisher, h_row, ...)
//   double operator()(const stats::linear_stats&, std::string_view fmt,
//                     const stats::format_cost&) const;
//
// The cost pass computes exactly the cost part of `needs` (cost::request_for<needs>), the
// probe the probe part; the allocator checks that the files hold every statistic a proxy
// declared before calling it (so a proxy never reads a missing one as zero).
// An erased proxy (any_proxy, proxies/registry.hpp) gives name() and needs() at run time.
// `check_proxy<P>()` names a missing piece with a static_assert (see
// tests/compile_fail/proxy_missing_*.cpp); examples/02_custom_proxy.cpp writes one.
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/policy.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/linear_stats.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <concepts>
#include <string_view>

namespace prismaquant::proxy {

template <class P>
concept has_proxy_name = static_policy_name<P> || runtime_policy_name<P>;
template <class P>
concept has_proxy_needs = static_policy_needs<P> || runtime_policy_needs<P>;
template <class P>
concept has_proxy_call = requires(const P& p, const stats::linear_stats& s, std::string_view f,
                                  const stats::format_cost& c) {
  { p(s, f, c) } -> std::convertible_to<double>;
};

template <class P>
concept delta_loss_proxy = has_proxy_name<P> && has_proxy_needs<P> && has_proxy_call<P>;

// Use in generic code that takes a proxy: fails with a message naming what is missing.
template <class P>
constexpr bool check_proxy() {
  static_assert(has_proxy_name<P>, "prismaquant proxy: missing `static constexpr std::string_view name`");
  static_assert(has_proxy_needs<P>,
                "prismaquant proxy: missing `using needs = prismaquant::stat::list<...>` "
                "(the statistics it reads: stat::sse, stat::row_sse, stat::act_sse, stat::max_abs, stat::fisher, ...)");
  if constexpr (static_policy_needs<P>)
    static_assert(!P::needs::mask.only(stat::stage::cost).empty(),
                  "prismaquant proxy: `needs` names no statistic of the cost pass (stat::sse, stat::row_sse, "
                  "stat::act_sse or stat::max_abs): a proxy reads a format's error");
  static_assert(has_proxy_call<P>,
                "prismaquant proxy: missing `double operator()(const stats::linear_stats&, std::string_view fmt, "
                "const stats::format_cost&) const`");
  return true;
}

// Throws, naming the Linear, the format and the field, when the stats or costs lack a statistic
// in `needs` (statistics the files cannot hold, such as xtx, are not checked here).
inline void require_stats(stat::set needs, const stats::linear_stats& s, std::string_view fmt,
                          const stats::format_cost& c, std::string_view proxy_name) {
  const std::string w = "linear \"" + s.name + "\" format \"" + std::string(fmt) + "\"";
  const std::string who = "proxy " + std::string(proxy_name) + " needs ";
  if (needs.contains<stat::row_sse>() && c.sse_row.empty())
    throw error(w, who + "per-row SSE (sse_row) in the costs file");
  if (needs.contains<stat::act_sse>() && !c.act_sse) throw error(w, who + "act_sse in the costs file");
  if (needs.contains<stat::h_row>() && s.h_row_sum.empty())
    throw error("linear \"" + s.name + "\"", who + "per-row H (h_row_sum) in the stats file");
  if (needs.contains<stat::xtx_diag>() && s.xtx_diag.empty())
    throw error("linear \"" + s.name + "\"", who + "xtx_diag in the stats file");
  if (needs.contains<stat::first_order>() && !s.first_order_sum.contains(std::string(fmt)))
    throw error(w, who + "the first-order term of this format (first_order_sum) in the stats file: probe --first-order " +
                       std::string(fmt));
}

}  // namespace prismaquant::proxy
