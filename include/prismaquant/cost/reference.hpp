#pragma once
// Scalar reference for the cost stage: the round-trip error statistics of one weight under one
// format, computed element by element without materialising the quantize-dequantize result.
// The fused cost passes (CPU SIMD, CUDA) are tested against this. Host-only.
//
//   auto s = cost::reference_stats<formats::nvfp4>(w);                 // own tensor stats
//   auto s = cost::reference_stats<formats::nvfp4>(w, stats, act);     // shared stats, act[in]
//   s.sum_sq        Σ_ij (w_ij - ŵ_ij)²
//   s.row_sq[i]     Σ_j (w_ij - ŵ_ij)²                  (per output row)
//   s.weighted_sq   Σ_ij a_j (w_ij - ŵ_ij)²             (only when act is given)
//   s.max_abs       max_ij |w_ij - ŵ_ij|
// Accumulation is in double: each difference is formed in double from the two floats
// (exact), squared and added per row in column order; totals are sums of the row sums in
// row order (so the result does not depend on the format's block shape).
#include <prismaquant/formats/encode.hpp>

#include <cmath>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::cost {

struct error_stats {
  std::int64_t rows = 0, cols = 0;
  double sum_sq = 0.0;
  std::vector<double> row_sq;
  bool has_weighted = false;
  double weighted_sq = 0.0;
  double max_abs = 0.0;

  double mse() const { return rows * cols > 0 ? sum_sq / static_cast<double>(rows * cols) : 0.0; }
};

namespace detail {
// Accumulates one element; shared by the reference and by tests that check it.
struct error_accumulator {
  error_stats s;
  std::vector<double> row_w;  // per-row activation-weighted sums
  std::span<const float> act;

  error_accumulator(std::int64_t rows, std::int64_t cols, std::span<const float> a) : act(a) {
    s.rows = rows;
    s.cols = cols;
    s.row_sq.assign(static_cast<std::size_t>(rows), 0.0);
    s.has_weighted = !a.empty();
    if (s.has_weighted) row_w.assign(static_cast<std::size_t>(rows), 0.0);
  }
  void add(std::int64_t i, std::int64_t j, float w, float q) noexcept {
    const double d = static_cast<double>(w) - static_cast<double>(q);
    const double d2 = d * d;
    s.row_sq[static_cast<std::size_t>(i)] += d2;
    if (s.has_weighted) row_w[static_cast<std::size_t>(i)] += static_cast<double>(act[static_cast<std::size_t>(j)]) * d2;
    const double ad = std::fabs(d);
    s.max_abs = ad > s.max_abs ? ad : s.max_abs;
  }
  error_stats finish() {
    for (double v : s.row_sq) s.sum_sq += v;
    for (double v : row_w) s.weighted_sq += v;
    return std::move(s);
  }
};
inline void check_act(std::int64_t cols, std::span<const float> act, std::string_view where) {
  if (!act.empty() && static_cast<std::int64_t>(act.size()) != cols)
    throw error(std::string(where), "activation weights have " + std::to_string(act.size()) +
                                        " entries, the weight has " + std::to_string(cols) + " input columns");
}
}  // namespace detail

// Statistics of decode(encode(w, stats)) against w, block by block.
template <class F>
error_stats reference_stats(const formats::weight_view& w, const formats::tensor_stats& stats,
                            std::span<const float> act = {}) {
  static_assert(formats::check_format<F>());
  w.validate();
  F::check_shape(w.rows, w.cols, w.name);
  detail::check_act(w.cols, act, w.name);
  detail::error_accumulator acc(w.rows, w.cols, act);
  if constexpr (requires { F::pass_through(w); }) {
    if (auto e = F::pass_through(w)) {  // round trip of a pass-through source is the source itself
      const std::vector<float> q = formats::decode<F>(*e, w.name);
      for (std::int64_t i = 0; i < w.rows; ++i)
        for (std::int64_t j = 0; j < w.cols; ++j) acc.add(i, j, w.at(i, j), q[static_cast<std::size_t>(i * w.cols + j)]);
      return acc.finish();
    }
  }
  const typename F::tensor_params tp = F::prepare(stats);
  // Rows of a band are visited block by block, but each row's elements still arrive in
  // column order, so per-row sums are independent of the block shape.
  formats::for_each_block<F>(w, tp, [&](std::int64_t, std::int64_t, std::int64_t i0, std::int64_t i1, std::int64_t j0,
                                        std::int64_t j1, const float* band, const typename F::block_params& bp) {
    for (std::int64_t i = i0; i < i1; ++i)
      for (std::int64_t j = j0; j < j1; ++j) {
        const float x = band[(i - i0) * w.cols + j];
        acc.add(i, j, x, formats::round_trip<F>(bp, x));
      }
  });
  return acc.finish();
}

template <class F>
error_stats reference_stats(const formats::weight_view& w, std::span<const float> act = {}) {
  return reference_stats<F>(w, formats::measure(w), act);
}

// The same statistics from a materialised round trip q[rows * cols] (for tests and tools).
inline error_stats stats_from_round_trip(const formats::weight_view& w, std::span<const float> q,
                                         std::span<const float> act = {}) {
  detail::check_act(w.cols, act, w.name);
  if (static_cast<std::int64_t>(q.size()) != w.rows * w.cols)
    throw error(std::string(w.name), "round-trip result has the wrong size");
  detail::error_accumulator acc(w.rows, w.cols, act);
  for (std::int64_t i = 0; i < w.rows; ++i)
    for (std::int64_t j = 0; j < w.cols; ++j) acc.add(i, j, w.at(i, j), q[static_cast<std::size_t>(i * w.cols + j)]);
  return acc.finish();
}

// The quantize-dequantize result itself, float32 [rows * cols].
template <class F>
std::vector<float> reference_round_trip(const formats::weight_view& w, const formats::tensor_stats& stats) {
  return formats::round_trip<F>(w, stats);
}

}  // namespace prismaquant::cost
