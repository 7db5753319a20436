#pragma once
// The Solver policy axis. A solver is a type with
//
//   static constexpr std::string_view name = "my_solver";
//   solution solve(const flat_problem&, std::int64_t budget_bytes, const solve_options&) const;
//
// (an erased solver, any_solver in solvers/registry.hpp, gives name() at run time instead).
// solve() fills `choice` (one candidate index per item) and `lower_bound` (a certified lower
// bound on the optimum, or -inf if it has none) and may set `status`; the library validates
// the problem and budget before the call, then checks the choice (in range, within budget),
// recomputes bytes/bits/Δloss/gap and times it. Use `solve<S>(problem, budget, options)`, or
// `solve(solver_object, problem, budget, options)` for a solver with state.
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/policy.hpp>
#include <prismaquant/solvers/flat.hpp>
#include <prismaquant/solvers/options.hpp>
#include <prismaquant/solvers/problem.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace prismaquant::solvers {

template <class S>
concept solver = (static_policy_name<S> || runtime_policy_name<S>) &&
                 requires(const S& s, const flat_problem& f, std::int64_t b, const solve_options& o) {
                   { s.solve(f, b, o) } -> std::same_as<solution>;
                 };

// Names the missing piece instead of a wall of substitution failures.
template <class S>
constexpr bool check_solver() {
  static_assert(static_policy_name<S> || runtime_policy_name<S> || requires { S::name; },
                "prismaquant solver: missing `static constexpr std::string_view name` (the --solver NAME)");
  static_assert(!requires { S::name; } || static_policy_name<S> || runtime_policy_name<S>,
                "prismaquant solver: `name` must convert to std::string_view");
  static_assert(requires(const S& s, const flat_problem& f, std::int64_t b, const solve_options& o) { s.solve(f, b, o); },
                "prismaquant solver: missing `solution solve(const flat_problem&, std::int64_t budget_bytes, "
                "const solve_options&) const`");
  static_assert(requires(const S& s, const flat_problem& f, std::int64_t b, const solve_options& o) {
                  { s.solve(f, b, o) } -> std::same_as<solution>;
                },
                "prismaquant solver: solve() must return prismaquant::solvers::solution");
  return true;
}

namespace detail {
template <class S>
solution run_checked(const S& s, const flat_problem& f, std::int64_t budget, const solve_options& o) {
  const auto t0 = std::chrono::steady_clock::now();
  solution r = s.solve(f, budget, o);
  const std::string who = "solver " + std::string(policy_name(s));
  if (r.choice.size() != f.items())
    throw error(who, "returned " + std::to_string(r.choice.size()) + " choices for " + std::to_string(f.items()) + " items");
  for (std::size_t i = 0; i < f.items(); ++i)
    if (r.choice[i] < 0 || r.choice[i] >= f.count(i))
      throw error(who, "item " + std::to_string(i) + ": choice " + std::to_string(r.choice[i]) + " is out of range");
  const solve_status st = r.status;
  finish(f, r);
  if (r.total_bytes > budget)
    throw error(who, "returned " + std::to_string(r.total_bytes) + " bytes, over the budget of " + std::to_string(budget));
  r.status = (st == solve_status::optimal && r.gap <= 0.0) ? solve_status::optimal : solve_status::feasible;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}
}  // namespace detail

// Validate, check the budget (an infeasible one throws, stating the smallest feasible size),
// solve, verify.
template <class P>
concept knapsack_problem = std::same_as<P, problem> || std::same_as<P, flat_problem>;

template <class S, knapsack_problem P>
solution solve(const S& s, const P& p, std::int64_t budget_bytes, const solve_options& o = {}) {
  static_assert(check_solver<S>());
  validate(p);
  if constexpr (std::same_as<P, problem>) {
    const flat_problem f = flatten(p);
    check_budget(f, budget_bytes);
    return detail::run_checked(s, f, budget_bytes, o);
  } else {
    check_budget(p, budget_bytes);
    return detail::run_checked(s, p, budget_bytes, o);
  }
}

// A stateless solver by type.
template <class S, knapsack_problem P>
solution solve(const P& p, std::int64_t budget_bytes, const solve_options& o = {}) {
  static_assert(check_solver<S>());
  static_assert(std::is_default_constructible_v<S>, "prismaquant solver: solve<S>() needs a default-constructible S "
                                                    "(pass an object: solve(s, problem, budget))");
  return solve(S{}, p, budget_bytes, o);
}

}  // namespace prismaquant::solvers
