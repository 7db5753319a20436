#pragma once
// Joint allocation: one global prune ratio per solve (every MoE layer keeps the same number
// of experts, as config.json carries one scalar), each ratio solved exactly, the best ratio
// by Δloss kept. Targets are average bits per original parameter or a byte budget.
#include <prismaquant/allocate/candidates.hpp>
#include <prismaquant/solvers/flat.hpp>
#include <prismaquant/solvers/registry.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace prismaquant::allocate {

struct solver_choice {
  std::string name = "exact";
  solvers::solve_options options{};
};

struct allocation_result {
  bool feasible = false;
  std::string note;                           // why infeasible
  double target_bits = 0.0;
  std::int64_t budget_bytes = 0;
  double ratio = 0.0;
  int experts_dropped_per_layer = 0;
  int n_layers_pruned = 0;
  int n_experts_dropped = 0;
  solvers::solution sol;
  std::map<std::string, std::string> layer_formats;   // kept checkpoint Linear -> format
  std::map<std::string, std::vector<int>> pruned;     // router -> dropped expert ids (sorted)
  std::map<std::string, std::int64_t> layers_by_fmt;  // number of Linears per format
  std::map<std::string, std::int64_t> params_by_fmt;  // their parameters
};

// Prepared per-ratio problems, reused across every target of a sweep.
class joint_allocator {
 public:
  joint_allocator(const candidate_builder& b, std::vector<double> ratios, solver_choice s = {})
      : b_(b), solver_(std::move(s)) {
    if (ratios.empty()) ratios = {0.0};
    if (!b.has_moe()) ratios = {0.0};
    std::sort(ratios.begin(), ratios.end());
    ratios.erase(std::unique(ratios.begin(), ratios.end()), ratios.end());
    for (double r : ratios) {
      if (!(r >= 0.0 && r < 1.0)) throw error("--prune-ratios", "ratio " + std::to_string(r) + " is not in [0, 1)");
      if (!b.ratio_allowed(r)) {
        skipped_.push_back(r);  // would keep fewer than top_k experts somewhere
        continue;
      }
      auto bp = std::make_shared<built_problem>(b.build(r));
      auto fp = std::make_shared<solvers::flat_problem>(solvers::flatten(bp->problem));
      prepared_.push_back({r, bp, fp});
    }
    if (prepared_.empty()) throw error("--prune-ratios", "every prune ratio keeps fewer than top_k experts");
  }

  std::int64_t total_params() const { return prepared_.front().flat->total_params(); }
  // floor(bits · total_params / 8); a target that is not finite and positive, or whose budget
  // is beyond int64, is an error (the conversion to an integer would be undefined).
  std::int64_t budget_for_bits(double bits) const {
    const double b = std::floor(bits * static_cast<double>(total_params()) / 8.0);
    if (!(bits > 0.0) || !(b < 9223372036854775808.0))
      throw error("target bits", std::to_string(bits) + " bits per parameter is not a budget in bytes (positive, below 2^63)");
    return static_cast<std::int64_t>(b);
  }
  const std::vector<double>& skipped_ratios() const { return skipped_; }
  std::vector<double> ratios() const {
    std::vector<double> v;
    for (auto& p : prepared_) v.push_back(p.ratio);
    return v;
  }
  // Smallest feasible size over all ratios.
  std::int64_t min_bytes() const {
    std::int64_t m = std::numeric_limits<std::int64_t>::max();
    for (auto& p : prepared_) m = std::min(m, solvers::min_total_bytes(*p.flat));
    return m;
  }

  allocation_result solve_bytes(std::int64_t budget) const {
    allocation_result best;
    best.budget_bytes = budget;
    best.target_bits = 8.0 * static_cast<double>(budget) / static_cast<double>(total_params());
    const prepared* bestp = nullptr;
    // A certified bound on the joint optimum is the smallest bound over the ratios solved
    // (each ratio's optimum is ≥ its bound; the joint optimum is the best ratio's optimum).
    double joint_lb = std::numeric_limits<double>::infinity();
    for (auto& p : prepared_) {
      if (solvers::min_total_bytes(*p.flat) > budget) continue;
      auto sol = solvers::solve_by_name(solver_.name, *p.flat, budget, solver_.options);
      joint_lb = std::min(joint_lb, sol.lower_bound);
      // strictly better Δloss wins; on ties the smaller ratio (earlier) stays
      if (!bestp || sol.dloss < best.sol.dloss) {
        best.sol = std::move(sol);
        bestp = &p;
      }
    }
    if (!bestp) {
      best.feasible = false;
      best.note = "infeasible: " + std::to_string(budget) + " bytes is below the smallest feasible size " +
                  std::to_string(min_bytes()) + " bytes (" +
                  std::to_string(8.0 * static_cast<double>(min_bytes()) / static_cast<double>(total_params())) +
                  " bits/param)";
      return best;
    }
    best.feasible = true;
    best.sol.lower_bound = joint_lb;
    best.sol.gap = (best.sol.dloss - joint_lb) / std::max(std::fabs(best.sol.dloss), 1e-300);
    if (!(best.sol.gap > 0.0)) best.sol.gap = std::isfinite(joint_lb) ? 0.0 : best.sol.gap;
    best.ratio = bestp->ratio;
    best.experts_dropped_per_layer = bestp->built->experts_dropped_per_layer;
    expand(*bestp->built, best);
    return best;
  }

  allocation_result solve_bits(double bits) const {
    auto r = solve_bytes(budget_for_bits(bits));
    r.target_bits = bits;
    return r;
  }

 private:
  struct prepared {
    double ratio;
    std::shared_ptr<built_problem> built;
    std::shared_ptr<solvers::flat_problem> flat;
  };

  void expand(const built_problem& bp, allocation_result& r) const {
    const auto& st = b_.linear_table();
    (void)st;
    for (std::size_t i = 0; i < bp.problem.items.size(); ++i) {
      const auto& c = bp.problem.items[i].candidates[static_cast<std::size_t>(r.sol.choice[i])];
      const auto& inf = bp.info[i];
      auto put = [&](const std::string& m, std::int64_t params) {
        r.layer_formats[m] = c.fmt;
        r.layers_by_fmt[c.fmt] += 1;
        r.params_by_fmt[c.fmt] += params;
      };
      if (!inf.moe) {
        for (auto& m : inf.members) put(m, params_of(m));
        continue;
      }
      std::vector<char> dropped(static_cast<std::size_t>(inf.num_experts), 0);
      for (int j : c.pruned_expert_ids) dropped[static_cast<std::size_t>(j)] = 1;
      if (!c.pruned_expert_ids.empty()) r.pruned[inf.router] = c.pruned_expert_ids;
      const int lo = inf.expert >= 0 ? inf.expert : 0, hi = inf.expert >= 0 ? inf.expert + 1 : inf.num_experts;
      for (int e = lo; e < hi; ++e) {
        if (dropped[static_cast<std::size_t>(e)]) continue;
        for (auto& pj : inf.projections) {
          const std::string m = inf.experts_prefix + "." + std::to_string(e) + "." + pj;
          put(m, params_of(m));
        }
      }
    }
    r.n_layers_pruned = static_cast<int>(r.pruned.size());
    r.n_experts_dropped = 0;
    for (auto& [rt, ids] : r.pruned) r.n_experts_dropped += static_cast<int>(ids.size());
  }

  std::int64_t params_of(const std::string& m) const { return b_.linear_params(m); }

  const candidate_builder& b_;
  solver_choice solver_;
  std::vector<prepared> prepared_;
  std::vector<double> skipped_;
};

}  // namespace prismaquant::allocate
