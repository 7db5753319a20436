#pragma once
// The reference proxy: Δloss = 0.5 · H_trace · MSE_W (docs/allocation.md).
// Second-order expansion with the Fisher replaced by its trace spread evenly over the
// weights (HAWQ-style); RobTand/prismaquant allocator.py eq. (3).
#include <prismaquant/proxies/concept.hpp>

namespace prismaquant::proxy {

PQ_HD constexpr double fisher_trace_dloss(double h_trace, double sse, double n) noexcept {
  return n > 0.0 ? 0.5 * h_trace * (sse / n) : 0.0;
}

struct fisher_trace {
  static constexpr std::string_view name = "fisher_trace";
  using needs = stat::list<stat::fisher, stat::sse>;
  double operator()(const stats::linear_stats& s, std::string_view, const stats::format_cost& c) const {
    return fisher_trace_dloss(s.h_trace(), c.sse, static_cast<double>(c.n));
  }
};
static_assert(check_proxy<fisher_trace>());

}  // namespace prismaquant::proxy
