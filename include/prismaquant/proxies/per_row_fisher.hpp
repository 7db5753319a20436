#pragma once
// Per-row Fisher: Δloss = Σ_r 0.5 · H_r · SSE_r / in_features.
// Keeps the Fisher's variation across output rows (outlier channels) that the trace proxy
// averages away; equals fisher_trace when H_r and SSE_r are uniform across rows.
#include <prismaquant/proxies/concept.hpp>

namespace prismaquant::proxy {

struct per_row_fisher {
  static constexpr std::string_view name = "per_row_fisher";
  using needs = stat::list<stat::h_row, stat::row_sse>;
  double operator()(const stats::linear_stats& s, std::string_view fmt, const stats::format_cost& c) const {
    require_stats(needs::mask, s, fmt, c, name);
    if (c.sse_row.size() != s.h_row_sum.size())
      throw error("linear \"" + s.name + "\"", "sse_row and h_row lengths differ");
    double acc = 0.0;
    for (std::size_t r = 0; r < c.sse_row.size(); ++r) acc += s.h_row(r) * c.sse_row[r];
    return 0.5 * acc / static_cast<double>(s.in_features);
  }
};
static_assert(check_proxy<per_row_fisher>());

}  // namespace prismaquant::proxy
