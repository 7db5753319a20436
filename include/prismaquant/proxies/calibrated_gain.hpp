#pragma once
// Calibrated-gain decorator: Δloss = gain[fmt] · Base(stats, fmt, costs).
// The gains correct a proxy's per-format bias (e.g. it under-predicts NVFP4 relative to
// MXFP8). They are fit by non-negative least squares to measured Δloss points: each point is
// an allocation whose true Δloss was measured (KL or loss on held-out data), and its row of
// the design matrix is, per format, the Base Δloss summed over the Linears stored in that
// format. Gains are ≥ 0 (a negative gain would reward error).
#include <prismaquant/proxies/concept.hpp>
#include <prismaquant/proxies/nnls.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace prismaquant::proxy {

struct dloss_measurement {
  std::map<std::string, double> base_dloss_by_format;  // Σ Base Δloss of the Linears in each format
  double measured = 0.0;                               // measured Δloss of the whole allocation
};

template <delta_loss_proxy Base>
struct calibrated_gain {
  static constexpr std::string_view name = "calibrated_gain";
  using needs = typename Base::needs;

  Base base{};
  std::map<std::string, double, std::less<>> gains;  // per format; a missing format has gain 1
  double residual_norm = 0.0;                         // of the fit

  double gain(std::string_view fmt) const {
    auto it = gains.find(fmt);
    return it == gains.end() ? 1.0 : it->second;
  }
  double operator()(const stats::linear_stats& s, std::string_view fmt, const stats::format_cost& c) const {
    return gain(fmt) * base(s, fmt, c);
  }

  static calibrated_gain fit(const std::vector<dloss_measurement>& pts, Base b = {}) {
    if (pts.empty()) throw error("calibrated_gain", "no measured Δloss points to fit");
    std::vector<std::string> fmts;
    for (auto& p : pts)
      for (auto& [f, v] : p.base_dloss_by_format) {
        if (!std::isfinite(v) || v < 0.0) throw error("calibrated_gain", "negative or non-finite Base Δloss for " + f);
        if (std::find(fmts.begin(), fmts.end(), f) == fmts.end()) fmts.push_back(f);
      }
    std::sort(fmts.begin(), fmts.end());
    const std::size_t m = pts.size(), n = fmts.size();
    std::vector<double> A(m * n, 0.0), y(m);
    for (std::size_t i = 0; i < m; ++i) {
      if (!std::isfinite(pts[i].measured)) throw error("calibrated_gain", "measured Δloss is not finite");
      y[i] = pts[i].measured;
      for (std::size_t j = 0; j < n; ++j) {
        auto it = pts[i].base_dloss_by_format.find(fmts[j]);
        if (it != pts[i].base_dloss_by_format.end()) A[i * n + j] = it->second;
      }
    }
    const auto r = nnls(A, m, n, y);
    calibrated_gain g;
    g.base = b;
    for (std::size_t j = 0; j < n; ++j) g.gains[fmts[j]] = r.x[j];
    g.residual_norm = r.residual_norm;
    return g;
  }
};

}  // namespace prismaquant::proxy
