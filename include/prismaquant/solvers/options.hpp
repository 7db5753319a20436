#pragma once
// Knobs shared by the built-in solvers (one struct so `--solver NAME` can pick any of them).
#include <cstdint>

namespace prismaquant::solvers {

struct solve_options {
  // exact: stop once the certified relative gap is <= this; 0 proves optimality.
  double gap_tolerance = 0.0;
  // exact: DP states (summed over the core) before it stops and returns status "feasible"
  // with the honest bound it has.
  std::int64_t max_states = 20'000'000;
  // exact: wall-clock limit of the completion search, seconds; 0 = none (the default, so the
  // answer depends only on the problem and max_states, never on the machine's speed).
  double time_limit_s = 0.0;
  // exact: size of the heuristic first pass (the most ambiguous core items re-optimised with
  // the rest held at the incumbent) that runs when the core is larger than half of it.
  std::int64_t phase1_items = 192;
  // reference_dp: bin width on the average-bits axis, and the re-solve loop's iteration cap.
  double bit_precision = 1e-4;
  int max_iters = 6;
  // brute_force: refuses problems with more combinations than this.
  std::int64_t max_combinations = std::int64_t{1} << 22;
};

}  // namespace prismaquant::solvers
