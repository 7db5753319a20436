// expect: prismaquant solver: missing `static constexpr std::string_view name`
// A user's solver without a name is rejected with a named static_assert.
#include <prismaquant/solvers/concept.hpp>

namespace pqs = prismaquant::solvers;

struct no_name {
  pqs::solution solve(const pqs::flat_problem&, std::int64_t, const pqs::solve_options&) const { return {}; }
};

int main() {
  pqs::problem p;
  (void)pqs::solve<no_name>(p, 0);
}
