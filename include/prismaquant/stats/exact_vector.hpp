#pragma once
// exact_vector: a vector of sums kept EXACTLY, element by element, in a compact form.
//
// Why: a statistics vector (h_row_sum, xtx_diag, ...) is accumulated batch by batch, on shards
// that run in any order, and must merge into the same bits as a single run (exact_sum.hpp has
// the reasoning for scalars). Almost every element's exact sum fits two doubles — its correctly
// rounded value hi and the exact remainder lo — so that is what is stored: 16 bytes per element.
// The rare element whose exact sum needs more moves to a full exact_sum. (hi, lo) depends only on
// the exact value, so values() and expansion() are bit-identical for any order of add / merge.
#include <prismaquant/stats/exact_sum.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <iterator>
#include <vector>

namespace prismaquant::stats {

class exact_vector {
 public:
  exact_vector() = default;
  explicit exact_vector(std::size_t n) : hi_(n, 0.0), lo_(n, 0.0), big_(n, 0) {}

  std::size_t size() const noexcept { return hi_.size(); }
  bool empty() const noexcept { return hi_.empty(); }

  // Adds x (finite) to element i, exactly.
  void add(std::size_t i, double x) {
    if (!std::isfinite(x)) throw error("exact_vector", "refusing a non-finite addend");
    if (big_[i]) {
      over_[i].add(x);
      return;
    }
    double s, e, t, f;
    two_sum(hi_[i], x, s, e);  // s + e + lo = the new exact sum
    two_sum(e, lo_[i], t, f);  // = s + t + f
    if (f != 0.0) {
      double u, v, w, z;
      two_sum(s, t, u, v);  // = u + v + f
      two_sum(v, f, w, z);  // = u + w + z
      if (z != 0.0) {       // needs three doubles: keep the full expansion
        exact_sum full;
        full.add(lo_[i]);
        full.add(hi_[i]);
        full.add(x);
        over_[i] = std::move(full);
        big_[i] = 1;
        hi_[i] = lo_[i] = 0.0;
        return;
      }
      s = u;
      t = w;
    }
    two_sum(s, t, hi_[i], lo_[i]);  // hi = RN(exact), lo = exact − hi
  }
  // x[0..size) added element-wise.
  void add(const double* x) {
    for (std::size_t i = 0; i < hi_.size(); ++i) add(i, x[i]);
  }

  void merge(const exact_vector& o) {
    if (o.size() != size()) throw error("exact_vector", "cannot merge vectors of different lengths");
    for (std::size_t i = 0; i < size(); ++i) {
      if (o.big_[i]) {
        for (double p : o.over_.at(i).partials()) add(i, p);
      } else {
        add(i, o.lo_[i]);
        add(i, o.hi_[i]);
      }
    }
  }

  // Correctly rounded value of element i.
  double value(std::size_t i) const { return big_[i] ? over_.at(i).value() : hi_[i]; }
  std::vector<double> values() const {
    std::vector<double> v(size());
    for (std::size_t i = 0; i < size(); ++i) v[i] = value(i);
    return v;
  }
  // The canonical expansion as rows: rows[0] = values(), rows[k] = the k-th remainder of each
  // element (exact_sum::canonical()), zero where an element has fewer terms. Σ_k rows[k][i] is
  // the exact sum of element i. Trailing all-zero rows are dropped.
  std::vector<std::vector<double>> expansion() const {
    std::vector<std::vector<double>> rows{values()};
    auto put = [&](std::size_t k, std::size_t i, double x) {
      while (rows.size() <= k) rows.emplace_back(size(), 0.0);
      rows[k][i] = x;
    };
    for (std::size_t i = 0; i < size(); ++i) {
      if (big_[i]) {
        const auto c = over_.at(i).canonical();
        for (std::size_t k = 1; k < c.size(); ++k) put(k, i, c[k]);
      } else if (lo_[i] != 0.0) {
        put(1, i, lo_[i]);
      }
    }
    return rows;
  }
  // expansion() split as a stats file stores it: the values, and the remainder rows.
  void split(std::vector<double>& values, std::vector<std::vector<double>>& rest) const {
    auto rows = expansion();
    values = std::move(rows[0]);
    rest.assign(std::make_move_iterator(rows.begin() + 1), std::make_move_iterator(rows.end()));
  }
  // From values and remainder rows (what split() gives, or a file's value + rests).
  static exact_vector from_split(const std::vector<double>& values, const std::vector<std::vector<double>>& rest) {
    std::vector<std::vector<double>> rows{values};
    rows.insert(rows.end(), rest.begin(), rest.end());
    return from_rows(rows);
  }
  // From rows whose column sums are the exact values (expansion() or a file's value + rests).
  static exact_vector from_rows(const std::vector<std::vector<double>>& rows) {
    exact_vector v(rows.empty() ? 0 : rows[0].size());
    for (const auto& r : rows) {
      if (r.size() != v.size()) throw error("exact_vector", "expansion rows of different lengths");
      for (std::size_t i = 0; i < r.size(); ++i)
        if (r[i] != 0.0) v.add(i, r[i]);
    }
    return v;
  }

 private:
  static void two_sum(double a, double b, double& s, double& e) noexcept {
    s = a + b;
    const double bb = s - a;
    e = (a - (s - bb)) + (b - bb);
  }

  std::vector<double> hi_, lo_;
  std::vector<std::uint8_t> big_;
  std::map<std::size_t, exact_sum> over_;
};

}  // namespace prismaquant::stats
