#pragma once
// Exact multiple-choice knapsack with a certified lower bound.
//
//  1. convex_form: dominance, per-item lower convex hulls, segments in LP order.
//  2. LP relaxation = greedy walk over the segments; its break gives λ*. Incumbent: the hull
//     greedy (LP rounded down, then greedy fill) improved by single-item moves into the
//     leftover bytes.
//  3. Lagrangian bounds g(λ) = Σ_i min_j (d_ij + λ b_ij) − λB for a small set Λ of
//     multipliers around λ* (slopes of segments near the break): root bound L = max g.
//  4. Reduction (Pisinger 1995 style): for every feasible x, Δloss(x) ≥ g(λ) + Σ_i rc_i(x_i)
//     with reduced costs rc_ij(λ) = d_ij + λ b_ij − min_k(d_ik + λ b_ik) ≥ 0. A choice with
//     max_λ [g(λ) + rc_ij(λ)] ≥ incumbent cannot be part of a better solution and is removed;
//     items left with one choice are fixed. The rest is the core.
//  5. Core: dynamic programming over (bytes, Δloss) states kept as a Pareto list (exact in
//     bytes however large they are), each state fathomed by its own Lagrangian bound
//     v + Σ_remaining min_j(d_j + λ b_j) − λ·(capacity left) maximised over Λ.
//  Every pruned state, removed choice and the final states leave a certified lower bound;
//  when the search completes the incumbent is optimal (up to floating-point rounding of the
//  sums, ~1e-15 relative). Past max_states (a deterministic work limit) it stops with status
//  "feasible" and the minimum of those bounds; an optional wall-clock limit (time_limit_s > 0,
//  off by default) does the same, at the price of answers that depend on the machine's speed.
#include <prismaquant/solvers/flat.hpp>
#include <prismaquant/solvers/hull.hpp>
#include <prismaquant/solvers/options.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace prismaquant::solvers {

namespace detail {

// Multipliers around the LP break: λ* and the efficiencies 1, 2, 4, ... segments away.
inline std::vector<double> lambda_set(const convex_form& cf, std::size_t brk) {
  std::vector<double> L;
  const auto m = static_cast<std::int64_t>(cf.segments());
  if (m == 0) return {0.0};
  L.push_back(cf.lp_lambda(brk));
  for (std::int64_t d = 1; d <= 256; d *= 2) {
    for (std::int64_t s : {static_cast<std::int64_t>(brk) - d, static_cast<std::int64_t>(brk) + d}) {
      s = std::clamp<std::int64_t>(s, 0, m - 1);
      L.push_back(cf.seg_eff(static_cast<std::size_t>(s)));
    }
  }
  std::sort(L.begin(), L.end());
  L.erase(std::unique(L.begin(), L.end()), L.end());
  return L;
}

// Improve an incumbent with single-item moves that fit the leftover bytes (best gain first,
// repeated while one helps). Positions are efficient-list positions.
inline void improve_moves(const convex_form& cf, std::vector<int>& epos, std::int64_t left) {
  for (int round = 0; round < 8 && left > 0; ++round) {
    double best_gain = 0.0;
    std::size_t bi = 0;
    int bj = -1;
    for (std::size_t i = 0; i < cf.items(); ++i) {
      const auto a = cf.eoff(i), cur = a + epos[i];
      for (auto k = cur + 1; k < a + cf.ecount(i); ++k) {
        if (cf.eb(k) - cf.eb(cur) > left) break;
        const double gain = cf.ed(cur) - cf.ed(k);
        if (gain > best_gain) {
          best_gain = gain;
          bi = i;
          bj = static_cast<int>(k - a);
        }
      }
    }
    if (bj < 0) return;
    left -= cf.eb(cf.eoff(bi) + bj) - cf.eb(cf.eoff(bi) + epos[bi]);
    epos[bi] = bj;
  }
}

}  // namespace detail

