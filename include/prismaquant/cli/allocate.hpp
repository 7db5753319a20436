#pragma once
// `prismaquant allocate`: stats + costs (+ the model's description) -> layer_config.json, its
// prune manifest, pareto.csv, pareto.svg and allocation.json (docs/allocation.md,
// docs/file-formats.md). The names given on the command line pick erased policies from the
// executable's toolset (cli/toolset.hpp), which then run the same candidate builder, joint
// allocator and sweep as a compile-time pq::recipe.
#include <prismaquant/allocate/allocate.hpp>
#include <prismaquant/allocate/alpha_fit.hpp>
#include <prismaquant/allocate/inputs.hpp>
#include <prismaquant/allocate/outputs.hpp>
#include <prismaquant/allocate/sweep.hpp>
#include <prismaquant/cli/command.hpp>
#include <prismaquant/cli/options.hpp>
#include <prismaquant/cli/toolset.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/core/error.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace prismaquant::cli {

namespace allocate_detail {

namespace pq = prismaquant;
namespace pa = prismaquant::allocate;

struct allocate_args {
  std::string stats, costs, model, out;
  double target_bits = -1;
  std::int64_t target_bytes = -1;
  std::vector<double> sweep;
  std::vector<std::int64_t> sweep_bytes;
  std::string proxy = "fisher_trace", saliency = "reap_dropout", solver = "exact", domain_policy = "pooled";
  std::string loader = "vllm", knee = "simple";
  double alpha = 0.15;
  std::string alpha_fit;  // validate's alpha_fit.csv: alpha for --saliency, fitted in nats
  std::vector<double> prune_ratios{0.0};
  std::vector<std::string> formats;
  bool experts_match_all = false;
  bool per_expert = false;
};

inline int run_allocate(const toolset& tools, const allocate_args& a, bool have_bits, bool have_bytes) {
  const int modes = have_bits + have_bytes + (!a.sweep.empty() || !a.sweep_bytes.empty());
  if (modes != 1) throw pq::error("--target-bits", "give exactly one of --target-bits, --target-bytes, --sweep/--sweep-bytes");
  // Names first, so a typo fails before any file is read.
  const auto& proxy = tools.proxy(a.proxy);
  const auto& score = tools.saliency(a.saliency);
  const auto& solver = tools.solver(a.solver);
  pa::options o;
  o.alpha = a.alpha_fit.empty() ? a.alpha : pa::read_alpha_fit(a.alpha_fit, a.saliency);
  if (!a.alpha_fit.empty())
    std::fprintf(stderr, "prismaquant allocate: alpha %.6g for %s, fitted by validate (%s)\n", o.alpha, a.saliency.c_str(),
                 a.alpha_fit.c_str());
  o.domain_policy = pq::saliency::domain_policy_by_name(a.domain_policy);
  o.loader = pa::loader_rules::by_name(a.loader);
  o.knee = pa::knee_method_by_name(a.knee);
  o.prune_ratios = a.prune_ratios;
  o.formats = a.formats;
  o.experts_match_all = a.experts_match_all;
  o.per_expert = a.per_expert;
  // The outputs: all five files or none (io/output_set.hpp); checked before any work.
  pq::output_set out(a.out, pq::publish_mode::replace_files, {}, "--out " + a.out);

  const pa::inputs in = pa::read_inputs(a.stats, a.costs, a.model);
  // The formats considered, with their facts from this executable's registry; each measured
  // for every Linear that can store it.
  const auto fmts = pa::formats_considered(in.costs, a.costs, tools.formats, a.formats);
  pa::require_costs_for(in, fmts, a.costs);

  pa::joint_allocator ja(pa::candidate_builder(in, fmts, proxy, score, o), o.prune_ratios, solver, o.solve);
  for (double r : ja.skipped_ratios())
    std::fprintf(stderr, "prismaquant allocate: prune ratio %g skipped (keeps fewer than top_k experts)\n", r);

  std::vector<pa::target> targets;
  if (have_bits) targets.push_back({false, a.target_bits, 0});
  if (have_bytes) targets.push_back({true, 0.0, a.target_bytes});
  for (double b : a.sweep) targets.push_back({false, b, 0});
  for (auto b : a.sweep_bytes) targets.push_back({true, 0.0, b});
  const pa::sweep_result s = pa::sweep(ja, targets, o.knee);
  for (std::size_t i = 0; i < s.rows.size(); ++i) {
    const auto& r = s.rows[i];
    if (r.feasible)
      std::fprintf(stderr, "[%zu/%zu] target %.4f bits: %.4f bits, %lld bytes, dloss %.6g (gap %.2g), ratio %g, %d experts dropped\n",
                   i + 1, s.rows.size(), r.target_bits, r.sol.achieved_bits, static_cast<long long>(r.sol.total_bytes),
                   r.sol.dloss, r.sol.gap, r.ratio, r.n_experts_dropped);
    else
      std::fprintf(stderr, "[%zu/%zu] target %.4f bits: %s\n", i + 1, s.rows.size(), r.target_bits, r.note.c_str());
  }
  if (targets.size() == 1 && !s.rows[0].feasible) throw pq::error("allocate", s.rows[0].note);
  pa::write_outputs(out, s);
  const auto& c = s.rows[static_cast<std::size_t>(s.chosen)];
  std::printf("chosen: target %.4f bits -> %.4f bits, %lld bytes, dloss %.6g, prune ratio %g (%s)\n", c.target_bits,
              c.sol.achieved_bits, static_cast<long long>(c.sol.total_bytes), c.sol.dloss, c.ratio, s.chosen_by.c_str());
  return 0;
}

}  // namespace allocate_detail

