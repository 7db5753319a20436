// expect: prismaquant solver: missing `solution solve(const flat_problem&, std::int64_t budget_bytes, const solve_options&) const`
// A user's solver whose solve() has the wrong signature is rejected with a named static_assert.
#include <prismaquant/solvers/concept.hpp>

namespace pqs = prismaquant::solvers;

struct wrong_solve {
  static constexpr std::string_view name = "wrong";
  pqs::solution solve(const pqs::problem&) const { return {}; }
};

int main() {
  pqs::problem p;
  (void)pqs::solve<wrong_solve>(p, 0);
}