namespace detail {

// A core: items still undecided, each with its eligible choices (bytes relative to the item's
// smallest eligible choice), everything else fixed (Δloss `dfix`, `cap` bytes left).
struct core_problem {
  std::vector<std::size_t> item;
  std::vector<std::int64_t> first;  // into cb/cd/cp
  std::vector<int> count;
  std::vector<double> key;          // ordering: cheapest deviation at λ*
  std::vector<std::int64_t> cb;
  std::vector<double> cd, lbv;      // Δloss; the choice's Lagrangian bound (for re-reduction)
  std::vector<int> cp;              // efficient-list position
  double dfix = 0.0;
  std::int64_t cap = 0;
  std::size_t size() const noexcept { return item.size(); }
  void add_item(std::size_t i, double k) {
    item.push_back(i);
    first.push_back(static_cast<std::int64_t>(cb.size()));
    count.push_back(0);
    key.push_back(k);
  }
  void add_choice(std::int64_t b, double d, double lb, int pos) {
    cb.push_back(b);
    cd.push_back(d);
    lbv.push_back(lb);
    cp.push_back(pos);
    ++count.back();
  }
};

struct core_result {
  bool improved = false;
  double value = 0.0;                           // dfix + best core Δloss, when improved
  std::vector<std::pair<std::size_t, int>> picks;  // (item, efficient position), when improved
  double lb_floor = std::numeric_limits<double>::infinity();
  bool complete = true;
  std::int64_t states = 0;
};

// Pareto DP over the core's items (decisive ones first), every state fathomed by its
// Lagrangian bound; states whose bound reaches `cutoff` are dropped (their bound is kept).
inline core_result search_core(const core_problem& cp0, const std::vector<double>& lam, double cutoff,
                               std::int64_t max_states, std::chrono::steady_clock::time_point deadline) {
  core_result res;
  const std::size_t K = cp0.size(), nl = lam.size();
  std::vector<std::size_t> ord(K);
  for (std::size_t k = 0; k < K; ++k) ord[k] = k;
  std::sort(ord.begin(), ord.end(), [&](std::size_t x, std::size_t y) {
    if (cp0.key[x] != cp0.key[y]) return cp0.key[x] > cp0.key[y];
    return cp0.item[x] < cp0.item[y];
  });
  std::vector<double> suf((K + 1) * nl, 0.0);
  for (std::size_t k = K; k-- > 0;) {
    const auto c = ord[k];
    const auto a = cp0.first[c];
    for (std::size_t l = 0; l < nl; ++l) {
      double m = cp0.cd[a];
      for (int j = 1; j < cp0.count[c]; ++j) m = std::min(m, cp0.cd[a + j] + lam[l] * static_cast<double>(cp0.cb[a + j]));
      suf[k * nl + l] = suf[(k + 1) * nl + l] + m;
    }
  }
  struct state {
    std::int64_t w;
    double v;
    std::int32_t node;
  };
  struct entry {
    std::int64_t w;
    double v;
    std::int32_t parent, j;
  };
  struct node {
    std::int32_t parent, choice;
  };
  std::vector<node> nodes;
  std::vector<state> cur{{0, 0.0, -1}}, next;
  std::vector<entry> buf, tmp;
  std::vector<std::size_t> runs, nr;
  const std::int64_t ccap = cp0.cap;
  const double dfix = cp0.dfix;
  auto bound_of = [&](std::size_t k, std::int64_t w, double v) {
    double b = -std::numeric_limits<double>::infinity();
    const double left = static_cast<double>(ccap - w);
    for (std::size_t l = 0; l < nl; ++l) b = std::max(b, suf[k * nl + l] - lam[l] * left);
    return dfix + v + b;
  };
  auto less = [](const entry& x, const entry& y) { return x.w != y.w ? x.w < y.w : x.v < y.v; };
  if (ccap < 0) return res;
  for (std::size_t k = 0; k < K && !cur.empty(); ++k) {
    const auto c = ord[k];
    const auto a = cp0.first[c];
    buf.clear();
    runs.assign(1, 0);
    for (int j = 0; j < cp0.count[c]; ++j) {
      const std::int64_t db = cp0.cb[a + j];
      const double dd = cp0.cd[a + j];
      for (std::size_t si = 0; si < cur.size(); ++si) {
        if (cur[si].w + db > ccap) break;  // cur is sorted by w
        buf.push_back({cur[si].w + db, cur[si].v + dd, static_cast<std::int32_t>(si), j});
      }
      runs.push_back(buf.size());
    }
    while (runs.size() > 2) {  // merge the shifted copies (each sorted by w) pairwise
      tmp.resize(buf.size());
      nr.assign(1, 0);
      for (std::size_t r = 0; r + 1 < runs.size(); r += 2) {
        const std::size_t a0 = runs[r], a1 = runs[r + 1];
        const std::size_t b1 = (r + 2 < runs.size()) ? runs[r + 2] : a1;
        std::merge(buf.begin() + a0, buf.begin() + a1, buf.begin() + a1, buf.begin() + b1, tmp.begin() + a0, less);
        nr.push_back(b1);
      }
      buf.swap(tmp);
      runs.swap(nr);
    }
    next.clear();
    double best_v = std::numeric_limits<double>::infinity();
    for (auto& s : buf) {
      if (!(s.v < best_v)) continue;  // dominated by (or equal to) a lighter state
      best_v = s.v;
      const double b = bound_of(k + 1, s.w, s.v);
      if (b >= cutoff) {
        res.lb_floor = std::min(res.lb_floor, b);
        continue;
      }
      nodes.push_back({cur[s.parent].node, static_cast<std::int32_t>(cp0.cp[a + s.j])});
      next.push_back({s.w, s.v, static_cast<std::int32_t>(nodes.size() - 1)});
    }
    res.states += static_cast<std::int64_t>(next.size());
    cur.swap(next);
    if ((res.states > max_states || std::chrono::steady_clock::now() > deadline) && k + 1 < K && !cur.empty()) {
      for (auto& s : cur) res.lb_floor = std::min(res.lb_floor, bound_of(k + 1, s.w, s.v));
      res.complete = false;
      return res;
    }
  }
  if (cur.empty()) return res;
  auto it = std::min_element(cur.begin(), cur.end(), [](const state& x, const state& y) { return x.v < y.v; });
  if (dfix + it->v < cutoff) {
    res.improved = true;
    res.value = dfix + it->v;
    std::int32_t nd = it->node;
    for (std::size_t k = K; k-- > 0;) {
      res.picks.push_back({cp0.item[ord[k]], nodes[nd].choice});
      nd = nodes[nd].parent;
    }
  }
  // the other final states were evaluated exactly and are no better
  return res;
}

}  // namespace detail

