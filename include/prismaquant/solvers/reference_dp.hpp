#pragma once
// The Python reference's allocator, reproduced for comparison: a multiple-choice knapsack
// DP on a discretised average-bits axis, then a re-solve loop that tightens the target while
// the achieved size overshoots. Studied from RobTand/prismaquant, prismaquant/allocator.py
// (`solve_allocation` and `solve_with_promotion`, the versions that round each delta with
// Python's round(); later versions moved them to allocator_solver.py and charge at least one
// bin). Reproduced here, in C++ and not copied:
//  * per item, baseline = the first candidate with the fewest bits/param (bits/param =
//    8·memory_bytes/n_params); min_bits = Σ baseline bits·n_params / Σ n_params;
//  * a candidate costs round(Δbits·n_params/Σn_params / bin) bins, rounded half to even
//    like Python's round(), so small items' deltas round to zero or one bin; candidates
//    outside [0, n_bins) are skipped; an item left without options keeps its baseline;
//  * n_bins = round((target − min_bits)/bin) + 2; maximise Σ (baseline Δloss − Δloss) with
//    unreachable cells at −1e30, strict ">" updates in candidate order, the first argmax
//    bin, and the backtrack's clamps (a −1 choice reads as candidate 0, the bin index is
//    clamped at 0), all as in the reference;
//  * re-solve loop: solve at the target; while the achieved size overshoots, tighten the
//    target by half the overshoot (at most max_iters solves, 6 in the reference).
// Differences, both so that every solver here respects the byte budget: the reference
// accepts an overshoot up to 0.01 bit/param, here the achieved bytes must fit the budget;
// and when no solve of the loop fits (the reference then returns its last, over-budget
// answer) a greedy repair downgrades the items that lose the least Δloss per byte freed
// until it fits (solution::repaired). Fused-sibling promotion happens before the problem
// reaches a solver (items are already the fused units), so the loop only corrects rounding.
// bin = solve_options::bit_precision (default 1e-4 bit).
#include <prismaquant/core/error.hpp>
#include <prismaquant/solvers/exact.hpp>
#include <prismaquant/solvers/flat.hpp>
#include <prismaquant/solvers/hull.hpp>
#include <prismaquant/solvers/options.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::solvers {

namespace detail {

// Python's round() on floats: half to even (the default floating-point rounding mode).
inline std::int64_t py_round(double x) { return static_cast<std::int64_t>(std::nearbyint(x)); }

struct reference_tables {
  std::vector<double> bpp;      // per candidate, bits per parameter
  std::vector<int> base;        // per item, baseline candidate index
  std::vector<double> fraction; // per item, n_params / Σ n_params
  std::int64_t total_params = 0;
  double min_bits = 0.0;

  explicit reference_tables(const flat_problem& f) {
    const std::size_t n = f.items();
    total_params = f.total_params();
    bpp.resize(f.bytes.size());
    base.resize(n);
    fraction.resize(n);
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      int b = 0;
      for (auto k = f.offset[i]; k < f.offset[i + 1]; ++k) {
        bpp[k] = 8.0 * static_cast<double>(f.bytes[k]) / static_cast<double>(f.n_params[i]);
        if (bpp[k] < bpp[f.offset[i] + b]) b = static_cast<int>(k - f.offset[i]);
      }
      base[i] = b;
      fraction[i] = static_cast<double>(f.n_params[i]) / static_cast<double>(total_params);
      s += bpp[f.offset[i] + b] * static_cast<double>(f.n_params[i]);
    }
    min_bits = s / static_cast<double>(total_params);
  }
  std::int64_t bins(const flat_problem& f, std::size_t i, int c, double bin) const {
    const double d_avg = (bpp[f.offset[i] + c] - bpp[f.offset[i] + base[i]]) * fraction[i];
    return py_round(d_avg / bin);
  }
};

