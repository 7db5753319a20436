#pragma once
// Dense least squares min ‖R z − y‖₂ by Householder QR — the one implementation behind NNLS's
// inner solves (proxies/nnls.hpp) and Kneedle's polynomial fit (allocate/kneedle.hpp).
// R is m×k row-major and is overwritten by its triangular factor; y by Qᵀy. A pivot with
// |R_cc| <= tiny_rel · max_c |R_cc| · max(m, k) counts as zero (rank deficiency) and its
// z_c is 0; with tiny_rel = 0 only exact zeros do. For m < k the last k − m entries are 0.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace prismaquant::detail {

inline std::vector<double> householder_lstsq(std::vector<double>& R, std::size_t m, std::size_t k,
                                             std::vector<double> y, double tiny_rel) {
  const std::size_t steps = std::min(m, k);
  std::vector<double> v(m);
  for (std::size_t c = 0; c < steps; ++c) {
    double norm = 0.0;
    for (std::size_t i = c; i < m; ++i) norm += R[i * k + c] * R[i * k + c];
    norm = std::sqrt(norm);
    if (norm == 0.0) continue;
    const double alpha = R[c * k + c] > 0 ? -norm : norm;
    for (std::size_t i = c; i < m; ++i) v[i] = R[i * k + c];
    v[c] -= alpha;
    double vnorm2 = 0.0;
    for (std::size_t i = c; i < m; ++i) vnorm2 += v[i] * v[i];
    if (vnorm2 == 0.0) continue;
    for (std::size_t cc = c; cc < k; ++cc) {
      double d = 0.0;
      for (std::size_t i = c; i < m; ++i) d += v[i] * R[i * k + cc];
      d = 2.0 * d / vnorm2;
      for (std::size_t i = c; i < m; ++i) R[i * k + cc] -= d * v[i];
    }
    double d = 0.0;
    for (std::size_t i = c; i < m; ++i) d += v[i] * y[i];
    d = 2.0 * d / vnorm2;
    for (std::size_t i = c; i < m; ++i) y[i] -= d * v[i];
  }
  std::vector<double> z(k, 0.0);
  double rmax = 0.0;
  for (std::size_t c = 0; c < steps; ++c) rmax = std::max(rmax, std::fabs(R[c * k + c]));
  const double tiny = rmax * tiny_rel * static_cast<double>(std::max(m, k));
  for (std::size_t c = steps; c-- > 0;) {
    if (std::fabs(R[c * k + c]) <= tiny) {
      z[c] = 0.0;
      continue;
    }
    double s = y[c];
    for (std::size_t cc = c + 1; cc < k; ++cc) s -= R[c * k + cc] * z[cc];
    z[c] = s / R[c * k + c];
  }
  return z;
}

}  // namespace prismaquant::detail
