// `prismaquant export --model DIR --layer-config L [--prune-manifest P] --out OUT
//    [--rounding rtn|gptq|gptq+sweep] [--calib TOKENS.bin ...] [--weight-only]
//    [--loader vllm|transformers] [--max-shard-bytes N]`
//
// Writes a compressed-tensors mixed-precision checkpoint that vLLM and transformers load
// (docs/export.md): every Linear in its layer_config format, dropped experts removed and the
// rest renumbered, routers and correction biases shrunk, config.json's quantization_config.
// --prune-manifest defaults to <layer-config>.prune.json when that file exists.
// Every check runs before any weight is read (export/plan.hpp); the folder is published in
// one step at the end (nothing partial on error).
//
// --rounding gptq / gptq+sweep need the Hessian of each Linear's calibration inputs, taken in a
// sequential forward through the already-quantized earlier layers; this build has no model
// forward, so they (and --calib) are rejected with a one-line error before anything is read.
#include "command.hpp"
#include <prismaquant/cli/options.hpp>

#include <prismaquant/export/writer.hpp>

#include <cstdio>
#include <limits>
#include <memory>

namespace pq = prismaquant;
namespace px = prismaquant::exporter;

namespace {

int run_export(const std::string& model_dir, const std::string& layer_config, std::string manifest,
               const std::string& out, const std::string& rounding, const std::vector<std::string>& calib,
               bool weight_only, const std::string& loader, std::uint64_t max_shard) {
  const px::rounding_kind r = px::parse_rounding(rounding);
  const px::loader target = px::parse_loader(loader);
  if (max_shard == 0) throw pq::error("--max-shard-bytes", "must be positive");
  if (r != px::rounding_kind::rtn)
    throw pq::error("--rounding", rounding + " needs calibration inputs (--calib) from the model forward, which is not "
                                  "available in this build; use --rounding rtn");
  std::error_code ec;
  if (manifest.empty()) {
    const auto def = pq::allocate::prune_manifest_path(layer_config);
    if (std::filesystem::exists(def, ec)) manifest = def.string();
  }
  const pq::model::opened_model m = pq::model::open_model(model_dir);
  const pq::allocate::layer_config lc = pq::allocate::read_layer_config(layer_config);
  const pq::allocate::prune_manifest pm =
      manifest.empty() ? pq::allocate::prune_manifest{} : pq::allocate::read_prune_manifest(manifest);
  const px::export_plan plan = px::make_plan(m.description, lc, pm, target, weight_only, layer_config,
                                             manifest.empty() ? std::string("--prune-manifest") : manifest);
  if (!calib.empty())
    throw pq::error("--calib", "calibration needs the model engine's sequential forward, which this build lacks; "
                               "export with --rounding rtn --weight-only");
  px::export_options o;
  o.rounding = r;
  o.max_shard_bytes = max_shard;
  const auto rep = px::write_export(m, plan, o, nullptr, out);
  std::printf("wrote %s: %zu Linears (%s), %d experts per MoE layer\n", out.c_str(), rep.size(),
              px::rounding_name(r), plan.kept_experts);
  return 0;
}

pq::tool::registration reg{
    "export", "Write a compressed-tensors mixed-precision checkpoint (vLLM / transformers) from a layer config",
    [](CLI::App& sub) {
      auto model = std::make_shared<std::string>();
      auto lc = std::make_shared<std::string>();
      auto pm = std::make_shared<std::string>();
      auto out = std::make_shared<std::string>();
      auto rounding = std::make_shared<std::string>("rtn");
      auto calib = std::make_shared<std::vector<std::string>>();
      auto weight_only = std::make_shared<bool>(false);
      auto loader = std::make_shared<std::string>("vllm");
      auto shard = std::make_shared<std::uint64_t>(5'000'000'000ull);
      namespace check = pq::cli::check;
      sub.add_option("--model", *model, "Source checkpoint folder")->required()->check(check::existing_folder());
      sub.add_option("--layer-config", *lc, "layer_config.json (prismaquant allocate)")->required()->check(check::existing_file());
      sub.add_option("--prune-manifest", *pm, "Prune manifest (default: <layer-config>.prune.json if present)")
          ->check(check::existing_file());
      sub.add_option("--out", *out, "Output checkpoint folder (published atomically)")->required()->check(check::output_folder());
      sub.add_option("--rounding", *rounding, "rtn | gptq | gptq+sweep (default rtn; gptq needs --calib, not in this build)")
          ->check(check::one_of({"rtn", "gptq", "gptq+sweep"}));
      sub.add_option("--calib", *calib, "Calibration token file(s) (uint16 [rows, seq_len])")->take_all()->check(check::existing_file());
      sub.add_flag("--weight-only", *weight_only, "No activation quantization (NVFP4 -> NVFP4A16, ...)");
      sub.add_option("--loader", *loader, "vllm (default: its scheme rules) | transformers")
          ->check(check::one_of({"vllm", "transformers"}));
      // transform, not check: CLI11 discards a check's rewrite, so "1e6" would not convert
      sub.add_option("--max-shard-bytes", *shard, "Largest shard (default 5e9, transformers' default)")
          ->transform(check::integer(1, std::numeric_limits<std::int64_t>::max()));
      return [=] { return run_export(*model, *lc, *pm, *out, *rounding, *calib, *weight_only, *loader, *shard); };
    }};

}  // namespace
