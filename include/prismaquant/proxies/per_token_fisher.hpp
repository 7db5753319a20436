#pragma once
// Per-token Fisher: Δloss = 0.5 · (fisher_token_sum / rows_seen) · SSE / n, the trace proxy
// with the per-token empirical Fisher Σ_t ‖δ_t‖²·‖x_t‖² in place of the per-batch one
// Σ_b ‖Σ_{t∈b} δ_t x_tᵀ‖². The two differ by the cross terms between the tokens of a batch:
// the per-token trace has none, so it does not grow with how aligned a batch's gradients are.
#include <prismaquant/proxies/concept.hpp>

namespace prismaquant::proxy {

struct per_token_fisher {
  static constexpr std::string_view name = "per_token_fisher";
  using needs = stat::list<stat::fisher_token, stat::sse>;
  double operator()(const stats::linear_stats& s, std::string_view fmt, const stats::format_cost& c) const {
    if (!s.fisher_token_sum)
      throw error("linear \"" + s.name + "\" format \"" + std::string(fmt) + "\"",
                  "proxy per_token_fisher needs fisher_token_sum in the stats file");
    if (s.rows_seen <= 0 || c.n <= 0) return 0.0;
    return 0.5 * (s.fisher_token_sum->value() / static_cast<double>(s.rows_seen)) * (c.sse / static_cast<double>(c.n));
  }
};
static_assert(check_proxy<per_token_fisher>());

}  // namespace prismaquant::proxy