// One DP solve at `target_bits`; nullopt where the reference returns None.
inline std::optional<std::vector<int>> reference_solve_allocation(const flat_problem& f, const reference_tables& t,
                                                                  double target_bits, double bin, std::int64_t& cells) {
  const std::size_t n = f.items();
  if (target_bits < t.min_bits - 1e-6) return std::nullopt;
  const double excess = target_bits - t.min_bits;
  const double nb = std::nearbyint(excess / bin) + 2.0;
  if (!(nb < 4e8)) throw error("reference_dp", "too many bins (" + std::to_string(nb) + "); raise bit_precision");
  const auto n_bins = static_cast<std::int64_t>(nb);
  constexpr double inf_neg = -1e30;
  // choice rows, packed: value idx+1 in [0, k] at 2/4/8/16/32 bits per cell
  std::vector<std::int64_t> row_off(n + 1, 0);
  std::vector<int> width(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = f.count(i);
    width[i] = k <= 3 ? 2 : k <= 15 ? 4 : k <= 255 ? 8 : k <= 65535 ? 16 : 32;
    row_off[i + 1] = row_off[i] + (n_bins * width[i] + 7) / 8;
  }
  if (row_off[n] > (std::int64_t{16} << 30))
    throw error("reference_dp", "the choice table needs " + std::to_string(row_off[n] >> 20) +
                                    " MiB; raise bit_precision or use --solver exact");
  std::vector<std::uint8_t> table(static_cast<std::size_t>(row_off[n]), 0);
  std::vector<double> dp(n_bins, inf_neg), ndp(n_bins);
  std::vector<std::int32_t> nch(n_bins);
  dp[0] = 0.0;
  struct opt {
    std::int64_t db;
    double dg;
    int idx;
  };
  std::vector<opt> opts;
  for (std::size_t i = 0; i < n; ++i) {
    const auto a = f.offset[i];
    const double base_loss = f.dloss[a + t.base[i]];
    opts.clear();
    for (int c = 0; c < f.count(i); ++c) {
      const auto db = t.bins(f, i, c, bin);
      if (db < 0 || db >= n_bins) continue;
      opts.push_back({db, base_loss - f.dloss[a + c], c});
    }
    if (opts.empty()) opts.push_back({0, 0.0, t.base[i]});
    std::fill(ndp.begin(), ndp.end(), inf_neg);
    std::fill(nch.begin(), nch.end(), -1);
    for (auto& o : opts) {
      const double* src = dp.data();
      double* dst = ndp.data() + o.db;
      std::int32_t* ch = nch.data() + o.db;
      const std::int64_t len = n_bins - o.db;
      for (std::int64_t b = 0; b < len; ++b) {
        const double v = src[b] + o.dg;
        const bool take = v > dst[b];
        dst[b] = take ? v : dst[b];
        ch[b] = take ? o.idx : ch[b];
      }
    }
    cells += n_bins * static_cast<std::int64_t>(opts.size());
    dp.swap(ndp);
    std::uint8_t* row = table.data() + row_off[i];
    const int w = width[i];
    for (std::int64_t b = 0; b < n_bins; ++b) {
      const auto v = static_cast<std::uint32_t>(nch[b] + 1);
      const std::int64_t bit = b * w;
      if (w < 8) row[bit >> 3] |= static_cast<std::uint8_t>(v << (bit & 7));
      else
        for (int q = 0; q < w; q += 8) row[(bit >> 3) + q / 8] = static_cast<std::uint8_t>(v >> q);
    }
  }
  std::int64_t best_b = 0;
  for (std::int64_t b = 1; b < n_bins; ++b)
    if (dp[b] > dp[best_b]) best_b = b;
  if (dp[best_b] == inf_neg) return std::nullopt;
  std::vector<int> choice(n);
  std::int64_t cur = best_b;
  for (std::size_t i = n; i-- > 0;) {
    const std::uint8_t* row = table.data() + row_off[i];
    const int w = width[i];
    const std::int64_t bit = cur * w;
    std::uint32_t v = 0;
    if (w < 8) v = (row[bit >> 3] >> (bit & 7)) & ((1u << w) - 1);
    else
      for (int q = 0; q < w; q += 8) v |= static_cast<std::uint32_t>(row[(bit >> 3) + q / 8]) << q;
    int idx = static_cast<int>(v) - 1;
    if (idx < 0) idx = 0;
    choice[i] = idx;
    cur -= t.bins(f, i, idx, bin);
    if (cur < 0) cur = 0;
  }
  return choice;
}

