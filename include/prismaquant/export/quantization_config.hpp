#pragma once
// config.json's `quantization_config` for an export plan, as compressed-tensors writes a
// mixed-precision checkpoint (papers/ct-recipe.md §4; keys as model_free_ptq writes them):
//   quant_method compressed-tensors, format mixed-precision, quantization_status compressed,
//   config_groups: one group per scheme (CT's preset name), each with format, weights,
//   input_activations (null = weight-only), output_activations null, targets;
//   ignore: every router (vLLM name model.layers.N.mlp.gate), lm_head, and BF16 Linears.
// Targets are `re:` regexes in vLLM's module naming, anchored with ^ and $ (vLLM's re.match
// anchors only the start), one per (scheme, projection set) with the layers (and, when
// experts of a layer differ, the experts) as alternatives:
//   re:^model[.]layers[.](0|1)[.]self_attn[.](q|k|v)_proj$
//   re:^model[.]layers[.](0|1|2|3)[.]mlp[.]experts[.][0-9]+[.](gate|up|down)_proj$
// No group is a catch-all, so no group can shadow another (vLLM takes the first match).
// Groups appear in a fixed order (by preset name), so reruns write identical files.
#include <prismaquant/export/plan.hpp>
#include <prismaquant/model/profile.hpp>

#include <map>
#include <set>

namespace prismaquant::exporter {

namespace detail {

inline std::string alternation(const std::set<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : "|") + std::to_string(x);
  return v.size() == 1 ? s : "(" + s + ")";
}
inline std::string alternation(const std::set<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "|") + x;
  return v.size() == 1 ? s : "(" + s + ")";
}
// "q_proj" -> "q"; "gate_proj" -> "gate"
inline std::string projection(const std::string& vllm_module) {
  const auto dot = vllm_module.rfind('.');
  std::string last = vllm_module.substr(dot + 1);
  if (last.size() > 5 && last.ends_with("_proj")) last.resize(last.size() - 5);
  return last;
}

}  // namespace detail

inline nlohmann::json quantization_config(const model::model_description& d, const export_plan& p) {
  using nlohmann::json;
  // scheme -> kind ("attn" or "experts:<layer>") -> per layer the projections
  struct key {
    std::string scheme;
    std::string part;        // "self_attn" or "experts"
    std::set<std::string> projections;
    std::set<int> experts;   // empty: any expert ([0-9]+)
    bool operator<(const key& o) const {
      return std::tie(scheme, part, projections, experts) < std::tie(o.scheme, o.part, o.projections, o.experts);
    }
  };
  std::map<std::string, const ct_scheme*> schemes;
  std::set<std::string> ignore;
  // layer -> scheme -> projections (attention); (layer, expert) -> scheme -> projections
  std::map<int, std::map<std::string, std::set<std::string>>> attn;
  std::map<int, std::map<int, std::map<std::string, std::set<std::string>>>> experts;
  for (const auto& lp : p.linears) {
    const auto& l = d.linears[static_cast<std::size_t>(lp.index)];
    if (!lp.scheme.quantized()) {
      ignore.insert(lp.vllm_module);
      continue;
    }
    schemes[lp.scheme.group] = &lp.scheme;
    const std::string proj = detail::projection(lp.vllm_module);
    if (l.expert >= 0) {
      const int ne = std::stoi(lp.out_module.substr(lp.out_module.find(".experts.") + 9));
      experts[l.layer][ne][lp.scheme.group].insert(proj);
    } else {
      attn[l.layer][lp.scheme.group].insert(proj);
    }
  }
  for (const auto& m : p.moe) ignore.insert("model.layers." + std::to_string(m.layer) + ".mlp.gate");
  ignore.insert("lm_head");

  std::map<key, std::set<int>> layers_of;  // key -> layers
  for (const auto& [layer, by_scheme] : attn)
    for (const auto& [s, projs] : by_scheme) layers_of[key{s, "self_attn", projs, {}}].insert(layer);
  for (const auto& [layer, by_expert] : experts) {
    // one (scheme, projections) for every expert of the layer: a [0-9]+ target
    std::map<std::string, std::set<std::string>> first;
    bool uniform = true;
    std::map<std::pair<std::string, std::set<std::string>>, std::set<int>> experts_of;
    for (const auto& [e, by_scheme] : by_expert) {
      if (e == by_expert.begin()->first) first = by_scheme;
      else if (by_scheme != first) uniform = false;
      for (const auto& [s, projs] : by_scheme) experts_of[{s, projs}].insert(e);
    }
    if (uniform) {
      for (const auto& [s, projs] : first) layers_of[key{s, "experts", projs, {}}].insert(layer);
    } else {
      for (const auto& [sp, es] : experts_of) layers_of[key{sp.first, "experts", sp.second, es}].insert(layer);
    }
  }

  json groups = json::object();
  for (const auto& [name, s] : schemes) {
    json targets = json::array();
    for (const auto& [k, layers] : layers_of) {
      if (k.scheme != name) continue;
      std::string t = "re:^model[.]layers[.]" + detail::alternation(layers) + "[.]";
      if (k.part == "self_attn") t += "self_attn[.]";
      else t += "mlp[.]experts[.]" + (k.experts.empty() ? std::string("[0-9]+") : detail::alternation(k.experts)) + "[.]";
      t += detail::alternation(k.projections) + "_proj$";
      targets.push_back(t);
    }
    groups[name] = {{"format", s->format},
                    {"input_activations", s->input_activations},
                    {"output_activations", nullptr},
                    {"targets", targets},
                    {"weights", s->weights}};
  }
  return {{"config_groups", groups},
          {"format", "mixed-precision"},
          {"global_compression_ratio", nullptr},
          {"ignore", json(std::vector<std::string>(ignore.begin(), ignore.end()))},
          {"kv_cache_scheme", nullptr},
          {"quant_method", "compressed-tensors"},
          {"quantization_status", "compressed"},
          {"transform_config", json::object()},
          {"version", "0.19.0"}};
}

}  // namespace prismaquant::exporter
