#pragma once
// `prismaquant allocate`: stats + costs -> layer_config.json, its prune manifest, pareto.csv,
// pareto.svg and allocation.json (docs/allocation.md, docs/file-formats.md).
#include <prismaquant/cli/command.hpp>
#include <prismaquant/cli/options.hpp>
#include <prismaquant/cli/toolset.hpp>

#include <prismaquant/allocate/inputs.hpp>
#include <prismaquant/allocate/outputs.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/proxies/registry.hpp>
#include <prismaquant/saliency/domains.hpp>
#include <prismaquant/solvers/registry.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace prismaquant::cli {

namespace allocate_detail {

namespace pq = prismaquant;
namespace pa = prismaquant::allocate;

struct allocate_args {
  std::string stats, costs, out;
  double target_bits = -1;
  std::int64_t target_bytes = -1;
  std::vector<double> sweep;
  std::vector<std::int64_t> sweep_bytes;
  std::string proxy = "fisher_trace", saliency = "reap", solver = "exact", domain_policy = "pooled";
  double alpha = 0.15;
  std::vector<double> prune_ratios{0.0};
  std::vector<std::string> formats;
  bool experts_match_all = false;
  bool per_expert = false;
  std::string knee = "simple";
};

inline int run_allocate(const allocate_args& a, bool have_bits, bool have_bytes) {
  namespace fs = std::filesystem;
  const int modes = have_bits + have_bytes + (!a.sweep.empty() || !a.sweep_bytes.empty());
  if (modes != 1) throw pq::error("--target-bits", "give exactly one of --target-bits, --target-bytes, --sweep/--sweep-bytes");
  // The outputs: all five files or none (io/output_set.hpp); checked before any work.
  pq::output_set out(a.out, pq::publish_mode::replace_files, {}, "--out " + a.out);
  const auto st = pq::stats::read_stats(a.stats);
  const auto co = pq::stats::read_costs(a.costs);
  pa::auto_profile_options po;
  po.experts_match_all = a.experts_match_all;
  auto prof = pa::auto_profile(st, po);
  prof.formats = pa::formats_considered(co, a.costs, a.formats);
  pa::require_costs_for(st, co, a.costs, prof.formats);
  prof.aggregate_experts = !a.per_expert;
  pa::allocation_options ao;
  ao.alpha = a.alpha;
  ao.domain_policy = pq::saliency::domain_policy_by_name(a.domain_policy);
  pa::candidate_builder b(st, co, prof, pq::proxy::proxy_by_name(a.proxy), pq::saliency::saliency_by_name(a.saliency), ao);
  {
    bool known = false;
    for (auto n : pq::solvers::solver_names()) known = known || n == a.solver;
    if (!known) (void)pq::solvers::solve_by_name(a.solver, pq::solvers::problem{}, 0);  // throws naming the known ones
  }
  pa::joint_allocator ja(b, a.prune_ratios, pa::solver_choice{a.solver, {}});
  for (double r : ja.skipped_ratios())
    std::fprintf(stderr, "prismaquant allocate: prune ratio %g skipped (keeps fewer than top_k experts)\n", r);

  std::vector<pa::allocation_result> rows;
  const bool single = have_bits || have_bytes;
  if (have_bits) rows.push_back(ja.solve_bits(a.target_bits));
  if (have_bytes) rows.push_back(ja.solve_bytes(a.target_bytes));
  for (double bits : a.sweep) rows.push_back(ja.solve_bits(bits));
  for (auto by : a.sweep_bytes) rows.push_back(ja.solve_bytes(by));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (r.feasible)
      std::fprintf(stderr, "[%zu/%zu] target %.4f bits: %.4f bits, %lld bytes, dloss %.6g (gap %.2g), ratio %g, %d experts dropped\n",
                   i + 1, rows.size(), r.target_bits, r.sol.achieved_bits, static_cast<long long>(r.sol.total_bytes),
                   r.sol.dloss, r.sol.gap, r.ratio, r.n_experts_dropped);
    else
      std::fprintf(stderr, "[%zu/%zu] target %.4f bits: %s\n", i + 1, rows.size(), r.target_bits, r.note.c_str());
  }
  if (single && !rows[0].feasible) throw pq::error("allocate", rows[0].note);

  int knee = -1;
  if (a.knee == "simple") {
    knee = pa::pareto_knee(rows);
  } else if (a.knee == "kneedle") {
    std::vector<double> x, y;
    std::vector<int> idx;
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (rows[i].feasible) { x.push_back(rows[i].sol.achieved_bits); y.push_back(rows[i].sol.dloss); idx.push_back(static_cast<int>(i)); }
    pa::kneedle_options ko;
    ko.curve = pa::knee_curve::convex;
    ko.direction = pa::knee_direction::decreasing;
    if (x.size() >= 3)
      if (auto kr = pa::kneedle(x, y, ko); kr.index) knee = idx[*kr.index];
  } else {
    throw pq::error("--knee", "unknown knee method \"" + a.knee + "\" (known: simple, kneedle)");
  }
  int chosen = single ? 0 : knee;
  if (chosen < 0) {  // too few points for a knee: the lowest-Δloss feasible row
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (rows[i].feasible && (chosen < 0 || rows[i].sol.dloss < rows[static_cast<std::size_t>(chosen)].sol.dloss))
        chosen = static_cast<int>(i);
  }
  if (chosen < 0) throw pq::error("allocate", "no target is feasible: " + rows[0].note);

