#pragma once
// Non-negative least squares, min ‖A x − b‖₂ subject to x ≥ 0, by the active-set method of
// Lawson & Hanson (Solving Least Squares Problems, 1974, ch. 23) — the algorithm behind
// scipy.optimize.nnls, against which tests/live/test_nnls_scipy.py checks it live.
// Small dense problems (gains per format): the inner least squares is a Householder QR
// (core/least_squares.hpp).
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/least_squares.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace prismaquant::proxy {

struct nnls_result {
  std::vector<double> x;
  double residual_norm = 0.0;  // ‖A x − b‖₂
  int iterations = 0;
};

namespace detail {

// Least squares on the columns `cols` of A (m×n row-major): returns z (size |cols|).
// Householder QR; columns whose pivot is ~0 (rank deficiency) get z = 0.
inline std::vector<double> lstsq_cols(const std::vector<double>& A, std::size_t m, std::size_t n,
                                      const std::vector<double>& b, const std::vector<std::size_t>& cols) {
  const std::size_t k = cols.size();
  std::vector<double> R(m * k), y(b);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t c = 0; c < k; ++c) R[i * k + c] = A[i * n + cols[c]];
  return prismaquant::detail::householder_lstsq(R, m, k, y, 1e-13);
}

}  // namespace detail

// A is m×n, row-major.
inline nnls_result nnls(const std::vector<double>& A, std::size_t m, std::size_t n, const std::vector<double>& b,
                        int max_iter = -1) {
  if (A.size() != m * n || b.size() != m) throw error("nnls", "A must be m×n and b of length m");
  for (double a : A)
    if (!std::isfinite(a)) throw error("nnls", "A has a non-finite entry");
  for (double a : b)
    if (!std::isfinite(a)) throw error("nnls", "b has a non-finite entry");
  if (max_iter < 0) max_iter = static_cast<int>(3 * n) + 10;
  double anorm = 0.0;  // ‖A‖₁ (max column sum), for the stopping tolerance
  for (std::size_t j = 0; j < n; ++j) {
    double s = 0.0;
    for (std::size_t i = 0; i < m; ++i) s += std::fabs(A[i * n + j]);
    anorm = std::max(anorm, s);
  }
  const double tol = 10.0 * std::numeric_limits<double>::epsilon() * anorm * static_cast<double>(std::max(m, n));
  nnls_result res;
  std::vector<double> x(n, 0.0), w(n), r(m);
  std::vector<char> passive(n, 0);
  auto gradient = [&] {
    for (std::size_t i = 0; i < m; ++i) {
      double s = b[i];
      for (std::size_t j = 0; j < n; ++j) s -= A[i * n + j] * x[j];
      r[i] = s;
    }
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::size_t i = 0; i < m; ++i) s += A[i * n + j] * r[i];
      w[j] = s;
    }
  };
  gradient();
  int it = 0;
  while (it < max_iter) {
    std::size_t t = n;
    double best = tol;
    for (std::size_t j = 0; j < n; ++j)
      if (!passive[j] && w[j] > best) { best = w[j]; t = j; }
    if (t == n) break;  // KKT: every inactive gradient ≤ tol
    passive[t] = 1;
    while (it++ < max_iter) {
      std::vector<std::size_t> P;
      for (std::size_t j = 0; j < n; ++j)
        if (passive[j]) P.push_back(j);
      const auto z = detail::lstsq_cols(A, m, n, b, P);
      bool all_pos = true;
      for (double v : z) all_pos = all_pos && v > 0.0;
      if (all_pos) {
        std::fill(x.begin(), x.end(), 0.0);
        for (std::size_t c = 0; c < P.size(); ++c) x[P[c]] = z[c];
        break;
      }
      double alpha = std::numeric_limits<double>::infinity();
      for (std::size_t c = 0; c < P.size(); ++c)
        if (z[c] <= 0.0) alpha = std::min(alpha, x[P[c]] / (x[P[c]] - z[c]));
      for (std::size_t c = 0; c < P.size(); ++c) x[P[c]] += alpha * (z[c] - x[P[c]]);
      for (std::size_t c = 0; c < P.size(); ++c)
        if (x[P[c]] <= tol) { x[P[c]] = 0.0; passive[P[c]] = 0; }
    }
    gradient();
  }
  res.iterations = it;
  double rn = 0.0;
  for (double v : r) rn += v * v;
  res.residual_norm = std::sqrt(rn);
  res.x = std::move(x);
  return res;
}

}  // namespace prismaquant::proxy
