#pragma once
// Brute force: every combination, for tests. Refuses problems with more combinations than
// solve_options::max_combinations (default 2^22). Ties keep the fewest bytes, then the
// lexicographically first choice vector.
#include <prismaquant/core/error.hpp>
#include <prismaquant/solvers/flat.hpp>
#include <prismaquant/solvers/options.hpp>

#include <limits>
#include <string>
#include <string_view>

namespace prismaquant::solvers {

// Number of combinations, saturated at limit+1.
inline std::int64_t combinations(const flat_problem& f, std::int64_t limit) {
  std::int64_t c = 1;
  for (std::size_t i = 0; i < f.items(); ++i) {
    if (__builtin_mul_overflow(c, f.count(i), &c) || c > limit) return limit + 1;
  }
  return c;
}

struct brute_force {
  static constexpr std::string_view name = "brute_force";
  solution solve(const flat_problem& f, std::int64_t budget, const solve_options& o) const {
    const std::int64_t combos = combinations(f, o.max_combinations);
    if (combos > o.max_combinations)
      throw error("brute_force", "the problem has more than " + std::to_string(o.max_combinations) +
                                     " combinations; brute force is for small test problems (use --solver exact)");
    const std::size_t n = f.items();
    std::vector<int> c(n, 0), best;
    double best_d = std::numeric_limits<double>::infinity();
    std::int64_t best_b = 0;
    for (std::int64_t it = 0; it < combos; ++it) {
      auto e = evaluate(f, c);
      if (e.bytes <= budget && (e.dloss < best_d || (e.dloss == best_d && e.bytes < best_b))) {
        best_d = e.dloss;
        best_b = e.bytes;
        best = c;
      }
      for (std::size_t i = n; i-- > 0;) {  // odometer, last item fastest
        if (++c[i] < f.count(i)) break;
        c[i] = 0;
      }
    }
    if (best.empty() && n > 0) throw error("brute_force", "no combination fits the budget");
    solution s;
    s.choice = best;
    finish(f, s);
    s.lower_bound = s.root_bound = s.dloss;
    s.gap = 0.0;
    s.status = solve_status::optimal;
    return s;
  }
};

}  // namespace prismaquant::solvers