  const auto& c = rows[static_cast<std::size_t>(chosen)];
  const fs::path lc = out.path("layer_config.json");
  pa::write_layer_config(lc, c);
  pa::write_prune_manifest(pa::prune_manifest_path(lc), c, st);
  const auto fmts = pa::formats_in(rows, b);
  out.write("pareto.csv", pa::pareto_csv(rows, fmts));
  out.write("pareto.svg", pa::pareto_svg(rows, knee, chosen));
  nlohmann::json s;
  s["proxy"] = a.proxy;
  s["saliency"] = a.saliency;
  s["solver"] = a.solver;
  s["domain_policy"] = a.domain_policy;
  s["alpha"] = a.alpha;
  s["prune_ratios"] = ja.ratios();
  s["skipped_prune_ratios"] = ja.skipped_ratios();
  s["total_params"] = ja.total_params();
  s["knee_index"] = knee;
  s["chosen_index"] = chosen;
  s["chosen"] = {{"target_bits", c.target_bits},
                 {"budget_bytes", c.budget_bytes},
                 {"status", std::string(pq::solvers::to_string(c.sol.status))},
                 {"total_bytes", c.sol.total_bytes},
                 {"achieved_bits", c.sol.achieved_bits},
                 {"dloss", c.sol.dloss},
                 {"lower_bound", c.sol.lower_bound},
                 {"gap", c.sol.gap},
                 {"global_prune_ratio", c.ratio},
                 {"n_layers_pruned", c.n_layers_pruned},
                 {"n_experts_dropped", c.n_experts_dropped},
                 {"layers_by_format", c.layers_by_fmt},
                 {"params_by_format", c.params_by_fmt}};
  out.write("allocation.json", s.dump(1) + "\n");
  out.publish();
  std::printf("chosen: target %.4f bits -> %.4f bits, %lld bytes, dloss %.6g, prune ratio %g (%s)\n", c.target_bits,
              c.sol.achieved_bits, static_cast<long long>(c.sol.total_bytes), c.sol.dloss, c.ratio,
              single ? "target" : (chosen == knee ? "knee" : "lowest Δloss"));
  return 0;
}

}  // namespace allocate_detail

inline std::function<int()> setup_allocate(CLI::App& sub, const toolset&) {
  using namespace allocate_detail;
  auto a = std::make_shared<allocate_args>();
  std::vector<std::string> solvers, formats;
  for (auto n : pq::solvers::solver_names()) solvers.emplace_back(n);
  for (const auto& f : pq::formats::registry()) formats.emplace_back(f.name);
  const auto bits_range = check::number(0, 64, check::open_low);  // bits per parameter
  sub.add_option("--stats", a->stats, "stats file (prismaquant.stats JSON)")->required()->check(check::existing_file());
  sub.add_option("--costs", a->costs, "costs file (prismaquant.costs JSON)")->required()->check(check::existing_file());
  sub.add_option("--out", a->out, "output directory")->required()->check(check::output_folder());
  auto* bits = sub.add_option("--target-bits", a->target_bits, "average bits per (original) parameter")->check(bits_range);
  auto* bytes = sub.add_option("--target-bytes", a->target_bytes, "byte budget (e.g. 90e9 for 'fit in 90 GB')")
                    ->check(check::integer(0, INT64_MAX));
  auto* sweep = sub.add_option("--sweep", a->sweep, "bit targets of a Pareto sweep (comma separated)")
                    ->delimiter(',')
                    ->check(bits_range);
  auto* sweep_bytes = sub.add_option("--sweep-bytes", a->sweep_bytes, "byte targets of a Pareto sweep (comma separated)")
                          ->delimiter(',')
                          ->check(check::integer(0, INT64_MAX));
  for (auto* o : {bits, bytes, sweep, sweep_bytes})  // one kind of target; --sweep and --sweep-bytes combine
    for (auto* x : {bits, bytes, sweep, sweep_bytes})
      if (o != x && !((o == sweep && x == sweep_bytes) || (o == sweep_bytes && x == sweep))) o->excludes(x);
  sub.add_option("--proxy", a->proxy, "Δloss proxy: fisher_trace, per_row_fisher, act_weighted")
      ->check(check::one_of(pq::proxy::proxy_names()));
  sub.add_option("--saliency", a->saliency,
                 "expert saliency: reap, reap_dropout, frequency, ean_sum, ean_mean, weighted_frequency, weighted_ean")
      ->check(check::one_of(pq::saliency::saliency_names()));
  sub.add_option("--domain-policy", a->domain_policy, "combine calibration domains: pooled, mean, max, union, intersection")
      ->check(check::one_of({"pooled", "mean", "max", "union", "intersection"}));
  sub.add_option("--solver", a->solver, "knapsack solver: exact, hull_greedy, brute_force, reference_dp")
      ->check(check::one_of(solvers));
  sub.add_option("--alpha", a->alpha, "price of dropping expert j: alpha * S_j (default 0.15)")->check(check::number(0, 1e300));
  sub.add_option("--prune-ratios", a->prune_ratios, "global prune ratios to try (comma separated; default 0)")
      ->delimiter(',')
      ->check(check::number(0, 1, check::open_high));
  sub.add_option("--formats", a->formats, "formats to consider (default: all in the costs file)")
      ->delimiter(',')
      ->check(check::one_of(formats));
  sub.add_flag("--experts-match-all", a->experts_match_all, "an expert's w1/w2/w3 share one format");
  sub.add_flag("--per-expert", a->per_expert, "one item per expert (no pruning) instead of per layer");
  sub.add_option("--knee", a->knee, "knee method for a sweep: simple (reference) or kneedle (kneed)")
      ->check(check::one_of({"simple", "kneedle"}));
  return [a, bits, bytes] { return run_allocate(*a, bits->count() > 0, bytes->count() > 0); };
}

}  // namespace prismaquant::cli
