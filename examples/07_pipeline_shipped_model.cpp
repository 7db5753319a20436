// 07: the whole method on the shipped model (models/minimax-m2-tiny: MiniMax-M2 layout, 4
// layers × 32 experts, FP8-block weights), as library calls — what `prismaquant pipeline` runs
// as commands: probe → cost → allocate (Pareto sweep, knee, joint expert pruning) → export a
// compressed-tensors checkpoint → held-out loss before and after.
//
// The recipe prices each format as the weight-only export stores it (NVFP4A16, MXFP8 with
// compressed-tensors' scale rule, the source's FP8 blocks, BF16), so what was priced is what is
// written. Verify before trusting:
//   - the source's held-out loss is the one transformers measured on the stored model
//     (models/minimax-m2-tiny/eval_results.json, 2e-5);
//   - the checkpoint's Linear tensors hold exactly the allocation's bytes;
//   - the checkpoint, reloaded from disk and decoded (engine::stored_weights), has the loss of
//     the allocation's own round trip of the source (layer config + prune manifest), 1e-9;
//     with the served activation quantization on (FP8 / MX inputs) the loss is reported too.
#include <prismaquant/engine/compressed_weights.hpp>
#include <prismaquant/engine/eval.hpp>
#include <prismaquant/engine/round_trip_weights.hpp>
#include <prismaquant/export/plan.hpp>
#include <prismaquant/export/writer.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/probe/probe.hpp>
#include <prismaquant/recipe.hpp>

#include "example_support.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;
namespace pa = prismaquant::allocate;
namespace px = prismaquant::exporter;

// The seed's four formats as a weight-only export stores them.
using stored_seed = fm::format_list<fm::nvfp4a16, fm::mxfp8_e4m3_ct, fm::fp8_source, fm::bf16_passthrough>;
using stored_recipe = pq::recipe<stored_seed>;

