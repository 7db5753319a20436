#pragma once
// Convex-hull greedy: the LP walk over hull segments rounded down to an integer solution
// (every segment before the break), then every later segment that still fits, in LP order.
// Fast (one sort, shared across targets through convex_form) and within budget by
// construction; its lower bound is the root Lagrangian bound, so its gap is honest.
#include <prismaquant/solvers/exact.hpp>
#include <prismaquant/solvers/flat.hpp>
#include <prismaquant/solvers/hull.hpp>
#include <prismaquant/solvers/options.hpp>

#include <algorithm>
#include <string_view>

namespace prismaquant::solvers {

inline solution solve_hull_greedy_prepared(const flat_problem& f, const convex_form& cf, std::int64_t budget,
                                           const solve_options&) {
  const std::int64_t cap = budget - cf.base_bytes();
  const std::size_t brk = cf.lp_break(cap);
  solution s;
  s.choice = cf.to_choice(cf.greedy_positions(cap, brk));
  double lb = -std::numeric_limits<double>::infinity();
  for (double l : detail::lambda_set(cf, brk)) lb = std::max(lb, cf.lagrangian(l, cap));
  s.root_bound = s.lower_bound = lb;
  finish(f, s);
  s.status = s.gap <= 0.0 ? solve_status::optimal : solve_status::feasible;
  return s;
}

struct hull_greedy {
  static constexpr std::string_view name = "hull_greedy";
  solution solve(const flat_problem& f, std::int64_t budget, const solve_options& o) const {
    convex_form cf(f);
    return solve_hull_greedy_prepared(f, cf, budget, o);
  }
};

}  // namespace prismaquant::solvers
