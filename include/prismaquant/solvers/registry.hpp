#pragma once
// Solvers at run time: `any_solver` holds any solver behind one call (a model of the same
// concept, with name() at run time), and the built-in solvers by name, for `--solver NAME`:
// exact, hull_greedy, brute_force, reference_dp.
#include <prismaquant/core/error.hpp>
#include <prismaquant/solvers/brute_force.hpp>
#include <prismaquant/solvers/concept.hpp>
#include <prismaquant/solvers/exact.hpp>
#include <prismaquant/solvers/hull_greedy.hpp>
#include <prismaquant/solvers/reference_dp.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace prismaquant::solvers {

class any_solver {
 public:
  template <class S>
    requires(!std::same_as<std::remove_cvref_t<S>, any_solver>)
  any_solver(S s)  // implicit: any solver converts where an any_solver is wanted
      : any_solver(std::move(s), check_solver<S>()) {}
  std::string_view name() const noexcept { return name_; }
  solution solve(const flat_problem& f, std::int64_t budget, const solve_options& o) const { return fn_(f, budget, o); }

 private:
  template <class S>
  any_solver(S s, bool)
      : name_(policy_name(s)),
        fn_([s = std::move(s)](const flat_problem& f, std::int64_t b, const solve_options& o) { return s.solve(f, b, o); }) {}
  std::string name_;
  std::function<solution(const flat_problem&, std::int64_t, const solve_options&)> fn_;
};
static_assert(solver<any_solver>);

using builtin_solvers = std::tuple<exact, hull_greedy, brute_force, reference_dp>;

inline std::vector<any_solver> builtin_solver_list() {
  return std::apply([](auto... s) { return std::vector<any_solver>{any_solver(s)...}; }, builtin_solvers{});
}

inline std::vector<std::string_view> solver_names() {
  return std::apply([](auto... s) { return std::vector<std::string_view>{decltype(s)::name...}; }, builtin_solvers{});
}

// The built-in solver named `name`; throws naming the known ones.
inline any_solver solver_by_name(std::string_view name) { return find_policy(builtin_solver_list(), name, "solver", "solver"); }

inline solution solve_by_name(std::string_view name, const problem& p, std::int64_t budget, const solve_options& o = {}) {
  return solve(solver_by_name(name), p, budget, o);
}
inline solution solve_by_name(std::string_view name, const flat_problem& f, std::int64_t budget,
                              const solve_options& o = {}) {
  return solve(solver_by_name(name), f, budget, o);
}

}  // namespace prismaquant::solvers