int main() {
  const std::filesystem::path model_dir = "models/minimax-m2-tiny";
  const auto calib = model_dir / "calib_tokens.bin", held_out = model_dir / "eval_tokens.bin";
  const std::vector<std::string> domains = {"code", "prose", "math"};
  example::workspace ws("pq_example_07");
  const pq::nn::cblas_gemm gemm;
  const auto model = pq::model::open_model(model_dir);
  auto t = std::chrono::steady_clock::now();
  auto lap = [&t] {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - t).count();
    t = now;
    return s;
  };

  // 1. Probe: per-Linear Fisher and per-router REAP sums over the calibration tokens.
  pq::probe::options po;
  po.domains = domains;
  const auto probe = pq::probe::run(model, calib, po, gemm);
  pq::stats::write_stats(ws / "stats.json", probe.stats);
  std::printf("probe: %zu Linears, %zu routers (%.1f s)\n", probe.stats.linears.size(), probe.stats.routers.size(), lap());

  // 2. Cost: each Linear's round-trip error in the recipe's formats, one read per weight.
  pq::stats::write_costs(ws / "costs.json", stored_recipe::measure_model(model_dir));
  std::printf("cost: %zu Linears × %zu formats (%.1f s)\n", model.description.linears.size(), stored_seed::size, lap());

  // 3. Allocate: a sweep over bit targets, each solved at every prune ratio; the knee is chosen.
  const auto in = pa::read_inputs(ws / "stats.json", ws / "costs.json", model_dir);
  const auto sweep = stored_recipe{}.sweep(in, pa::bits({3.5, 4.25, 4.75, 5.5, 6.5}), {.prune_ratios = {0.0, 0.125}});
  pa::write_outputs(ws / "allocation", sweep);
  std::printf("allocate (%.1f s):\n  target   bits   predicted Δloss  experts dropped\n", lap());
  for (std::size_t i = 0; i < sweep.rows.size(); ++i) {
    const auto& r = sweep.rows[i];
    if (!r.feasible) {
      std::printf("  %5.2f   infeasible\n", r.target_bits);
      continue;
    }
    std::printf("  %5.2f  %6.4f  %14.8f  %6d of %d%s\n", r.target_bits, r.sol.achieved_bits, r.sol.dloss,
                r.experts_dropped_per_layer, 32, static_cast<int>(i) == sweep.chosen ? "   <- knee, chosen" : "");
  }
  if (sweep.chosen < 0 || sweep.chosen_by != "knee") {
    std::printf("no knee among the feasible rows\n");
    return 1;
  }
  const auto& chosen = sweep.rows[static_cast<std::size_t>(sweep.chosen)];

  // 4. Export: a compressed-tensors checkpoint vLLM loads (RTN rounding, weight-only).
  const auto lc_path = ws / "allocation" / "layer_config.json", pm_path = ws / "allocation" / "layer_config.json.prune.json";
  const auto plan = px::make_plan(model.description, pa::read_layer_config(lc_path), pa::read_prune_manifest(pm_path),
                                  px::loader::vllm, /*weight_only=*/true, lc_path.string(), pm_path.string());
  px::export_options eo;
  eo.progress = false;
  const auto report = px::write_export(model, plan, eo, nullptr, ws / "checkpoint");
  std::printf("export: %zu Linears, %d experts per MoE layer (%.1f s)\n", report.size(), plan.kept_experts, lap());

  // Exact bytes: the checkpoint's Linear tensors against the allocation's price.
  const auto exported = pq::model::open_model(ws / "checkpoint");
  std::int64_t linear_bytes = 0;
  for (const auto& name : exported.weights->names())  // <module>.<tensor>, the module a Linear
    if (exported.description.find(name.substr(0, name.rfind('.'))))
      linear_bytes += static_cast<std::int64_t>(exported.weights->tensor(name).bytes.size());
  std::printf("bytes of Linear weights: allocation %lld, checkpoint %lld\n", static_cast<long long>(chosen.sol.total_bytes),
              static_cast<long long>(linear_bytes));

  // 5. Held-out loss: the source, the allocation's round trip, and the checkpoint read back.
  pq::engine::eval_options ev;
  ev.domains = domains;
  auto eval = [&](const pq::model::opened_model& m, const pq::engine::linear_weights& w,
                  const std::vector<std::vector<std::uint8_t>>& active = {}) {
    return pq::engine::evaluate(m, held_out, ev, w, active, gemm);
  };
  const auto source = eval(model, *pq::engine::stored_weights(model, true));
  const pq::engine::round_trip_weights round_trip(*model.weights, model.description,
                                                  pq::engine::read_layer_config(lc_path, model.description));
  const auto predicted_as = eval(model, round_trip, pq::engine::read_prune_manifest(pm_path, pq::engine::assemble(model)));
  const auto stored = eval(exported, *pq::engine::stored_weights(exported, false));
  const auto served = eval(exported, *pq::engine::stored_weights(exported, true));
  std::printf("eval (%.1f s), nats per predicted position over %lld positions:\n", lap(),
              static_cast<long long>(source.tokens));
  std::printf("  %-8s %10s %12s %12s %12s\n", "domain", "source", "round trip", "checkpoint", "as served");
  for (std::size_t d = 0; d < source.domains.size(); ++d)
    std::printf("  %-8s %10.6f %12.6f %12.6f %12.6f\n", source.domains[d].c_str(), source.domain_loss[d],
                predicted_as.domain_loss[d], stored.domain_loss[d], served.domain_loss[d]);
  std::printf("  %-8s %10.6f %12.6f %12.6f %12.6f\n", "all", source.loss, predicted_as.loss, stored.loss, served.loss);
  std::printf("chosen: %.4f bits, predicted Δloss %.6f, measured %+.6f (weights), %+.6f (as served)\n",
              chosen.sol.achieved_bits, chosen.sol.dloss, stored.loss - source.loss, served.loss - source.loss);

  std::ifstream rf(model_dir / "eval_results.json");
  const auto ref = nlohmann::json::parse(rf);
  bool ok = std::abs(source.loss - ref["eval_loss_stored"].get<double>()) < 2e-5;
  for (std::size_t d = 0; d < source.domains.size(); ++d)
    ok = ok && std::abs(source.domain_loss[d] - ref["eval_loss_stored_per_domain"][source.domains[d]].get<double>()) < 2e-5;
  if (!ok) std::printf("FAIL: the source's loss differs from transformers' (%.6f)\n", ref["eval_loss_stored"].get<double>());
  if (linear_bytes != chosen.sol.total_bytes) {
    std::printf("FAIL: the checkpoint's Linear bytes differ from the allocation's\n");
    ok = false;
  }
  if (!(std::abs(stored.loss - predicted_as.loss) <= 1e-9 * predicted_as.loss)) {
    std::printf("FAIL: the checkpoint read back does not have the round trip's loss\n");
    ok = false;
  }
  std::printf("%s\n", ok ? "checks passed" : "checks FAILED");
  return ok ? 0 : 1;
}
