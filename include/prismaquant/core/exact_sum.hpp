#pragma once
// exact_sum: a sum of doubles kept EXACTLY, as a short list of non-overlapping doubles
// (Shewchuk's expansion, the algorithm behind Python's math.fsum).
//
// The library's one compensated sum: statistics, and the solvers' Δloss totals and bounds.
//
// Why: statistics are accumulated in shards (GPUs, calibration batches, domains) and merged
// later. A plain double sum depends on the order of additions, so two merges of the same
// shards could differ in the last bits and the allocation could flip. The expansion holds
// the exact real sum of everything added, so value() — the correctly rounded (RNE) double of
// that exact sum — is the same bit for bit whatever the order of add() and merge() calls.
// Each add is O(number of partials), usually 1–3; up to 8 partials live inside the object
// (no allocation: the solvers add millions of terms), more spill to the heap.
#include <prismaquant/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace prismaquant {

class exact_sum {
 public:
  exact_sum() = default;
  explicit exact_sum(double x) { add(x); }

  // Add one finite double. NaN/Inf would poison the expansion: refuse them.
  void add(double x) {
    if (!std::isfinite(x)) throw error("exact_sum", "refusing a non-finite addend");
    double* p = data();
    std::size_t i = 0;
    for (std::size_t k = 0; k < n_; ++k) {
      double y = p[k];
      if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
      const double hi = x + y;
      const double lo = y - (hi - x);  // exact error of hi (Fast-Two-Sum, |x| >= |y|)
      if (lo != 0.0) p[i++] = lo;
      x = hi;
    }
    n_ = i;
    if (x != 0.0) push(x);
  }

  // Merge another exact sum: exact, so associative and commutative in value().
  void merge(const exact_sum& o) {
    for (double p : o.partials()) add(p);
  }
  exact_sum& operator+=(double x) { add(x); return *this; }
  exact_sum& operator+=(const exact_sum& o) { merge(o); return *this; }

  // Correctly rounded value of the exact sum (same final step as CPython's math.fsum).
  double value() const {
    const double* p = data();
    std::size_t n = n_;
    if (n == 0) return 0.0;
    double hi = p[--n];
    double lo = 0.0;
    while (n > 0) {
      const double x = hi;
      const double y = p[--n];
      hi = x + y;
      const double yr = hi - x;
      lo = y - yr;
      if (lo != 0.0) break;
    }
    // Half-way case: make the rounding agree with the sign of the remaining partials.
    if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
      const double y = lo * 2.0;
      const double x = hi + y;
      const double yr = x - hi;
      if (y == yr) hi = x;
    }
    return hi;
  }

  // The expansion itself (increasing magnitude, non-overlapping). Serialised as is, so a
  // file round trip keeps the sum exact.
  std::span<const double> partials() const noexcept { return {data(), n_}; }
  // A canonical expansion of the exact sum: v0 = value(), v1 = rounded remainder, … (largest
  // first). Unlike partials() it depends only on the exact value, never on the order of the
  // additions, so files written from equal sums are byte-identical.
  std::vector<double> canonical() const {
    std::vector<double> out;
    exact_sum rest = *this;
    for (int guard = 0; guard < 64; ++guard) {
      const double v = rest.value();
      if (v == 0.0) break;
      out.push_back(v);
      rest.add(-v);  // exact: the remainder stays representable as an expansion
    }
    return out;
  }
  static exact_sum from_partials(const std::vector<double>& p) {
    exact_sum s;
    for (double x : p) s.add(x);
    return s;
  }

 private:
  static constexpr std::size_t inline_n = 8;
  double* data() noexcept { return heap_.empty() ? inline_ : heap_.data(); }
  const double* data() const noexcept { return heap_.empty() ? inline_ : heap_.data(); }
  void push(double x) {
    if (heap_.empty() && n_ < inline_n) {
      inline_[n_++] = x;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + n_);  // spill, then stay on the heap
    heap_.resize(n_);
    heap_.push_back(x);
    ++n_;
  }

  double inline_[inline_n] = {};
  std::size_t n_ = 0;
  std::vector<double> heap_;  // all partials once more than inline_n were needed (size >= n_)
};

}  // namespace prismaquant