inline std::function<int()> setup_allocate(CLI::App& sub, const toolset& tools) {
  using namespace allocate_detail;
  auto a = std::make_shared<allocate_args>();
  const auto bits_range = check::number(0, 64, check::open_low);  // bits per parameter
  sub.add_option("--stats", a->stats, "stats file (prismaquant.stats JSON)")->required()->check(check::existing_file());
  sub.add_option("--costs", a->costs, "costs file (prismaquant.costs JSON)")->required()->check(check::existing_file());
  sub.add_option("--model", a->model,
                 "checkpoint folder: its description (fused groups, MoE layers, sources) from config.json and the "
                 "safetensors headers; default: the one the stats' module names imply")
      ->check(check::existing_path());
  sub.add_option("--out", a->out, "output directory")->required()->check(check::output_folder());
  auto* bits = sub.add_option("--target-bits", a->target_bits, "average bits per (original) parameter")->check(bits_range);
  auto* bytes = sub.add_option("--target-bytes", a->target_bytes, "byte budget (e.g. 90e9 for 'fit in 90 GB')")
                    ->transform(check::integer(0, INT64_MAX));
  auto* sweep = sub.add_option("--sweep", a->sweep, "bit targets of a Pareto sweep (comma separated)")
                    ->delimiter(',')
                    ->check(bits_range);
  auto* sweep_bytes = sub.add_option("--sweep-bytes", a->sweep_bytes, "byte targets of a Pareto sweep (comma separated)")
                          ->delimiter(',')
                          ->transform(check::integer(0, INT64_MAX));
  for (auto* o : {bits, bytes, sweep, sweep_bytes})  // one kind of target; --sweep and --sweep-bytes combine
    for (auto* x : {bits, bytes, sweep, sweep_bytes})
      if (o != x && !((o == sweep && x == sweep_bytes) || (o == sweep_bytes && x == sweep))) o->excludes(x);
  sub.add_option("--proxy", a->proxy, "Δloss proxy: " + toolset::names(tools.proxies))
      ->capture_default_str()
      ->check(check::one_of(toolset::name_list(tools.proxies)));
  sub.add_option("--saliency", a->saliency, "expert saliency: " + toolset::names(tools.saliencies))
      ->capture_default_str()
      ->check(check::one_of(toolset::name_list(tools.saliencies)));
  sub.add_option("--domain-policy", a->domain_policy, "combine calibration domains: pooled, mean, max, union, intersection")
      ->capture_default_str()
      ->check(check::one_of({"pooled", "mean", "max", "union", "intersection"}));
  sub.add_option("--solver", a->solver, "knapsack solver: " + toolset::names(tools.solvers))
      ->capture_default_str()
      ->check(check::one_of(toolset::name_list(tools.solvers)));
  sub.add_option("--loader", a->loader,
                 "what the served model must satisfy: vllm (one scheme per MoE layer) or transformers (w2 may differ)")
      ->capture_default_str()
      ->check(check::one_of({"vllm", "transformers"}));
  auto* alpha = sub.add_option("--alpha", a->alpha, "price of dropping expert j: alpha * S_j")
                    ->capture_default_str()
                    ->check(check::number(0, 1e300));
  sub.add_option("--alpha-fit", a->alpha_fit,
                 "alpha_fit.csv of prismaquant validate: alpha for --saliency as fitted on measured prune sets (loss units)")
      ->check(check::existing_file())
      ->excludes(alpha);
  sub.add_option("--prune-ratios", a->prune_ratios, "global prune ratios to try (comma separated; default 0)")
      ->delimiter(',')
      ->check(check::number(0, 1, check::open_high));
  sub.add_option("--formats", a->formats, "formats to consider (default: all in the costs file)")
      ->delimiter(',')
      ->check(check::one_of(toolset::name_list(tools.formats)));
  sub.add_flag("--experts-match-all", a->experts_match_all, "an expert's w1/w2/w3 share one format (vllm: always)");
  sub.add_flag("--per-expert", a->per_expert, "one item per expert (no pruning; --loader transformers)");
  sub.add_option("--knee", a->knee, "knee method for a sweep: simple (reference) or kneedle (kneed)")
      ->capture_default_str()
      ->check(check::one_of({"simple", "kneedle"}));
  return [a, bits, bytes, &tools] { return run_allocate(tools, *a, bits->count() > 0, bytes->count() > 0); };
}

}  // namespace prismaquant::cli
