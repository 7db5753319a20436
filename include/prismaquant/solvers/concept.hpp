#pragma once
// The Solver policy axis. A solver is a default-constructible type with
//
//   static constexpr std::string_view name = "my_solver";
//   solution solve(const flat_problem&, std::int64_t budget_bytes, const solve_options&) const;
//
// solve() fills `choice` (one candidate index per item) and `lower_bound` (a certified lower
// bound on the optimum, or -inf if it has none) and may set `status`; the library validates
// the problem and budget before the call, then checks the choice (in range, within budget),
// recomputes bytes/bits/Δloss/gap and times it. Use `solve<S>(problem, budget, options)`.
#include <prismaquant/core/error.hpp>
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
concept solver = std::is_default_constructible_v<S> && requires(const S& s, const flat_problem& f, std::int64_t b,
                                                               const solve_options& o) {
  { S::name } -> std::convertible_to<std::string_view>;
  { s.solve(f, b, o) } -> std::same_as<solution>;
};

// Names the missing piece instead of a wall of substitution failures.
template <class S>
constexpr bool check_solver() {
  static_assert(requires { S::name; },
                "prismaquant solver: missing `static constexpr std::string_view name` (the --solver NAME)");
  static_assert(requires { { S::name } -> std::convertible_to<std::string_view>; },
                "prismaquant solver: `name` must convert to std::string_view");
  static_assert(std::is_default_constructible_v<S>, "prismaquant solver: must be default-constructible");
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
  const std::string who = "solver " + std::string(std::string_view(S::name));
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
template <class S>
solution solve(const flat_problem& f, std::int64_t budget_bytes, const solve_options& o = {}) {
  static_assert(check_solver<S>());
  validate(f);
  check_budget(f, budget_bytes);
  return detail::run_checked(S{}, f, budget_bytes, o);
}

template <class S>
solution solve(const problem& p, std::int64_t budget_bytes, const solve_options& o = {}) {
  static_assert(check_solver<S>());
  validate(p);
  const flat_problem f = flatten(p);
  check_budget(f, budget_bytes);
  return detail::run_checked(S{}, f, budget_bytes, o);
}

}  // namespace prismaquant::solvers
