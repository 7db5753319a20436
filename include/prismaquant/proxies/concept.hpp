#pragma once
// The Δloss-proxy policy axis: maps (Linear stats, format error statistics) to a predicted
// loss increase. A model of the concept provides
//
//   static constexpr std::string_view name;          // for files, the CLI and messages
//   using needs = proxy::error_stats<...>;           // which error statistics it reads
//   double operator()(const stats::linear_stats&, std::string_view fmt,
//                     const stats::format_cost&) const;
//
// `check_proxy<P>()` names the missing piece with a static_assert (see
// tests/compile_fail/proxy_missing_needs.cpp); examples/02_custom_proxy.cpp writes one.
#include <prismaquant/core/config.hpp>
#include <prismaquant/proxies/error_stats.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/linear_stats.hpp>

#include <concepts>
#include <string_view>

namespace prismaquant::proxy {

template <class P>
concept has_proxy_name = requires { { P::name } -> std::convertible_to<std::string_view>; };
template <class P>
concept has_proxy_needs = requires { typename P::needs; } && is_error_stats<typename P::needs>::value;
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
                "prismaquant proxy: missing `using needs = prismaquant::proxy::error_stats<...>` "
                "(the error statistics it reads from the cost stage)");
  static_assert(has_proxy_call<P>,
                "prismaquant proxy: missing `double operator()(const stats::linear_stats&, std::string_view fmt, "
                "const stats::format_cost&) const`");
  return true;
}

// Throws when the costs lack a statistic the proxy declared (so a proxy never reads zeros).
inline void require_stats(std::uint32_t mask, const stats::linear_stats& s, std::string_view fmt,
                          const stats::format_cost& c, std::string_view proxy_name) {
  const std::string w = "linear \"" + s.name + "\" format \"" + std::string(fmt) + "\"";
  if ((mask & per_row_sse::bit) && c.sse_row.empty())
    throw error(w, "proxy " + std::string(proxy_name) + " needs per-row SSE (sse_row) in the costs file");
  if ((mask & act_weighted_sse::bit) && !c.act_sse)
    throw error(w, "proxy " + std::string(proxy_name) + " needs act_sse in the costs file");
}

}  // namespace prismaquant::proxy
