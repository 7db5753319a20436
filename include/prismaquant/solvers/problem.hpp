#pragma once
// The multiple-choice knapsack problem every solver takes: pick exactly one candidate per
// item so that the summed bytes fit an integer budget and the summed Δloss is smallest.
// This is the in-memory form of the documented problem JSON (docs/solvers.md).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::solvers {

struct candidate {
  std::string fmt;                        // canonical format name (or a joint label)
  std::int64_t memory_bytes = 0;          // exact storage bytes of this choice
  double dloss = 0.0;                     // predicted Δloss of this choice
  std::vector<int> pruned_expert_ids{};   // MoE joint candidates: experts this choice drops
};

struct item {
  std::string name;
  std::int64_t n_params = 0;              // parameters the item stands for (bits = 8·bytes/params)
  std::vector<candidate> candidates;
};

struct problem {
  std::vector<item> items;
};

// optimal: proven optimal (lower_bound == dloss). feasible: within budget, optimality not
// proven; lower_bound is still a certified bound. infeasible: only in a default-constructed
// solution (solvers throw on infeasible budgets instead of returning one).
enum class solve_status { optimal, feasible, infeasible };

inline std::string_view to_string(solve_status s) {
  switch (s) {
    case solve_status::optimal: return "optimal";
    case solve_status::feasible: return "feasible";
    default: return "infeasible";
  }
}

struct solution {
  solve_status status = solve_status::infeasible;
  std::int64_t total_bytes = 0;
  double achieved_bits = 0.0;
  double dloss = 0.0;
  double lower_bound = 0.0;               // certified: no feasible choice has smaller Δloss
  double gap = 0.0;                       // (dloss - lower_bound) / max(|dloss|, tiny)
  double seconds = 0.0;                   // solve time, excluding file I/O
  std::vector<int> choice;                // per item: index into its candidates
  // Diagnostics (not part of the solution JSON).
  double root_bound = 0.0;                // Lagrangian/LP bound before any search
  std::int64_t core_items = 0;            // exact: items left undecided by the root reduction
  std::int64_t states = 0;                // exact: DP states created; reference_dp: DP cells
  int iterations = 0;                     // reference_dp: solves in the re-solve loop
  bool repaired = false;                  // reference_dp: needed the budget repair (not in the reference)
};

}  // namespace prismaquant::solvers
