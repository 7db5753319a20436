#pragma once
// Correlation of predicted and measured Δloss: Pearson's r, and Spearman's ρ (Pearson's r of
// the ranks, ties given their average rank — scipy.stats.spearmanr's definition). A constant
// series has no correlation: the result is NaN, as scipy's.
#include <prismaquant/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

namespace prismaquant::validate {

inline double pearson(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size()) throw error("correlation", "series of different lengths");
  const std::size_t n = x.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (!(sxx > 0.0) || !(syy > 0.0)) return std::numeric_limits<double>::quiet_NaN();
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

// Ranks 1..n; tied values share the mean of the ranks they span.
inline std::vector<double> average_ranks(std::span<const double> x) {
  std::vector<std::size_t> o(x.size());
  std::iota(o.begin(), o.end(), std::size_t{0});
  std::stable_sort(o.begin(), o.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (std::size_t i = 0; i < o.size();) {
    std::size_t j = i;
    while (j + 1 < o.size() && x[o[j + 1]] == x[o[i]]) ++j;
    const double mean = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) r[o[k]] = mean;
    i = j + 1;
  }
  return r;
}

inline double spearman(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size()) throw error("correlation", "series of different lengths");
  const auto rx = average_ranks(x), ry = average_ranks(y);
  return pearson(rx, ry);
}

}  // namespace prismaquant::validate
