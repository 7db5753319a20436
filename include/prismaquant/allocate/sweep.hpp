#pragma once
// The Pareto sweep: solve every target, find the knee, choose the row the outputs describe
// (the only row of a single target; else the knee; else, with fewer than three feasible
// rows, the lowest Δloss). Everything the output files need is in the result.
//
//   auto r = pa::sweep(ja, pa::bits({4.5, 5, 5.5, 6}), pa::knee_method::simple);
//   pa::write_outputs("out", r);                                   // outputs.hpp
#include <prismaquant/allocate/allocate.hpp>
#include <prismaquant/allocate/kneedle.hpp>

#include <initializer_list>
#include <string>
#include <vector>

namespace prismaquant::allocate {

// A target: average bits per original parameter, or a byte budget.
struct target {
  bool is_bytes = false;
  double bits = 0.0;
  std::int64_t bytes = 0;
};
inline std::vector<target> bits(std::initializer_list<double> b) {
  std::vector<target> v;
  for (double x : b) v.push_back({false, x, 0});
  return v;
}
inline std::vector<target> bytes(std::initializer_list<std::int64_t> b) {
  std::vector<target> v;
  for (auto x : b) v.push_back({true, 0.0, x});
  return v;
}

inline std::string_view knee_method_name(knee_method k) noexcept { return k == knee_method::simple ? "simple" : "kneedle"; }
inline knee_method knee_method_by_name(const std::string& n) {
  if (n == "simple") return knee_method::simple;
  if (n == "kneedle") return knee_method::kneedle;
  throw error("--knee", "unknown knee method \"" + n + "\" (known: simple, kneedle)");
}

struct sweep_result {
  std::vector<allocation_result> rows;  // one per target, in order
  int knee = -1;                        // the knee's row; -1: fewer than three feasible rows
  int chosen = -1;                      // the row the outputs describe; -1: none feasible
  std::string chosen_by;                // "target", "knee" or "lowest Δloss"
  // What produced it (allocation.json).
  std::string proxy, saliency, solver, domain_policy, loader, knee_method;
  double alpha = 0.0;
  std::vector<double> prune_ratios, skipped_prune_ratios;
  std::int64_t total_params = 0;
  std::vector<formats::format_entry> formats;  // every format legal for some Linear (pareto.csv
                                               // columns; their facts: layer_config)
};

// Knee among the feasible rows on (achieved bits, Δloss); the row index or -1 with fewer than
// three feasible rows.
inline int pareto_knee(const std::vector<allocation_result>& rows, knee_method k = knee_method::simple) {
  std::vector<double> x, y;
  std::vector<int> idx;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (rows[i].feasible) {
      x.push_back(rows[i].sol.achieved_bits);
      y.push_back(rows[i].sol.dloss);
      idx.push_back(static_cast<int>(i));
    }
  if (x.size() < 3) return -1;
  if (k == knee_method::simple) return idx[knee_simple(x, y)];
  kneedle_options ko;
  ko.curve = knee_curve::convex;
  ko.direction = knee_direction::decreasing;
  const auto kr = kneedle(x, y, ko);
  return kr.index ? idx[*kr.index] : -1;
}

template <class Solver>
sweep_result sweep(const joint_allocator<Solver>& ja, const std::vector<target>& targets,
                   knee_method k = knee_method::simple) {
  if (targets.empty()) throw error("allocate", "no target to solve");
  sweep_result r;
  for (const auto& t : targets) r.rows.push_back(t.is_bytes ? ja.solve_bytes(t.bytes) : ja.solve_bits(t.bits));
  const bool single = targets.size() == 1;
  r.knee = single ? -1 : pareto_knee(r.rows, k);
  if (single) {
    r.chosen = r.rows[0].feasible ? 0 : -1;
    r.chosen_by = "target";
  } else if (r.knee >= 0) {
    r.chosen = r.knee;
    r.chosen_by = "knee";
  } else {
    for (std::size_t i = 0; i < r.rows.size(); ++i)
      if (r.rows[i].feasible &&
          (r.chosen < 0 || r.rows[i].sol.dloss < r.rows[static_cast<std::size_t>(r.chosen)].sol.dloss))
        r.chosen = static_cast<int>(i);
    r.chosen_by = "lowest Δloss";
  }
  const auto& b = ja.builder();
  r.proxy = std::string(b.proxy_name());
  r.saliency = std::string(b.saliency_name());
  r.solver = std::string(ja.solver_name());
  r.domain_policy = std::string(saliency::domain_policy_name(b.opts().domain_policy));
  r.loader = std::string(b.opts().loader.name);
  r.knee_method = std::string(knee_method_name(k));
  r.alpha = b.opts().alpha;
  r.prune_ratios = ja.ratios();
  r.skipped_prune_ratios = ja.skipped_ratios();
  r.total_params = ja.total_params();
  for (const auto& f : b.formats()) {
    bool legal = false;
    for (const auto& [m, row] : b.linear_table()) legal = legal || row.count(std::string(f.name)) > 0;
    if (legal) r.formats.push_back(f);
  }
  return r;
}

}  // namespace prismaquant::allocate
