#pragma once
// Weights of a compressed-tensors checkpoint (what `prismaquant export` writes, or any
// checkpoint in the schemes below) as the engine reads them: each compressed Linear decoded
// by the registry format that stores exactly that scheme, the rest read as plain sources.
//
// Which scheme a Linear has comes from config.json's `quantization_config`, resolved as
// vLLM resolves it: `ignore` first, then the config groups in file order, first match wins.
// A target is an exact module name, `Linear`, or `re:<regex>` matched at the start of the
// name (Python's re.match). Names are tried in vLLM's module naming (experts as
// `mlp.experts.N.gate_proj`) and in the checkpoint's.
//
// The decoder is the registry format whose compressed-tensors preset (formats/ct_preset.hpp)
// has the group's format string and weight arguments. The built-in ones:
//
//   group format            weights                     decoded by
//   nvfp4-pack-quantized    float 4, tensor_group 16    NVFP4 (with input_global_scale) / NVFP4A16
//   mxfp4-pack-quantized    float 4, group 32           MXFP4_CT
//   mxfp8-quantized         float 8, group 32           MXFP8_E4M3_CT
//   float-quantized         float 8, channel            FP8_E4M3
//                           float 8, block [128, 128]   FP8_SOURCE
//                           float 8, tensor             FP8_E4M3_TENSOR (no preset: read only)
// Any other scheme is an error naming the Linear. Decoding checks every tensor's name, dtype
// and shape against the format's layout (formats::decode), and NaN / Inf are refused.
// With `activations`, the groups' input_activations also give each Linear its simulated input
// quantization (engine/activation_quant.hpp).
#include <prismaquant/engine/activation_quant.hpp>
#include <prismaquant/engine/linear_weights.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/json.hpp>
#include <prismaquant/model/open.hpp>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

namespace prismaquant::engine {

namespace detail {

// One config group: its targets and the registry format its weights decode with.
struct ct_group {
  std::string name;
  std::vector<std::string> targets;
  nlohmann::ordered_json scheme;  // the group's JSON (format, weights, ...)
};

inline bool ct_target_matches(const std::string& target, const std::string& module) {
  if (target == "Linear" || target == module) return true;
  if (!target.starts_with("re:")) return false;
  try {
    return std::regex_search(module, std::regex(target.substr(3)), std::regex_constants::match_continuous);
  } catch (const std::regex_error& e) {
    throw error("quantization_config target \"" + target + "\"", std::string("is not a valid regex: ") + e.what());
  }
}

inline std::vector<std::string> ct_string_list(const nlohmann::ordered_json& j, const std::string& where) {
  std::vector<std::string> v;
  if (j.is_null()) return v;
  if (!j.is_array()) throw error(where, "must be a list of strings");
  for (const auto& x : j) {
    if (!x.is_string()) throw error(where, "must be a list of strings");
    v.push_back(x.get<std::string>());
  }
  return v;
}

}  // namespace detail

class compressed_weights final : public linear_weights {
 public:
  // config_file: the checkpoint's config.json (read again here to keep the groups' file order).
  // activations: also simulate the input quantization of schemes that have input_activations
  // (engine/activation_quant.hpp), as a served model runs them.
  compressed_weights(const checkpoint& ck, const model::model_description& d, const std::filesystem::path& config_file,
                     bool activations = false)
      : ck_(ck) {
    const std::string where = config_file.string() + ": quantization_config";
    const auto cfg = nlohmann::ordered_json::parse(strict_json::read_text(config_file));
    if (!cfg.contains("quantization_config") || !cfg["quantization_config"].is_object())
      throw error(config_file.string(), "has compressed Linears but no quantization_config");
    const auto& q = cfg["quantization_config"];
    if (q.value("quant_method", std::string{}) != "compressed-tensors")
      throw error(where, "quant_method must be \"compressed-tensors\"");
    if (q.contains("quantization_status") && q["quantization_status"] != "compressed")
      throw error(where, "quantization_status must be \"compressed\" (the weights are read as stored)");
    const std::string default_format = q.value("format", std::string{});
    const auto ignore = detail::ct_string_list(q.value("ignore", nlohmann::ordered_json()), where + ".ignore");
    if (!q.contains("config_groups") || !q["config_groups"].is_object())
      throw error(where, "needs a config_groups object");
    std::vector<detail::ct_group> groups;
    for (const auto& [name, g] : q["config_groups"].items()) {
      const std::string wg = where + ".config_groups." + name;
      if (!g.is_object()) throw error(wg, "must be an object");
      detail::ct_group cg{name, detail::ct_string_list(g.value("targets", nlohmann::ordered_json()), wg + ".targets"), g};
      if (!cg.scheme.contains("format") || cg.scheme["format"].is_null()) cg.scheme["format"] = default_format;
      groups.push_back(std::move(cg));
    }
    for (const auto& l : d.linears) {
      if (l.source != model::source_format::compressed) continue;
      const std::string vllm = l.vllm_name.ends_with(".qkv_proj") ? l.name : l.vllm_name;
      auto matches = [&](const std::string& t) { return detail::ct_target_matches(t, vllm) || detail::ct_target_matches(t, l.name); };
      for (const auto& t : ignore)
        if (matches(t)) throw error(l.name, "is stored compressed but quantization_config ignores it");
      const detail::ct_group* hit = nullptr;
      for (const auto& g : groups) {
        for (const auto& t : g.targets)
          if (matches(t)) {
            hit = &g;
            break;
          }
        if (hit) break;
      }
      if (!hit) throw error(l.name, "is stored compressed but no quantization_config group targets it");
      format_[l.name] = &decoder_for(l, *hit);
      if (activations && hit->scheme.contains("input_activations")) {
        float igs = 0.0f;
        if (ck.contains(l.name + ".input_global_scale")) {
          const auto t = ck.tensor(l.name + ".input_global_scale");
          if (t.type != dtype::F32 || t.numel() != 1) throw error(l.name + ".input_global_scale", "must be one F32");
          std::memcpy(&igs, t.bytes.data(), 4);
        }
        auto q = activation_quantizer(hit->scheme["input_activations"], igs, l.name + " (config group " + hit->name + ")");
        if (q) input_[l.name] = std::move(q);
      }
    }
  }