// Not in the reference: downgrade until the budget holds, cheapest Δloss per freed byte first.
inline void repair_to_budget(const flat_problem& f, std::vector<int>& choice, std::int64_t budget) {
  std::int64_t bytes = evaluate(f, choice).bytes;
  struct move {
    double ratio;
    std::size_t item;
    int to;
    bool operator<(const move& o) const { return ratio > o.ratio || (ratio == o.ratio && item > o.item); }
  };
  auto best_move = [&](std::size_t i) -> std::optional<move> {
    const auto a = f.offset[i];
    const auto cb = f.bytes[a + choice[i]];
    const double cdl = f.dloss[a + choice[i]];
    std::optional<move> m;
    for (int c = 0; c < f.count(i); ++c) {
      if (f.bytes[a + c] >= cb) continue;
      const double r = (f.dloss[a + c] - cdl) / static_cast<double>(cb - f.bytes[a + c]);
      if (!m || r < m->ratio) m = move{r, i, c};
    }
    return m;
  };
  std::priority_queue<move> q;
  for (std::size_t i = 0; i < f.items(); ++i)
    if (auto m = best_move(i)) q.push(*m);
  while (bytes > budget && !q.empty()) {
    auto m = q.top();
    q.pop();
    const auto a = f.offset[m.item];
    bytes -= f.bytes[a + choice[m.item]] - f.bytes[a + m.to];
    choice[m.item] = m.to;
    if (auto nm = best_move(m.item)) q.push(*nm);
  }
}

}  // namespace detail

struct reference_dp {
  static constexpr std::string_view name = "reference_dp";
  solution solve(const flat_problem& f, std::int64_t budget, const solve_options& o) const {
    if (!(o.bit_precision > 0.0)) throw error("reference_dp", "bit_precision must be positive");
    if (f.items() == 0) {  // nothing to allocate (the reference returns {})
      solution s;
      s.status = solve_status::optimal;
      return s;
    }
    const detail::reference_tables t(f);
    const double target = bits_of(budget, t.total_params);
    double tightened = target;
    solution s;
    std::optional<std::vector<int>> last;
    bool fits = false;
    for (int it = 0; it < o.max_iters; ++it) {
      auto r = detail::reference_solve_allocation(f, t, tightened, o.bit_precision, s.states);
      ++s.iterations;
      if (!r) break;
      last = std::move(r);
      const auto bytes = evaluate(f, *last).bytes;
      if (bytes <= budget) {
        fits = true;
        break;
      }
      tightened -= (bits_of(bytes, t.total_params) - target) / 2.0;
      if (tightened <= 0) break;
    }
    if (!last) {  // the reference would report the target infeasible; start from the floor
      last = std::vector<int>(t.base.begin(), t.base.end());
    }
    if (!fits) {
      detail::repair_to_budget(f, *last, budget);
      s.repaired = true;
    }
    s.choice = std::move(*last);
    // an honest bound, from the convex form (not part of the reference)
    convex_form cf(f);
    const std::int64_t cap = budget - cf.base_bytes();
    double lb = -std::numeric_limits<double>::infinity();
    for (double l : detail::lambda_set(cf, cf.lp_break(cap))) lb = std::max(lb, cf.lagrangian(l, cap));
    s.root_bound = s.lower_bound = lb;
    finish(f, s);
    s.status = s.gap <= 0.0 ? solve_status::optimal : solve_status::feasible;
    return s;
  }
};

}  // namespace prismaquant::solvers
