#pragma once
// Knee detection on a Pareto curve.
//
// * `kneedle`: Satopää et al.'s Kneedle as the `kneed` package (0.9.0, KneeLocator) computes
//   it, parameter for parameter: S (sensitivity), curve (concave/convex), direction
//   (increasing/decreasing), online, interp_method (interp1d = no smoothing, polynomial =
//   least-squares polynomial of `polynomial_degree`). Checked live against kneed by
//   tests/live/test_kneedle_kneed.py on kneed's own example curves and random ones.
//   The numerics follow numpy where it matters for ties (pairwise summation in mean()).
// * `knee_simple`: the reference allocator's variant (RobTand/prismaquant allocator.py
//   `_kneedle_convex_decreasing`): min-max normalise, knee = argmin y_n − (1 − x_n), no
//   smoothing, no threshold; index 0 for fewer than 3 points or a flat axis.
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/least_squares.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace prismaquant::allocate {

enum class knee_curve { concave, convex };
enum class knee_direction { increasing, decreasing };
enum class knee_interp { interp1d, polynomial };

struct kneedle_options {
  double S = 1.0;
  knee_curve curve = knee_curve::concave;        // kneed's defaults
  knee_direction direction = knee_direction::increasing;
  knee_interp interp = knee_interp::interp1d;
  bool online = false;
  int polynomial_degree = 7;
};

struct kneedle_result {
  std::optional<double> knee, knee_y, norm_knee, norm_knee_y;
  std::optional<std::size_t> index;      // position of the knee in x (first x equal to it)
  std::vector<double> all_knees, all_knees_y, all_norm_knees, all_norm_knees_y;
};

namespace detail {

// numpy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src, PW_BLOCKSIZE 128).
inline double np_pairwise_sum(const double* a, std::size_t n) {
  if (n < 8) {
    double res = 0.0;  // numpy starts from -0.0 to keep the sign of empty/negative-zero sums
    res = -0.0;
    for (std::size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    std::size_t i;
    for (i = 8; i < n - (n % 8); i += 8)
      for (int k = 0; k < 8; ++k) r[k] += a[i + k];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return np_pairwise_sum(a, n2) + np_pairwise_sum(a + n2, n - n2);
}

inline std::vector<double> normalize(const std::vector<double>& a) {
  const auto [mn, mx] = std::minmax_element(a.begin(), a.end());
  const double lo = *mn, hi = *mx;
  std::vector<double> o(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) o[i] = (a[i] - lo) / (hi - lo);
  return o;
}

// np.polyfit(x, y, deg) then np.poly1d(...)(x): scaled Vandermonde, least squares by
// Householder QR (numpy uses an SVD; the fitted values agree to rounding).
inline std::vector<double> polyfit_eval(const std::vector<double>& x, const std::vector<double>& y, int deg) {
  const std::size_t m = x.size(), k = static_cast<std::size_t>(deg) + 1;
  if (m < k) throw error("kneedle", "polynomial_degree must be below the number of points");
  std::vector<double> A(m * k), scale(k, 0.0), b(y);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t c = 0; c < k; ++c) A[i * k + c] = std::pow(x[i], static_cast<double>(k - 1 - c));
  for (std::size_t c = 0; c < k; ++c) {
    for (std::size_t i = 0; i < m; ++i) scale[c] += A[i * k + c] * A[i * k + c];
    scale[c] = std::sqrt(scale[c]);
    if (scale[c] == 0.0) scale[c] = 1.0;
    for (std::size_t i = 0; i < m; ++i) A[i * k + c] /= scale[c];
  }
  std::vector<double> coef = prismaquant::detail::householder_lstsq(A, m, k, b, 0.0);
  for (std::size_t c = 0; c < k; ++c) coef[c] /= scale[c];
  std::vector<double> out(m);
  for (std::size_t i = 0; i < m; ++i) {
    double acc = 0.0;
    for (std::size_t c = 0; c < k; ++c) acc = acc * x[i] + coef[c];
    out[i] = acc;
  }
  return out;
}

}  // namespace detail

inline kneedle_result kneedle(const std::vector<double>& x, const std::vector<double>& y, const kneedle_options& o = {}) {
  if (x.size() != y.size()) throw error("kneedle", "x and y must be the same length");
  kneedle_result res;
  const std::size_t N = x.size();
  if (N < 2) return res;
  const std::vector<double> Ds_y = o.interp == knee_interp::interp1d ? y : detail::polyfit_eval(x, y, o.polynomial_degree);
  std::vector<double> xn = detail::normalize(x);
  std::vector<double> yn = detail::normalize(Ds_y);
  const bool dec = o.direction == knee_direction::decreasing, convex = o.curve == knee_curve::convex;
  // transform_y: turn every case into a concave increasing curve
  if (dec) {
    if (!convex) std::reverse(yn.begin(), yn.end());
    else {
      const double mx = *std::max_element(yn.begin(), yn.end());
      for (auto& v : yn) v = mx - v;
    }
  } else if (convex) {
    const double mx = *std::max_element(yn.begin(), yn.end());
    for (auto& v : yn) v = mx - v;
    std::reverse(yn.begin(), yn.end());
  }
  if ((dec && !convex) || (!dec && convex)) {  // mirror x by value too (kneed 0.9)
    for (auto& v : xn) v = 1.0 - v;
    std::reverse(xn.begin(), xn.end());
  }
  std::vector<double> yd(N);
  for (std::size_t i = 0; i < N; ++i) yd[i] = yn[i] - xn[i];
  const std::vector<double>& xd = xn;
  // argrelextrema(order=1, mode='clip'): compare with both neighbours, the edges with themselves
  std::vector<std::size_t> maxima, minima;
  for (std::size_t i = 0; i < N; ++i) {
    const double l = yd[i == 0 ? 0 : i - 1], r = yd[i + 1 < N ? i + 1 : N - 1];
    if (yd[i] >= l && yd[i] >= r) maxima.push_back(i);
    if (yd[i] <= l && yd[i] <= r) minima.push_back(i);
  }
  std::vector<double> dx(N - 1);
  for (std::size_t i = 0; i + 1 < N; ++i) dx[i] = xn[i + 1] - xn[i];
  const double mean_dx = detail::np_pairwise_sum(dx.data(), dx.size()) / static_cast<double>(dx.size());
  std::vector<double> Tmx(maxima.size());
  for (std::size_t k = 0; k < maxima.size(); ++k) Tmx[k] = yd[maxima[k]] - o.S * std::fabs(mean_dx);
  if (maxima.empty()) return res;

  auto first_index_of = [](const std::vector<double>& a, double v) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] == v) return i;
    return std::nullopt;
  };
  std::size_t max_ti = 0;
  double threshold = 0.0;
  std::size_t threshold_index = 0;
  bool detection_active = true;
  std::optional<double> knee, norm_knee;
  for (std::size_t i = 0; i < N; ++i) {
    if (i < maxima[0]) continue;
    const std::size_t j = i + 1;
    if (i == N - 1) break;
    if (std::find(maxima.begin(), maxima.end(), i) != maxima.end()) {
      threshold = Tmx[max_ti];
      threshold_index = i;
      ++max_ti;
      detection_active = true;
    }
    if (std::find(minima.begin(), minima.end(), i) != minima.end()) {
      threshold = 0.0;
      detection_active = false;
    }
    if (detection_active && yd[j] < threshold) {
      double k, nk;
      const bool flipped_index = (convex && !dec) || (!convex && dec);
      k = flipped_index ? x[N - 1 - threshold_index] : x[threshold_index];
      nk = xn[threshold_index];
      const auto ki = first_index_of(x, k);
      const double y_at = y[*ki];
      const auto nki = first_index_of(xn, nk);
      const double yn_at = yn[*nki];
      if (std::find(res.all_knees.begin(), res.all_knees.end(), k) == res.all_knees.end()) {
        res.all_knees.push_back(k);
        res.all_norm_knees.push_back(nk);
        res.all_knees_y.push_back(y_at);
        res.all_norm_knees_y.push_back(yn_at);
      }
      knee = k;
      norm_knee = nk;
      if (!o.online) break;
    }
  }
  (void)xd;
  if (res.all_knees.empty()) return res;
  res.knee = knee;
  res.norm_knee = norm_knee;
  res.index = first_index_of(x, *knee);
  res.knee_y = y[*res.index];
  res.norm_knee_y = yn[*first_index_of(xn, *norm_knee)];
  return res;
}

inline std::size_t knee_simple(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw error("knee_simple", "x and y must be the same length");
  if (x.size() < 3) return 0;
  const auto [xmn, xmx] = std::minmax_element(x.begin(), x.end());
  const auto [ymn, ymx] = std::minmax_element(y.begin(), y.end());
  if (*xmx == *xmn || *ymx == *ymn) return 0;
  std::size_t best = 0;
  double bd = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double xn = (x[i] - *xmn) / (*xmx - *xmn), yn = (y[i] - *ymn) / (*ymx - *ymn);
    const double d = yn - (1.0 - xn);
    if (d < bd) { bd = d; best = i; }  // first minimum, as Python's min(range, key=...)
  }
  return best;
}

}  // namespace prismaquant::allocate
