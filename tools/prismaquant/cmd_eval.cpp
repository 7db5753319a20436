// `prismaquant eval --model DIR --tokens FILE [--domains a,b,c] [--layer-config L]
//   [--prune-manifest P] [--json] [--out FILE] [--seq-len 256] [--batch 4] [--threads N]
//   [--max-memory GB] [--act-quant on|off] [--logits-out FILE.safetensors [--logits-rows N]]`
//
// Mean next-token cross-entropy (nats per predicted position) per domain and overall, of the
// checkpoint, or of the checkpoint with every Linear of the layer config replaced by its round
// trip through that format and the manifest's pruned experts removed (engine/eval.hpp).
// A compressed-tensors checkpoint (`prismaquant export`'s output) is read as stored: each
// compressed Linear decoded by its scheme (engine/compressed_weights.hpp), and, unless
// --act-quant off, the inputs of Linears whose scheme quantizes activations quantized as
// served (engine/activation_quant.hpp). With --layer-config, --act-quant on quantizes each
// Linear's inputs as a weight-only export serves its format (engine/round_trip_weights.hpp), so
// the simulated model equals its export; the default there is off (the weights alone).
// --json prints {"loss": L, "tokens": N, "domains": {"code": L1, ...}}; --out writes the same
// JSON to a file (atomically), with the positions per domain. --logits-out writes the float32
// logits of the first rows as `logits` [rows, seq_len, vocab].
#include "command.hpp"

#include <prismaquant/cli/engine_options.hpp>
#include <prismaquant/engine/compressed_weights.hpp>
#include <prismaquant/engine/eval.hpp>
#include <prismaquant/engine/round_trip_weights.hpp>
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/io/safetensors_writer.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>

#include <cstdio>

namespace pq = prismaquant;

namespace {

struct eval_args : pq::cli::engine_args {
  std::string model, tokens, domains, layer_config, prune, out, logits_out, act_quant;  // act_quant "": the default
  std::int64_t logits_rows = 1;
  bool json = false, quiet = false;
};

int run_eval(const eval_args& a) {
  pq::engine::eval_options o;
  o.seq_len = a.seq_len;
  o.batch_rows = a.batch;
  o.token_bytes = a.token_bytes();
  o.domains = pq::engine::parse_domains(a.domains);
  o.threads = static_cast<unsigned>(a.threads);
  o.max_memory = a.max_memory_bytes();
  o.tmp_dir = a.tmp_dir;
  if (!a.quiet && !a.json)
    o.progress = [](const std::string& s) {
      std::fprintf(stderr, "\reval: %-30s", s.c_str());
      std::fflush(stderr);
    };
  if (!a.logits_out.empty()) o.logits_rows = a.logits_rows;
  const auto model = pq::model::open_model(a.model);
  // Activations as served: by default for an export; for a layer_config on the source, when asked.
  const bool act = a.act_quant.empty() ? a.layer_config.empty() : a.act_quant == "on";
  const auto stored = pq::engine::stored_weights(model, act);
  std::unique_ptr<pq::engine::round_trip_weights> quantized;
  if (!a.layer_config.empty() && dynamic_cast<const pq::engine::compressed_weights*>(stored.get()))
    throw pq::error("--layer-config", "the model is a compressed-tensors checkpoint, already quantized: give the source");
  if (!a.layer_config.empty())
    quantized = std::make_unique<pq::engine::round_trip_weights>(
        *model.weights, model.description, pq::engine::read_layer_config(a.layer_config, model.description), act);
  std::vector<std::vector<std::uint8_t>> active;
  if (!a.prune.empty()) active = pq::engine::read_prune_manifest(a.prune, pq::engine::assemble(model));
  const pq::nn::cblas_gemm gemm;
  const auto r = pq::engine::evaluate(model, a.tokens, o, quantized ? *quantized : *stored,
                                      active, gemm);
  if (o.progress) std::fprintf(stderr, "\n");
  if (!a.logits_out.empty()) {
    const auto S = static_cast<std::uint64_t>(a.seq_len), V = static_cast<std::uint64_t>(pq::engine::assemble(model).vocab);
    const pq::tensor_data t{pq::tensor_spec{"logits", pq::dtype::F32, {r.logits.size() / (S * V), S, V}},
                            std::as_bytes(std::span(r.logits))};
    pq::write_safetensors(a.logits_out, std::span(&t, 1));
  }
  if (!a.out.empty()) pq::write_file_atomic(a.out, pq::engine::to_json(r, true).dump(1) + "\n");
  if (a.json) {
    std::printf("%s\n", pq::engine::to_json(r, false).dump().c_str());
  } else {
    std::printf("eval: loss %.6f nats per predicted position over %lld positions\n", r.loss,
                static_cast<long long>(r.tokens));
    for (std::size_t d = 0; d < r.domains.size(); ++d)
      std::printf("  %-12s %.6f  (%lld positions)\n", r.domains[d].c_str(), r.domain_loss[d],
                  static_cast<long long>(r.domain_tokens[d]));
  }
  return 0;
}

const pq::tool::registration reg{
    "eval", "Mean next-token cross-entropy of a checkpoint, optionally quantized by a layer config and pruned",
    [](CLI::App& sub) {
      namespace check = pq::cli::check;
      auto a = std::make_shared<eval_args>();
      sub.add_option("--model", a->model, "checkpoint folder")->required()->check(check::existing_path());
      sub.add_option("--tokens", a->tokens, "token file: [rows, seq_len] little-endian ids (uint16, or --token-dtype uint32)")
          ->required()
          ->check(check::existing_file());
      sub.add_option("--domains", a->domains, "split the rows into equal consecutive domains, e.g. code,prose,math");
      sub.add_option("--layer-config", a->layer_config, "layer_config.json: each Linear through its format's round trip")
          ->check(check::existing_file());
      sub.add_option("--prune-manifest", a->prune, "prune manifest: only the kept experts are routed to")
          ->check(check::existing_file());
      pq::cli::add_engine_options(sub, *a);
      sub.add_flag("--json", a->json, "print {\"loss\", \"tokens\", \"domains\"} as JSON");
      sub.add_option("--out", a->out, "also write the result as JSON to this file")->check(check::output_file());
      pq::cli::add_act_quant_option(sub, a->act_quant, "", true);
      sub.add_option("--logits-out", a->logits_out, "also write the float32 logits of the first rows (safetensors `logits` [rows, seq_len, vocab])")
          ->check(check::output_file());
      sub.add_option("--logits-rows", a->logits_rows, "rows whose logits --logits-out writes (default 1)")
          ->check(check::integer(1, 1 << 20));
      sub.add_flag("--quiet", a->quiet, "no progress line");
      return [=] { return run_eval(*a); };
    }};

}  // namespace
