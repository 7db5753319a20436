#pragma once
// Per-item dominance + lower convex hull, the LP relaxation and the Lagrangian bound of the
// multiple-choice knapsack (Sinha & Zoltners 1979; Pisinger 1995). Budget-independent, so a
// Pareto sweep builds it once and solves every target from it (`convex_form`).
//
//  * efficient list of an item: its candidates sorted by bytes with every candidate removed
//    that another one matches or beats on both bytes and Δloss (ties keep the lowest index);
//  * hull: the efficient points on the item's lower convex hull of (bytes, Δloss);
//  * segments: consecutive hull points; efficiency = Δloss saved per byte. Sorted by
//    efficiency (descending) they are the LP walk: take them in order until the byte
//    capacity breaks; the break segment's efficiency is the LP's multiplier λ*.
//  * g(λ) = Σ_i min_j (d_ij + λ·b_ij) − λ·B is a lower bound on every feasible Δloss for any
//    λ ≥ 0 (weak duality); g(λ*) is the LP optimum. Bounds are computed from this formula,
//    over all efficient candidates, so their validity never depends on the hull arithmetic.
#include <prismaquant/solvers/flat.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <numeric>
#include <vector>

namespace prismaquant::solvers {

class convex_form {
 public:
  convex_form() = default;
  explicit convex_form(const flat_problem& f) { build(f); }

  std::size_t items() const noexcept { return eoff_.size() - 1; }
  std::size_t segments() const noexcept { return seff_.size(); }
  std::int64_t base_bytes() const noexcept { return base_bytes_; }  // Σ smallest candidate
  std::int64_t total_params() const noexcept { return total_params_; }

  // Efficient list of item i: positions [eoff(i), eoff(i+1)) into eb/ed/eidx.
  std::int64_t eoff(std::size_t i) const noexcept { return eoff_[i]; }
  std::int64_t ecount(std::size_t i) const noexcept { return eoff_[i + 1] - eoff_[i]; }
  std::int64_t eb(std::int64_t k) const noexcept { return eb_[k]; }
  double ed(std::int64_t k) const noexcept { return ed_[k]; }
  int eidx(std::int64_t k) const noexcept { return eidx_[k]; }
  // Hull of item i: positions (within the item's efficient list) [hoff(i), hoff(i+1)).
  std::int64_t hoff(std::size_t i) const noexcept { return hoff_[i]; }
  int hpos(std::int64_t h) const noexcept { return hpos_[h]; }
  // Segment s in LP order.
  int seg_item(std::size_t s) const noexcept { return sitem_[s]; }
  int seg_step(std::size_t s) const noexcept { return sstep_[s]; }
  double seg_eff(std::size_t s) const noexcept { return seff_[s]; }
  std::int64_t seg_bytes(std::size_t s) const noexcept { return sprefix_[s + 1] - sprefix_[s]; }

  // Number of segments the LP takes whole at capacity `cap` (= budget − base_bytes).
  std::size_t lp_break(std::int64_t cap) const noexcept {
    auto it = std::upper_bound(sprefix_.begin(), sprefix_.end(), cap);
    return static_cast<std::size_t>(it - sprefix_.begin()) - 1;
  }
  // Multiplier at the LP break (0 when every segment fits).
  double lp_lambda(std::size_t brk) const noexcept { return brk < segments() ? seff_[brk] : 0.0; }
  std::int64_t taken_bytes(std::size_t brk) const noexcept { return sprefix_[brk]; }

  // Hull position of every item after the LP takes the first `brk` segments.
  std::vector<int> hull_positions(std::size_t brk) const {
    std::vector<int> pos(items(), 0);
    for (std::size_t s = 0; s < brk; ++s) ++pos[sitem_[s]];
    return pos;
  }

  // min_j (d_ij + λ·(b_ij − b_i0)) of item i, over its efficient list.
  double item_min(std::size_t i, double lambda) const noexcept {
    const auto a = eoff_[i], e = eoff_[i + 1];
    const auto b0 = eb_[a];
    double m = ed_[a];
    for (auto k = a + 1; k < e; ++k) m = std::min(m, ed_[k] + lambda * static_cast<double>(eb_[k] - b0));
    return m;
  }
  // g(λ) at capacity `cap` above base_bytes: a certified lower bound for every λ ≥ 0.
  double lagrangian(double lambda, std::int64_t cap) const noexcept {
    exact_sum s;
    for (std::size_t i = 0; i < items(); ++i) s.add(item_min(i, lambda));
    s.add(-lambda * static_cast<double>(cap));
    return s.value();
  }

  // Hull greedy: the LP rounded down (first `brk` segments), then every later segment that
  // still fits, in LP order. Returns efficient-list positions (relative to eoff(i)).
  std::vector<int> greedy_positions(std::int64_t cap, std::size_t brk) const {
    std::vector<int> hp = hull_positions(brk);
    std::int64_t left = cap - sprefix_[brk];
    for (std::size_t s = brk; s < segments() && left > 0; ++s) {
      const int i = sitem_[s];
      const std::int64_t db = sprefix_[s + 1] - sprefix_[s];
      if (hp[i] == sstep_[s] && db <= left) {
        ++hp[i];
        left -= db;
      }
    }
    std::vector<int> ep(items());
    for (std::size_t i = 0; i < items(); ++i) ep[i] = hpos_[hoff_[i] + hp[i]];
    return ep;
  }
  std::vector<int> to_choice(const std::vector<int>& epos) const {
    std::vector<int> c(items());
    for (std::size_t i = 0; i < items(); ++i) c[i] = eidx_[eoff_[i] + epos[i]];
    return c;
  }

