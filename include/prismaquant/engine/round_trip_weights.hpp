#pragma once
// Weights as a quantized checkpoint would hold them: every Linear named in a layer_config.json
// ({module: {"fmt": NAME, ...}}, docs/file-formats.md) replaced by the round trip of its source
// through that format (formats::registry: quantize then dequantize); the others stay as the
// source. Fused siblings in the same format (q/k/v; an expert's w1/w3) share one tensor-level
// pre-pass, so they share NVFP4's global scale exactly as the exporter writes them.
//
// With `activations`, each Linear's input is also quantized as a weight-only export
// (`export --weight-only`, what `pipeline` writes) serves its format: the format's
// compressed-tensors preset's dynamic input scheme (FP8 per token or in groups of 128, MX in
// groups of 32); NVFP4 is served as NVFP4A16 (weights only), and formats without a preset
// (INT*, MXFP6, ...) have no served scheme, so their inputs stay float32.
#include <prismaquant/engine/activation_quant.hpp>
#include <prismaquant/engine/linear_weights.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/json.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace prismaquant::engine {

// module -> canonical format name, checked against the model and the format registry.
inline std::map<std::string, std::string> read_layer_config(const std::filesystem::path& path,
                                                            const model::model_description& d) {
  const auto j = strict_json::read_file(path);
  if (!j.is_object()) throw error(path.string(), "layer config must be a JSON object keyed by module name");
  std::map<std::string, std::string> out;
  for (auto& [module, e] : j.items()) {
    const std::string w = path.string() + ": \"" + module + "\"";
    const model::linear_info* l = d.find(module);
    if (!l) throw error(w, "is not a Linear of this model");
    if (!e.is_object() || !e.contains("fmt") || !e["fmt"].is_string())
      throw error(w, "entry needs a \"fmt\" string (a canonical format name)");
    const std::string fmt = e["fmt"].get<std::string>();
    const auto* f = formats::find_if_known(fmt);
    if (!f) throw error(w, "unknown format \"" + fmt + "\"");
    f->check_shape(l->out_features, l->in_features, w);
    if (!f->allows(l->source))  // e.g. FP8_SOURCE: FP8 128x128-block sources only
      throw error(w, fmt + " cannot be chosen for a " + std::string(model::source_format_name(l->source)) +
                         " source weight");
    out.emplace(module, fmt);
  }
  return out;
}

class round_trip_weights final : public linear_weights {
 public:
  round_trip_weights(const checkpoint& ck, const model::model_description& d, std::map<std::string, std::string> fmt,
                     bool activations = false)
      : ck_(ck), d_(d), fmt_(std::move(fmt)) {
    for (const auto& g : d.fused_groups)
      for (int i : g) group_[d.linears[static_cast<std::size_t>(i)].name] = g;
    if (activations)
      for (const auto& [module, name] : fmt_) {
        const formats::ct_preset* p = formats::find(name).compressed_tensors;
        if (!p || !p->has_inputs || !p->weight_only_encoder.empty()) continue;
        if (auto q = activation_quantizer(p->inputs, module + " (" + name + " as served)")) input_[module] = std::move(q);
      }
  }

  nn::input_quantizer input_quantizer(const model::linear_info& l) const override {
    const auto it = input_.find(l.name);
    return it == input_.end() ? nn::input_quantizer{} : it->second;
  }

  void load(const model::linear_info& l, float* out) const override {
    const auto it = fmt_.find(l.name);
    const auto src = open_source_weight(ck_, l.name, l.out_features, l.in_features);
    if (it == fmt_.end()) {
      dequantize(src.view, out);
      return;
    }
    const auto& f = formats::find(it->second);
    // The pre-pass over the siblings that share this format.
    formats::tensor_stats st = formats::measure(src.view);
    if (const auto g = group_.find(l.name); g != group_.end())
      for (int i : g->second) {
        const auto& sib = d_.linears[static_cast<std::size_t>(i)];
        if (sib.name == l.name) continue;
        const auto sf = fmt_.find(sib.name);
        if (sf == fmt_.end() || sf->second != it->second) continue;
        st = formats::merge(st, formats::measure(open_source_weight(ck_, sib.name, sib.out_features, sib.in_features).view));
      }
    const auto w = f.round_trip(src.view, st);
    std::copy(w.begin(), w.end(), out);
    detail::check_finite(out, l.out_features * l.in_features, l.name + ".weight (round trip through " + it->second + ")");
  }

 private:
  const checkpoint& ck_;
  const model::model_description& d_;
  std::map<std::string, std::string> fmt_;
  std::map<std::string, std::vector<int>> group_;
  std::map<std::string, nn::input_quantizer> input_;
};

}  // namespace prismaquant::engine