// Exact solve from a prepared convex form (reuse it across the targets of a sweep).
inline solution solve_exact_prepared(const flat_problem& f, const convex_form& cf, std::int64_t budget,
                                     const solve_options& o) {
  // No deadline by default: the work limit (max_states) alone makes the answer independent of
  // the machine's speed. A positive time_limit_s trades that for a bounded wall time.
  const auto deadline = o.time_limit_s > 0.0
                            ? std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                                     std::chrono::duration<double>(o.time_limit_s))
                            : std::chrono::steady_clock::time_point::max();
  const std::size_t n = cf.items();
  const std::int64_t cap = budget - cf.base_bytes();
  const std::size_t brk = cf.lp_break(cap);
  solution sol;

  // All segments fit: every item at its least-Δloss candidate is optimal.
  if (brk == cf.segments()) {
    std::vector<int> ep(n);
    for (std::size_t i = 0; i < n; ++i) ep[i] = static_cast<int>(cf.ecount(i) - 1);
    sol.choice = cf.to_choice(ep);
    finish(f, sol);
    sol.lower_bound = sol.root_bound = sol.dloss;
    sol.status = solve_status::optimal;
    sol.gap = 0.0;
    return sol;
  }

  // Incumbent: hull greedy plus single moves into the leftover bytes.
  std::vector<int> inc = cf.greedy_positions(cap, brk);
  {
    std::int64_t used = 0;
    for (std::size_t i = 0; i < n; ++i) used += cf.eb(cf.eoff(i) + inc[i]) - cf.eb(cf.eoff(i));
    detail::improve_moves(cf, inc, cap - used);
  }
  auto value_of = [&](const std::vector<int>& ep) {
    exact_sum s;
    for (std::size_t i = 0; i < n; ++i) s.add(cf.ed(cf.eoff(i) + ep[i]));
    return s.value();
  };
  double ub = value_of(inc);

  // Root bounds.
  const std::vector<double> lam = detail::lambda_set(cf, brk);
  const std::size_t nl = lam.size();
  const double lam_star = cf.lp_lambda(brk);
  std::vector<double> g(nl);
  {
    std::vector<exact_sum> gs(nl);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t l = 0; l < nl; ++l) gs[l].add(cf.item_min(i, lam[l]));
    for (std::size_t l = 0; l < nl; ++l) g[l] = gs[l].value() - lam[l] * static_cast<double>(cap);
  }
  const double root = *std::max_element(g.begin(), g.end());
  sol.root_bound = root;
  auto cutoff_of = [&](double u) { return u - o.gap_tolerance * std::fabs(u); };
  double cutoff = cutoff_of(ub);
  double lb_floor = std::numeric_limits<double>::infinity();  // min bound of everything discarded
  double best_seen = ub;  // best value found, in the search's own summation order

  auto finish_with = [&](const std::vector<int>& ep, double lower, bool complete) {
    sol.choice = cf.to_choice(ep);
    finish(f, sol);
    // A completed search leaves `lower` >= the best value found up to rounding of the two
    // summation orders; the evaluated Δloss is that value.
    sol.lower_bound = complete && lower >= best_seen ? sol.dloss : std::min(lower, sol.dloss);
    sol.gap = (sol.dloss - sol.lower_bound) / std::max(std::fabs(sol.dloss), 1e-300);
    sol.status = (complete && sol.gap <= 0.0) ? solve_status::optimal : solve_status::feasible;
    return sol;
  };
  if (root >= cutoff) return finish_with(inc, root, true);

  // Reduction: each efficient choice's bound max_λ [g(λ) + rc(λ)]; choices at or above the
  // cutoff are removed, items left with one choice are fixed.
  detail::core_problem core;
  std::vector<int> fixed(n, -1);
  exact_sum dF;
  std::int64_t bF = 0;
  std::vector<double> mins(nl);
  std::vector<std::int64_t> elig;
  std::vector<double> elig_lb;
  for (std::size_t i = 0; i < n; ++i) {
    const auto a = cf.eoff(i), e = a + cf.ecount(i);
    if (e - a == 1) {
      fixed[i] = 0;
      dF.add(cf.ed(a));
      bF += cf.eb(a);
      continue;
    }
    for (std::size_t l = 0; l < nl; ++l) mins[l] = cf.item_min(i, lam[l]);
    elig.clear();
    elig_lb.clear();
    double key0 = std::numeric_limits<double>::infinity(), key = key0;
    for (auto k = a; k < e; ++k) {
      double best = -std::numeric_limits<double>::infinity(), rc_star = 0.0;
      for (std::size_t l = 0; l < nl; ++l) {
        const double rc = cf.ed(k) + lam[l] * static_cast<double>(cf.eb(k) - cf.eb(a)) - mins[l];
        best = std::max(best, g[l] + rc);
        if (lam[l] == lam_star) rc_star = rc;
      }
      if (best >= cutoff) {
        lb_floor = std::min(lb_floor, best);
        continue;
      }
      elig.push_back(k);
      elig_lb.push_back(best);
      if (rc_star < key0) {  // key: the second-smallest reduced cost at λ*
        key = key0;
        key0 = rc_star;
      } else if (rc_star < key) {
        key = rc_star;
      }
    }
    if (elig.empty()) return finish_with(inc, std::min(lb_floor, ub), true);  // nothing can beat the incumbent
    if (elig.size() == 1) {
      fixed[i] = static_cast<int>(elig[0] - a);
      dF.add(cf.ed(elig[0]));
      bF += cf.eb(elig[0]);
      continue;
    }
    core.add_item(i, key);
    for (std::size_t q = 0; q < elig.size(); ++q)
      core.add_choice(cf.eb(elig[q]) - cf.eb(elig[0]), cf.ed(elig[q]), elig_lb[q], static_cast<int>(elig[q] - a));
    bF += cf.eb(elig[0]);  // the core's smallest choices are charged up front
  }
  core.dfix = dF.value();
  core.cap = budget - bF;
  if (core.cap < 0) return finish_with(inc, std::min(lb_floor, ub), true);

  sol.core_items = static_cast<std::int64_t>(core.size());
  auto apply = [&](const detail::core_result& r, const std::vector<int>& base) {
    std::vector<int> ep = base;
    for (auto [i, pos] : r.picks) ep[i] = pos;
    return ep;
  };

  // Phase 1 (heuristic): re-optimise only the most ambiguous core items, the rest held at
  // the incumbent. Its better incumbent shrinks the exact core below.
  const auto k_phase1 = static_cast<std::size_t>(std::max<std::int64_t>(o.phase1_items, 0));
  if (k_phase1 > 0 && core.size() > k_phase1 / 2) {
    std::vector<std::size_t> ord(core.size());
    for (std::size_t k = 0; k < ord.size(); ++k) ord[k] = k;
    const std::size_t take = std::min(core.size(), k_phase1);
    std::partial_sort(ord.begin(), ord.begin() + static_cast<std::ptrdiff_t>(take), ord.end(),
                      [&](std::size_t x, std::size_t y) { return core.key[x] < core.key[y]; });
    std::vector<char> in(n, 0);
    detail::core_problem small;
    for (std::size_t t = 0; t < take; ++t) {
      const auto c = ord[t];
      in[core.item[c]] = 1;
      small.add_item(core.item[c], core.key[c]);
      for (int j = 0; j < core.count[c]; ++j) {
        const auto q = core.first[c] + j;
        small.add_choice(core.cb[q], core.cd[q], core.lbv[q], core.cp[q]);
      }
    }
    exact_sum d1;
    std::int64_t b1 = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (in[i]) continue;
      d1.add(cf.ed(cf.eoff(i) + inc[i]));
      b1 += cf.eb(cf.eoff(i) + inc[i]);
    }
    for (std::size_t t = 0; t < take; ++t) {
      const auto c = ord[t];
      b1 += cf.eb(cf.eoff(core.item[c]) + core.cp[core.first[c]]);
    }
    small.dfix = d1.value();
    small.cap = budget - b1;
    // a heuristic: cheap, so its state budget is small
    auto r = detail::search_core(small, lam, cutoff, std::min<std::int64_t>(o.max_states / 4, 200000), deadline);
    sol.states += r.states;
    if (r.improved) {
      std::vector<int> cand = apply(r, inc);
      const double v = value_of(cand);
      if (v < ub) {
        inc = std::move(cand);
        ub = v;
        cutoff = cutoff_of(ub);
      }
    }
    // Phase 2's reduction: drop the choices the better incumbent rules out.
    detail::core_problem red;
    exact_sum d2;
    d2.add(core.dfix);
    std::int64_t b2 = budget - core.cap;
    for (std::size_t c = 0; c < core.size(); ++c) {
      const auto a = core.first[c];
      int left = 0, last = -1;
      for (int j = 0; j < core.count[c]; ++j)
        if (core.lbv[a + j] < cutoff) ++left, last = j;
        else lb_floor = std::min(lb_floor, core.lbv[a + j]);
      if (left == 0) return finish_with(inc, std::min(lb_floor, ub), true);
      if (left == 1) {
        fixed[core.item[c]] = core.cp[a + last];
        d2.add(core.cd[a + last]);
        b2 += core.cb[a + last];
        continue;
      }
      red.add_item(core.item[c], core.key[c]);
      std::int64_t b0 = -1;
      for (int j = 0; j < core.count[c]; ++j) {
        if (!(core.lbv[a + j] < cutoff)) continue;
        if (b0 < 0) b0 = core.cb[a + j];
        red.add_choice(core.cb[a + j] - b0, core.cd[a + j], core.lbv[a + j], core.cp[a + j]);
      }
      b2 += b0;
    }
    red.dfix = d2.value();
    red.cap = budget - b2;
    core = std::move(red);
    if (core.cap < 0) return finish_with(inc, std::min(lb_floor, ub), true);
  }

  // Phase 2 (exact): the whole core.
  best_seen = ub;
  auto r = detail::search_core(core, lam, cutoff, o.max_states, deadline);
  sol.states += r.states;
  lb_floor = std::min(lb_floor, r.lb_floor);
  std::vector<int> best = inc;
  double best_val = ub;
  if (r.improved && r.value < best_val) {
    std::vector<int> base = inc;
    for (std::size_t i = 0; i < n; ++i)
      if (fixed[i] >= 0) base[i] = fixed[i];
    best = apply(r, base);
    best_val = best_seen = r.value;
  }
  return finish_with(best, std::min(lb_floor, best_val), r.complete);
}

inline solution solve_exact(const flat_problem& f, std::int64_t budget, const solve_options& o) {
  convex_form cf(f);
  return solve_exact_prepared(f, cf, budget, o);
}

// The exact solver as a policy (see concept.hpp).
struct exact {
  static constexpr std::string_view name = "exact";
  solution solve(const flat_problem& f, std::int64_t budget, const solve_options& o) const {
    return solve_exact(f, budget, o);
  }
};

}  // namespace prismaquant::solvers