  nn::input_quantizer input_quantizer(const model::linear_info& l) const override {
    const auto it = input_.find(l.name);
    return it == input_.end() ? nn::input_quantizer{} : it->second;
  }

  void load(const model::linear_info& l, float* out) const override {
    const auto it = format_.find(l.name);
    if (it == format_.end()) {
      const auto s = open_source_weight(ck_, l.name, l.out_features, l.in_features);
      dequantize(s.view, out);
      return;
    }
    const formats::format_entry& f = *it->second;
    formats::encoded_weight e;
    e.rows = l.out_features;
    e.cols = l.in_features;
    for (const auto& spec : f.layout(l.out_features, l.in_features)) {
      const std::string tn = l.name + "." + spec.suffix;
      if (!ck_.contains(tn)) throw error(tn, "missing (the " + std::string(f.name) + " scheme stores it)");
      const auto t = ck_.tensor(tn);
      formats::encoded_tensor et{spec.suffix, t.type, {t.shape.begin(), t.shape.end()}, {}};
      et.bytes.resize(t.bytes.size());
      std::memcpy(et.bytes.data(), t.bytes.data(), t.bytes.size());
      e.tensors.push_back(std::move(et));
    }
    const auto w = f.decode(e, l.name);
    std::copy(w.begin(), w.end(), out);
    detail::check_finite(out, l.out_features * l.in_features, l.name + " (decoded as " + std::string(f.name) + ")");
  }

  // The registry format each compressed Linear is decoded with.
  std::string format_of(const std::string& module) const {
    const auto it = format_.find(module);
    return it == format_.end() ? std::string{} : std::string(it->second->name);
  }

 private:
  // The registry format whose compressed-tensors preset (formats/ct_preset.hpp) stores weights
  // as this group does: the preset's encoder or its weight-only encoder, whichever's tensors the
  // checkpoint holds, the larger layout first (NVFP4 with input_global_scale, else NVFP4A16).
  // Per-tensor FP8 weights (compressed-tensors' FP8 preset, which the exporter does not write:
  // it needs a calibrated static input scale) decode as FP8 per tensor.
  const formats::format_entry& decoder_for(const model::linear_info& l, const detail::ct_group& g) const {
    const auto& s = g.scheme;
    const std::string where = l.name + " (config group " + g.name + ")";
    const std::string fmt = s["format"].is_string() ? s["format"].get<std::string>() : std::string{};
    const auto& w = s.contains("weights") ? s["weights"] : nlohmann::ordered_json();
    if (!w.is_object()) throw error(where, "has no weights arguments");
    const int bits = w.value("num_bits", 0);
    const std::string type = w.value("type", std::string{}), strategy = w.value("strategy", std::string{});
    const int group = w.contains("group_size") && w["group_size"].is_number_integer() ? w["group_size"].get<int>() : -1;
    const bool block_128 = w.contains("block_structure") && w["block_structure"] == nlohmann::ordered_json::array({128, 128});
    const formats::format_entry *held = nullptr, *fewest = nullptr;
    auto consider = [&](std::string_view encoder) {
      const auto* f = formats::find_if_known(encoder);
      if (!f) return;
      const auto spec = f->layout(l.out_features, l.in_features);
      if (!fewest || spec.size() < fewest->layout(l.out_features, l.in_features).size()) fewest = f;
      for (const auto& t : spec)
        if (!ck_.contains(l.name + "." + t.suffix)) return;
      if (!held || spec.size() > held->layout(l.out_features, l.in_features).size()) held = f;
    };
    for (const auto& f : formats::registry()) {
      const formats::ct_preset* p = f.compressed_tensors;
      if (!p || p->format.empty() || p->format != fmt || p->encoder != f.name) continue;
      const formats::ct_args& a = p->weights;
      if (a.type != type || a.bits != bits || a.strategy != strategy || a.group_size != group || a.block_128 != block_128)
        continue;
      consider(p->encoder);
      if (!p->weight_only_encoder.empty()) consider(p->weight_only_encoder);
    }
    if (held) return *held;
    if (fewest) return *fewest;  // its decode names the missing tensor
    if (fmt == "float-quantized" && type == "float" && bits == 8 && strategy == "tensor")
      return formats::entry_of<formats::fp8_e4m3_tensor>();
    throw error(where, "format " + fmt + " with " + std::to_string(bits) + "-bit " + type + " " + strategy +
                           " weights (group " + std::to_string(group) + (block_128 ? ", blocks 128x128" : "") +
                           ") is not a scheme prismaquant decodes");
  }

  const checkpoint& ck_;
  std::map<std::string, const formats::format_entry*> format_;
  std::map<std::string, nn::input_quantizer> input_;
};

// The weights of an opened model as stored: compressed_weights when any Linear is compressed
// (activations: with its schemes' input quantization), else the plain source.
inline std::unique_ptr<linear_weights> stored_weights(const model::opened_model& m, bool activations = false) {
  for (const auto& l : m.description.linears)
    if (l.source == model::source_format::compressed)
      return std::make_unique<compressed_weights>(
          *m.weights, m.description,
          std::filesystem::is_directory(m.dir) ? m.dir / "config.json" : m.dir.parent_path() / "config.json", activations);
  return std::make_unique<source_weights>(*m.weights);
}

}  // namespace prismaquant::engine
