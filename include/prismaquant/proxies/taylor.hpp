#pragma once
// Δloss to second order with the first-order term kept:
//
//   Δloss ≈ ⟨g, ΔW⟩ + ½·H_trace·MSE_W,   ⟨g, ΔW⟩ = first_order_sum[f] / rows_seen
//
// where first_order_sum[f] = Σ_b ⟨G_b, Q_f(W) − W⟩ is measured by the probe for the format itself
// (`probe --first-order FORMATS`) and the second term is fisher_trace's. A model that is not at a
// minimum of its calibration loss has g ≠ 0, and for fine formats the first term can outweigh the
// second, with either sign (papers/method.md §2.2). Unlike the second-order proxies this one can
// be negative: a format may lower the calibration loss.
#include <prismaquant/proxies/fisher_trace.hpp>

namespace prismaquant::proxy {

struct taylor {
  static constexpr std::string_view name = "taylor";
  using needs = stat::list<stat::fisher, stat::first_order, stat::sse>;
  double operator()(const stats::linear_stats& s, std::string_view fmt, const stats::format_cost& c) const {
    const auto first = s.first_order(fmt);
    if (!first)
      throw error("linear \"" + s.name + "\" format \"" + std::string(fmt) + "\"",
                  "proxy taylor needs its first-order term (first_order_sum) in the stats file: probe --first-order " +
                      std::string(fmt));
    return *first + fisher_trace_dloss(s.h_trace(), c.sse, static_cast<double>(c.n));
  }
};
static_assert(check_proxy<taylor>());

}  // namespace prismaquant::proxy
