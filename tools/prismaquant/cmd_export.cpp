// `prismaquant export --model DIR --layer-config L [--prune-manifest P] --out OUT
//    [--rounding rtn|gptq|gptq+sweep] [--calib TOKENS.bin] [--seq-len 256] [--batch 4]
//    [--threads N] [--max-memory GB] [--tmp-dir DIR] [--weight-only]
//    [--loader vllm|transformers] [--max-shard-bytes N] [--eval TOKENS [--domains a,b,c]
//    [--eval-out FILE] [--act-quant on|off]]`
//
// Writes a compressed-tensors mixed-precision checkpoint that vLLM and transformers load
// (docs/export.md): every Linear in its layer_config format, dropped experts removed and the
// rest renumbered, routers and correction biases shrunk, config.json's quantization_config.
// --prune-manifest defaults to <layer-config>.prune.json when that file exists.
// Every check runs before any weight is read (export/plan.hpp); the folder is published in
// one step at the end (nothing partial on error).
//
// --calib runs llm-compressor's sequential scheme on the model engine
// (export/sequential_calibration.hpp): each decoder layer is calibrated on the outputs of the
// layers before it as exported, giving every Linear its XᵀX (for --rounding gptq / gptq+sweep,
// and the GPTQ-vs-RTN output errors in export_report.json) and its input amax (NVFP4 W4A4's
// input_global_scale). GPTQ needs --calib.
//
// --eval measures the held-out loss of the checkpoint written, read back from disk as
// `prismaquant eval --model OUT` reads it (engine/compressed_weights.hpp): exactly the weights
// stored, for any rounding, and — unless --act-quant off — the inputs of Linears whose scheme
// quantizes activations quantized as served (W4A4 NVFP4 with its input_global_scale, the
// dynamic FP8 / MX schemes): the loss a served model has.
#include "command.hpp"
#include <prismaquant/cli/engine_options.hpp>

#include <prismaquant/engine/compressed_weights.hpp>
#include <prismaquant/engine/eval.hpp>
#include <prismaquant/export/sequential_calibration.hpp>
#include <prismaquant/export/writer.hpp>
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>

#include <cstdio>
#include <limits>
#include <memory>

namespace pq = prismaquant;
namespace px = prismaquant::exporter;