 private:
  void build(const flat_problem& f) {
    const std::size_t n = f.items();
    total_params_ = f.total_params();
    eoff_.assign(1, 0);
    hoff_.assign(1, 0);
    eoff_.reserve(n + 1);
    hoff_.reserve(n + 1);
    eb_.reserve(f.bytes.size());
    ed_.reserve(f.bytes.size());
    eidx_.reserve(f.bytes.size());
    hpos_.reserve(f.bytes.size());
    base_bytes_ = 0;
    std::vector<int> order, hull;
    // segments in (item, step) order; the stable radix sort below keeps that order on ties
    std::vector<std::uint64_t> key;
    std::vector<std::int32_t> item, step;
    std::vector<std::int64_t> dbs;
    key.reserve(f.bytes.size());
    item.reserve(f.bytes.size());
    step.reserve(f.bytes.size());
    dbs.reserve(f.bytes.size());
    for (std::size_t i = 0; i < n; ++i) {
      const auto a = f.offset[i];
      const int k = static_cast<int>(f.offset[i + 1] - a);
      auto before = [&](int x, int y) {
        if (f.bytes[a + x] != f.bytes[a + y]) return f.bytes[a + x] < f.bytes[a + y];
        if (f.dloss[a + x] != f.dloss[a + y]) return f.dloss[a + x] < f.dloss[a + y];
        return x < y;
      };
      order.resize(k);
      for (int x = 0; x < k; ++x) {  // insertion sort: k is small
        int y = x;
        while (y > 0 && before(x, order[y - 1])) {
          order[y] = order[y - 1];
          --y;
        }
        order[y] = x;
      }
      // dominance: strictly more bytes must buy strictly less Δloss
      const auto e0 = static_cast<std::int64_t>(eb_.size());
      for (int x : order) {
        if (static_cast<std::int64_t>(eb_.size()) > e0 && !(f.dloss[a + x] < ed_.back())) continue;
        eb_.push_back(f.bytes[a + x]);
        ed_.push_back(f.dloss[a + x]);
        eidx_.push_back(x);
      }
      const auto e1 = static_cast<std::int64_t>(eb_.size());
      eoff_.push_back(e1);
      base_bytes_ += eb_[e0];
      // lower convex hull (monotone chain); collinear middle points are dropped
      hull.clear();
      for (auto p = e0; p < e1; ++p) {
        while (hull.size() >= 2) {
          const auto q = e0 + hull[hull.size() - 1], r = e0 + hull[hull.size() - 2];
          // keep q iff slope(r,q) < slope(q,p)  (both negative; convex = increasing)
          const long double lhs = static_cast<long double>(ed_[q] - ed_[r]) * static_cast<long double>(eb_[p] - eb_[q]);
          const long double rhs = static_cast<long double>(ed_[p] - ed_[q]) * static_cast<long double>(eb_[q] - eb_[r]);
          if (lhs < rhs) break;
          hull.pop_back();
        }
        hull.push_back(static_cast<int>(p - e0));
      }
      double prev = 0.0;
      for (std::size_t t = 0; t < hull.size(); ++t) {
        hpos_.push_back(hull[t]);
        if (t + 1 < hull.size()) {
          const auto q = e0 + hull[t], p = e0 + hull[t + 1];
          const std::int64_t db = eb_[p] - eb_[q];
          double eff = (ed_[q] - ed_[p]) / static_cast<double>(db);
          if (t > 0) eff = std::min(eff, prev);  // float guard: the item's steps stay in order
          prev = eff;
          // eff > 0: its bit pattern orders like the value; complement for descending order
          key.push_back(~std::bit_cast<std::uint64_t>(eff));
          item.push_back(static_cast<std::int32_t>(i));
          step.push_back(static_cast<std::int32_t>(t));
          dbs.push_back(db);
        }
      }
      hoff_.push_back(static_cast<std::int64_t>(hpos_.size()));
    }
    // sort by (key, original position): efficiency descending, ties in (item, step) order
    const std::size_t m = key.size();
    struct kv {
      std::uint64_t k;
      std::uint32_t i;
    };
    std::vector<kv> ks(m);
    for (std::size_t s = 0; s < m; ++s) ks[s] = {key[s], static_cast<std::uint32_t>(s)};
    std::sort(ks.begin(), ks.end(), [](const kv& x, const kv& y) { return x.k != y.k ? x.k < y.k : x.i < y.i; });
    std::vector<std::uint32_t> idx(m);
    for (std::size_t s = 0; s < m; ++s) idx[s] = ks[s].i;
    seff_.resize(m);
    sitem_.resize(m);
    sstep_.resize(m);
    sprefix_.resize(m + 1);
    sprefix_[0] = 0;
    for (std::size_t s = 0; s < m; ++s) {
      const auto x = idx[s];
      seff_[s] = std::bit_cast<double>(~key[x]);
      sitem_[s] = item[x];
      sstep_[s] = step[x];
      sprefix_[s + 1] = sprefix_[s] + dbs[x];
    }
  }

  std::vector<std::int64_t> eoff_, eb_, hoff_, sprefix_;
  std::vector<double> ed_, seff_;
  std::vector<int> eidx_, hpos_;
  std::vector<std::int32_t> sitem_, sstep_;
  std::int64_t base_bytes_ = 0, total_params_ = 0;
};

}  // namespace prismaquant::solvers
