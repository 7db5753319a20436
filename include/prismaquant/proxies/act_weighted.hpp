#pragma once
// Activation-weighted output error: the reference's 0.5·H_trace·MSE_W with each element's
// squared error weighted by its input column's relative activation energy,
//   Δloss = 0.5 · H_trace · act_sse / (n · m̄),   m_j = E[x_j²], m̄ = mean_j m_j,
// where act_sse = Σ_{r,j} m_j (W − Ŵ)²_rj ≈ E_x ‖(W − Ŵ) x‖² (diagonal approximation).
// Errors on columns that carry large activations cost more (AWQ / GPTQ intuition); equals
// fisher_trace when all columns carry the same energy.
#include <prismaquant/proxies/concept.hpp>

namespace prismaquant::proxy {

struct act_weighted {
  static constexpr std::string_view name = "act_weighted";
  using needs = stat::list<stat::fisher, stat::xtx_diag, stat::act_sse>;
  double operator()(const stats::linear_stats& s, std::string_view fmt, const stats::format_cost& c) const {
    require_stats(needs::mask, s, fmt, c, name);
    double msum = 0.0;
    for (double v : s.xtx_diag) msum += v;
    if (msum <= 0.0 || s.rows_seen <= 0) return 0.0;  // no activation energy: the output error is zero
    const double mbar = msum / static_cast<double>(s.rows_seen) / static_cast<double>(s.in_features);
    return 0.5 * s.h_trace() * (*c.act_sse) / (static_cast<double>(c.n) * mbar);
  }
};
static_assert(check_proxy<act_weighted>());

}  // namespace prismaquant::proxy
