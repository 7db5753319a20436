#pragma once
// Built-in solvers by name, for `--solver NAME`: exact, hull_greedy, brute_force, reference_dp.
#include <prismaquant/core/error.hpp>
#include <prismaquant/solvers/brute_force.hpp>
#include <prismaquant/solvers/concept.hpp>
#include <prismaquant/solvers/exact.hpp>
#include <prismaquant/solvers/hull_greedy.hpp>
#include <prismaquant/solvers/reference_dp.hpp>

#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace prismaquant::solvers {

using builtin_solvers = std::tuple<exact, hull_greedy, brute_force, reference_dp>;

inline std::vector<std::string_view> solver_names() {
  return std::apply([](auto... s) { return std::vector<std::string_view>{decltype(s)::name...}; }, builtin_solvers{});
}

namespace detail {
template <class P>
solution solve_named(std::string_view name, const P& p, std::int64_t budget, const solve_options& o) {
  solution r;
  bool found = false;
  std::apply([&](auto... s) { ((!found && decltype(s)::name == name ? (r = solve<decltype(s)>(p, budget, o), found = true) : false), ...); },
             builtin_solvers{});
  if (!found) {
    std::string known;
    for (auto n : solver_names()) known += (known.empty() ? "" : ", ") + std::string(n);
    throw error("solver", "unknown solver \"" + std::string(name) + "\" (known: " + known + ")");
  }
  return r;
}
}  // namespace detail

inline solution solve_by_name(std::string_view name, const problem& p, std::int64_t budget, const solve_options& o = {}) {
  return detail::solve_named(name, p, budget, o);
}
inline solution solve_by_name(std::string_view name, const flat_problem& f, std::int64_t budget,
                              const solve_options& o = {}) {
  return detail::solve_named(name, f, budget, o);
}

}  // namespace prismaquant::solvers
