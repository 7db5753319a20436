#pragma once
// The composition point: one type names the four policies of an allocation — a format list,
// a Δloss proxy, a saliency score and a knapsack solver — and everything else follows from it.
//
//   using my_recipe = pq::recipe<>;   // NVFP4, MXFP8_E4M3, FP8_SOURCE, BF16; fisher_trace;
//                                     // reap_dropout; the exact solver (the seed's choices)
//   auto in = pq::allocate::read_inputs("stats.json", "costs.json", "model_dir");
//   auto sweep = my_recipe{}.sweep(in, pq::allocate::bits({4.5, 5, 5.5, 6}), {.prune_ratios = {0, 0.125}});
//   pq::allocate::write_outputs("out", sweep);
//
// From the types:
//   needs          the statistics the proxy and the score read (stat::list, one vocabulary);
//   cost_request   the cost pass's part of them (plus sse and max_abs, which every costs file
//                  carries): `measure` / `measure_model` compute exactly those, for the
//                  recipe's formats, in one read of each weight;
//   probe_needs    the probe's part (per Linear and per router);
// and the candidate builder, the joint allocator and the sweep, each instantiated with the
// recipe's policy types (no erasure, no lookup by name). Policies with state (a calibrated
// gain, a tuned solver) are members: `my_recipe r; r.dloss_proxy = fitted;`.
#include <prismaquant/allocate/allocate.hpp>
#include <prismaquant/allocate/candidates.hpp>
#include <prismaquant/allocate/inputs.hpp>
#include <prismaquant/allocate/outputs.hpp>
#include <prismaquant/allocate/sweep.hpp>
#include <prismaquant/cost/engine.hpp>
#include <prismaquant/cost/model.hpp>
#include <prismaquant/cost/request.hpp>
#include <prismaquant/formats/list.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/proxies/fisher_trace.hpp>
#include <prismaquant/saliency/scores.hpp>
#include <prismaquant/solvers/exact.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <filesystem>
#include <span>
#include <vector>

namespace prismaquant {

using formats::seed_formats;  // NVFP4, MXFP8_E4M3, FP8_SOURCE, BF16

namespace detail {
template <class L>
struct is_format_list : std::false_type {};
template <class... F>
struct is_format_list<formats::format_list<F...>> : std::true_type {
  static constexpr bool checked = (formats::check_format<F>() && ...);
};
}  // namespace detail

template <class Formats = seed_formats, class Proxy = proxy::fisher_trace, class Saliency = saliency::reap_dropout,
          class Solver = solvers::exact>
struct recipe {
  static_assert(detail::is_format_list<Formats>::value,
                "prismaquant recipe: the first argument must be a formats::format_list<F...>");
  static_assert(detail::is_format_list<Formats>::checked);
  static_assert(proxy::check_proxy<Proxy>());
  static_assert(saliency::check_saliency<Saliency>());
  static_assert(solvers::check_solver<Solver>());
  static_assert(static_policy_needs<Proxy> && static_policy_needs<Saliency>,
                "prismaquant recipe: the proxy and the score must declare `using needs = stat::list<...>` (an "
                "erased any_proxy / any_saliency knows its needs only at run time: use allocate:: directly)");

  using format_list = Formats;
  using proxy_type = Proxy;
  using saliency_type = Saliency;
  using solver_type = Solver;

  using needs = typename Proxy::needs::template join<typename Saliency::needs>;
  using cost_request = cost::request_for<typename needs::template join<stat::list<stat::sse, stat::max_abs>>>;
  using probe_needs = typename needs::template only<stat::stage::probe_linear>::template join<
      typename needs::template only<stat::stage::probe_router>>;

  Proxy dloss_proxy{};
  Saliency expert_saliency{};
  Solver knapsack_solver{};

  // The recipe's formats, with their facts (the allocator's view of them).
  static std::vector<formats::format_entry> format_entries() { return formats::entries_of<Formats>(); }

  // The cost pass over the recipe's formats: exactly cost_request, one read of each weight.
  static std::vector<cost::tensor_cost> measure(std::span<const cost::job> jobs, const cost::options& o = {}) {
    return cost::evaluate<Formats, cost_request>(jobs, o);
  }
  // The same over a whole checkpoint (cost/model.hpp), as the costs file holds it. `stats`:
  // the Linears' xtx_diag, when the proxy reads act_sse.
  static stats::model_costs measure_model(const std::filesystem::path& dir, const stats::model_stats* stats = nullptr) {
    auto m = model::open_model(dir);
    cost::model_options o;
    o.row_sse = cost_request::row_sse;
    o.act_sse = cost_request::act_sse;
    o.stats = stats;
    const auto fmts = format_entries();
    return cost::measure_model(
               m, fmts, [](std::span<const cost::job> jobs, bool) { return measure(jobs); }, o)
        .costs;
  }

  allocate::candidate_builder candidates(const allocate::inputs& in, const allocate::options& o = {}) const {
    const auto fmts = format_entries();
    return allocate::candidate_builder(in, fmts, dloss_proxy, expert_saliency, o);
  }

  allocate::joint_allocator<Solver> allocator(const allocate::inputs& in, const allocate::options& o = {}) const {
    return allocate::joint_allocator<Solver>(candidates(in, o), o.prune_ratios, knapsack_solver, o.solve);
  }

  allocate::sweep_result sweep(const allocate::inputs& in, const std::vector<allocate::target>& targets,
                               const allocate::options& o = {}) const {
    return allocate::sweep(allocator(in, o), targets, o.knee);
  }
};

}  // namespace prismaquant