namespace {

struct export_args : pq::cli::engine_args {
  std::string model, layer_config, manifest, out, rounding = "rtn", calib, loader = "vllm", eval, domains, eval_out,
      act_quant = "on";
  bool weight_only = false, quiet = false;
  std::uint64_t max_shard = 5'000'000'000ull;
};

int run_export(export_args a) {
  const px::rounding_kind r = px::parse_rounding(a.rounding);
  const px::loader target = px::parse_loader(a.loader);
  if (a.max_shard == 0) throw pq::error("--max-shard-bytes", "must be positive");
  if (r != px::rounding_kind::rtn && a.calib.empty())
    throw pq::error("--rounding", a.rounding + " needs calibration tokens: give --calib");
  std::error_code ec;
  if (a.manifest.empty()) {
    const auto def = pq::allocate::prune_manifest_path(a.layer_config);
    if (std::filesystem::exists(def, ec)) a.manifest = def.string();
  }
  const pq::model::opened_model m = pq::model::open_model(a.model);
  const pq::allocate::layer_config lc = pq::allocate::read_layer_config(a.layer_config);
  const pq::allocate::prune_manifest pm =
      a.manifest.empty() ? pq::allocate::prune_manifest{} : pq::allocate::read_prune_manifest(a.manifest);
  const px::export_plan plan = px::make_plan(m.description, lc, pm, target, a.weight_only, a.layer_config,
                                             a.manifest.empty() ? std::string("--prune-manifest") : a.manifest);
  px::export_options o;
  o.rounding = r;
  o.max_shard_bytes = a.max_shard;
  o.progress = !a.quiet;
  const pq::nn::cblas_gemm gemm;
  std::unique_ptr<pq::engine::runner> runner;
  std::unique_ptr<px::sequential_calibration> cal;
  if (!a.calib.empty()) {
    runner = std::make_unique<pq::engine::runner>(m, gemm, static_cast<unsigned>(a.threads), a.seq_len);
    std::vector<std::vector<std::uint8_t>> active;
    if (!a.manifest.empty()) active = pq::engine::read_prune_manifest(a.manifest, runner->arch());
    px::calibration_options co;
    co.batch_rows = a.batch;
    co.max_memory = a.max_memory_bytes();
    co.tmp_dir = a.tmp_dir;
    co.token_bytes = a.token_bytes();
    cal = std::make_unique<px::sequential_calibration>(*runner, a.calib, co, std::move(active));
  }
  if (!a.eval.empty()) {  // the eval's inputs are checked before anything is written
    const auto arch = pq::engine::assemble(m);
    const auto tf = pq::engine::read_token_file(a.eval, a.seq_len, arch.vocab, arch.max_positions, a.token_bytes());
    const auto domains = pq::engine::parse_domains(a.domains);
    (void)pq::engine::plan_batches(tf, domains.empty() ? std::vector<std::string>{"default"} : domains, a.batch);
  }
  const auto rep = px::write_export(m, plan, o, cal.get(), a.out);
  std::printf("wrote %s: %zu Linears (%s%s), %d experts per MoE layer\n", a.out.c_str(), rep.size(),
              px::rounding_name(r), cal ? ", calibrated" : "", plan.kept_experts);
  if (!a.eval.empty()) {
    pq::engine::eval_options eo;
    eo.seq_len = a.seq_len;
    eo.batch_rows = a.batch;
    eo.domains = pq::engine::parse_domains(a.domains);
    eo.threads = static_cast<unsigned>(a.threads);
    eo.max_memory = a.max_memory_bytes();
    eo.tmp_dir = a.tmp_dir;
    eo.token_bytes = a.token_bytes();
    const auto written = pq::model::open_model(a.out);  // pruned experts are gone from it
    const auto stored = pq::engine::stored_weights(written, a.act_quant == "on");
    const auto e = pq::engine::evaluate(written, a.eval, eo, *stored, {}, gemm);
    nlohmann::json j = pq::engine::to_json(e, true);
    j["rounding"] = px::rounding_name(r);
    j["act_quant"] = a.act_quant;
    if (!a.eval_out.empty()) pq::write_file_atomic(a.eval_out, j.dump(1) + "\n");
    std::printf("held-out loss of the exported weights: %.6f nats per predicted position over %lld positions\n", e.loss,
                static_cast<long long>(e.tokens));
    for (std::size_t d = 0; d < e.domains.size(); ++d)
      std::printf("  %-12s %.6f  (%lld positions)\n", e.domains[d].c_str(), e.domain_loss[d],
                  static_cast<long long>(e.domain_tokens[d]));
  }
  return 0;
}

pq::tool::registration reg{
    "export", "Write a compressed-tensors mixed-precision checkpoint (vLLM / transformers) from a layer config",
    [](CLI::App& sub) {
      auto a = std::make_shared<export_args>();
      namespace check = pq::cli::check;
      sub.add_option("--model", a->model, "Source checkpoint folder")->required()->check(check::existing_folder());
      sub.add_option("--layer-config", a->layer_config, "layer_config.json (prismaquant allocate)")
          ->required()
          ->check(check::existing_file());
      sub.add_option("--prune-manifest", a->manifest, "Prune manifest (default: <layer-config>.prune.json if present)")
          ->check(check::existing_file());
      sub.add_option("--out", a->out, "Output checkpoint folder (published atomically)")->required()->check(check::output_folder());
      sub.add_option("--rounding", a->rounding, "rtn | gptq | gptq+sweep (gptq needs --calib)")
          ->capture_default_str()
          ->check(check::one_of({"rtn", "gptq", "gptq+sweep"}));
      sub.add_option("--calib", a->calib, "Calibration token file ([rows, seq_len] ids, --token-dtype): the sequential forward")
          ->check(check::existing_file());
      namespace eopt = pq::cli::engine_option;
      pq::cli::add_engine_options(sub, *a, eopt::all,
                                  {.rows = "the calibration and --eval files", .batch = "calibration and --eval rows per batch",
                                   .max_memory = "GB of calibration activations kept in memory; the rest spills"});
      sub.add_flag("--weight-only", a->weight_only, "No activation quantization (NVFP4 -> NVFP4A16, ...)");
      sub.add_option("--loader", a->loader, "vllm (default: its scheme rules) | transformers")
          ->check(check::one_of({"vllm", "transformers"}));
      // transform, not check: CLI11 discards a check's rewrite, so "1e6" would not convert
      sub.add_option("--max-shard-bytes", a->max_shard, "Largest shard (default 5e9, transformers' default)")
          ->transform(check::integer(1, std::numeric_limits<std::int64_t>::max()));
      sub.add_option("--eval", a->eval, "held-out token file: measure the loss of the exported weights")
          ->check(check::existing_file());
      sub.add_option("--domains", a->domains, "split the --eval rows into equal domains, e.g. code,prose,math");
      pq::cli::add_act_quant_option(sub, a->act_quant, "--eval: ");
      sub.add_option("--eval-out", a->eval_out, "also write the --eval result as JSON to this file")
          ->check(check::output_file());
      sub.add_flag("--quiet", a->quiet, "no progress on stderr");
      return [=] { return run_export(*a); };
    }};

}  // namespace
