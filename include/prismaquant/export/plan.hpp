#pragma once
// What an export writes, decided before any weight is read: every kept Linear's format and
// compressed-tensors scheme, every MoE layer's kept experts (renumbered densely in kept
// order), and the checks that make the result loadable. All checks run here, so bad input
// fails at once with one line naming the module, and nothing is written.
//
// Always checked:
//   - every layer_config entry names a Linear of the model (checkpoint naming); routers are
//     never quantized; every kept Linear has an entry; a dropped expert has none
//   - the format has a CT scheme (export/ct_scheme.hpp) and suits the source: FP8_SOURCE
//     needs an FP8 128x128-block source weight
//   - fused siblings (q/k/v; an expert's w1/w3) share one format (they share one NVFP4
//     global scale)
//   - the prune manifest names routers of the model; every MoE layer keeps the same number
//     of experts (num_local_experts is one number in config.json)
// loader vllm (default) adds what vLLM's compressed-tensors loader requires
// (model_executor/models/minimax_m2.py, layers/quantization/compressed_tensors/):
//   - q/k/v one scheme (vLLM resolves the fused qkv_proj from its first shard only)
//   - one scheme for all experts and all three projections of a MoE layer (vLLM probes expert
//     0's gate/up/down and raises "All MoE projections need to have same quantization scheme")
// loader transformers: experts may differ (the loader helper decompresses each expert with
// its own scheme; python/prismaquant_load.py).
#include <prismaquant/allocate/layer_config.hpp>
#include <prismaquant/export/ct_scheme.hpp>
#include <prismaquant/model/profile.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace prismaquant::exporter {

enum class loader { vllm, transformers };

inline loader parse_loader(const std::string& s) {
  if (s == "vllm") return loader::vllm;
  if (s == "transformers") return loader::transformers;
  throw error("--loader", "must be vllm or transformers, got \"" + s + "\"");
}

struct linear_plan {
  int index = -1;          // into model_description::linears
  std::string fmt;         // layer_config format
  ct_scheme scheme;
  std::string out_module;  // checkpoint module name in the export (experts renumbered)
  std::string vllm_module; // vLLM module name in the export (targets)
};

struct moe_plan {
  int layer = -1;
  std::string router, correction_bias;  // checkpoint names (router module; bias tensor)
  int num_experts = 0;
  std::vector<int> kept;                // original ids, ascending: kept[new id] = original id
};

struct export_plan {
  std::vector<linear_plan> linears;     // kept Linears, model order
  std::vector<char> dropped;            // per model Linear: 1 = a dropped expert's Linear
  std::vector<moe_plan> moe;
  int kept_experts = -1;                // equal in every MoE layer; -1 without MoE layers
  loader target = loader::vllm;
  bool weight_only = false;
  bool any_w4a4() const {
    for (const auto& l : linears)
      if (l.scheme.w4a4_nvfp4()) return true;
    return false;
  }
};

namespace detail {

inline std::string replace_expert(const std::string& name, const std::string& experts_infix, int from, int to) {
  const std::string a = experts_infix + std::to_string(from) + ".";
  const auto p = name.find(a);
  if (p == std::string::npos) return name;
  return name.substr(0, p) + experts_infix + std::to_string(to) + "." + name.substr(p + a.size());
}

}  // namespace detail

// `lc_where` / `pm_where` name the files in errors.
inline export_plan make_plan(const model::model_description& d, const allocate::layer_config& lc,
                             const allocate::prune_manifest& pm, loader target, bool weight_only,
                             const std::string& lc_where, const std::string& pm_where) {
  export_plan p;
  p.target = target;
  p.weight_only = weight_only;
  p.dropped.assign(d.linears.size(), 0);
  std::map<std::string, int> index_of;
  for (std::size_t i = 0; i < d.linears.size(); ++i) index_of[d.linears[i].name] = static_cast<int>(i);
  std::set<std::string> routers;
  for (const auto& m : d.moe_layers) routers.insert(m.router);

  // prune manifest: routers of the model, equal kept counts
  for (const auto& [router, rp] : pm.routers)
    if (!routers.count(router)) throw error(pm_where + ": \"" + router + "\"", "not a router of the model");
  for (const auto& m : d.moe_layers) {
    moe_plan mp;
    mp.layer = m.layer;
    mp.router = m.router;
    mp.correction_bias = m.correction_bias;
    mp.num_experts = m.num_experts;
    const allocate::router_prune* rp = pm.find(m.router);
    if (rp && rp->num_experts_orig != m.num_experts)
      throw error(pm_where + ": \"" + m.router + "\"", "num_experts_orig " + std::to_string(rp->num_experts_orig) +
                                                          " but the model has " + std::to_string(m.num_experts) +
                                                          " experts in this layer");
    for (int e = 0; e < m.num_experts; ++e)
      if (!rp || !rp->dropped(e)) mp.kept.push_back(e);
      else
        for (int li : m.experts[static_cast<std::size_t>(e)]) p.dropped[static_cast<std::size_t>(li)] = 1;
    const int kept = static_cast<int>(mp.kept.size());
    if (p.kept_experts >= 0 && kept != p.kept_experts)
      throw error(pm_where + ": \"" + m.router + "\"",
                  "keeps " + std::to_string(kept) + " experts but " + p.moe.front().router + " keeps " +
                      std::to_string(p.kept_experts) + "; every MoE layer must keep the same number (config.json has "
                      "one num_local_experts)");
    p.kept_experts = kept;
    p.moe.push_back(std::move(mp));
  }

  // layer_config entries: Linears of the model, not routers, not dropped experts
  for (const auto& [module, f] : lc.linears) {
    const std::string w = lc_where + ": \"" + module + "\"";
    if (routers.count(module)) throw error(w, "is a router; routers are never quantized");
    auto it = index_of.find(module);
    if (it == index_of.end()) throw error(w, "no such Linear in the model");
    if (p.dropped[static_cast<std::size_t>(it->second)])
      throw error(w, "is an expert the prune manifest drops; remove it from the layer config");
  }

  // per kept Linear: format, scheme, names
  std::vector<int> new_id_of_linear(d.linears.size(), -1);
  for (const auto& m : d.moe_layers) {
    const moe_plan& mp = p.moe[static_cast<std::size_t>(&m - d.moe_layers.data())];
    for (std::size_t k = 0; k < mp.kept.size(); ++k)
      for (int li : m.experts[static_cast<std::size_t>(mp.kept[k])]) new_id_of_linear[static_cast<std::size_t>(li)] = static_cast<int>(k);
  }
  for (std::size_t i = 0; i < d.linears.size(); ++i) {
    if (p.dropped[i]) continue;
    const auto& l = d.linears[i];
    const std::string w = lc_where + ": \"" + l.name + "\"";
    const allocate::layer_format* f = lc.find(l.name);
    if (!f) throw error(w, "missing: every kept Linear needs a format (BF16 keeps it unquantized)");
    linear_plan lp;
    lp.index = static_cast<int>(i);
    lp.fmt = f->fmt;
    lp.scheme = scheme_for(f->fmt, weight_only, w);
    if (!formats::find(f->fmt, w).allows(l.source))  // e.g. FP8_SOURCE: FP8 128x128-block sources only
      throw error(w, f->fmt + " cannot be chosen for a " + std::string(model::source_format_name(l.source)) +
                         " source weight");
    lp.out_module = l.name;
    // vLLM resolves a fused qkv_proj through its shards' names (q_proj, k_proj, v_proj)
    lp.vllm_module = l.vllm_name.ends_with(".qkv_proj") ? l.name : l.vllm_name;
    if (l.expert >= 0) {
      const int ne = new_id_of_linear[i];
      lp.out_module = detail::replace_expert(l.name, ".experts.", l.expert, ne);
      lp.vllm_module = detail::replace_expert(l.vllm_name, ".experts.", l.expert, ne);
    }
    p.linears.push_back(std::move(lp));
  }

  // fused siblings: one format
  std::map<int, const linear_plan*> by_index;
  for (const auto& lp : p.linears) by_index[lp.index] = &lp;
  for (const auto& g : d.fused_groups) {
    const linear_plan* first = nullptr;
    for (int li : g) {
      auto it = by_index.find(li);
      if (it == by_index.end()) continue;  // a dropped expert
      if (!first) first = it->second;
      else if (it->second->scheme.group != first->scheme.group)
        throw error(lc_where + ": \"" + d.linears[static_cast<std::size_t>(li)].name + "\"",
                    "is " + it->second->fmt + " but its fused sibling " + d.linears[static_cast<std::size_t>(first->index)].name +
                        " is " + first->fmt + "; fused Linears share one format and one global scale");
    }
  }
  if (target == loader::vllm) {
    for (const auto& m : d.moe_layers) {
      const linear_plan* first = nullptr;
      for (const auto& ex : m.experts)
        for (int li : ex) {
          auto it = by_index.find(li);
          if (it == by_index.end()) continue;
          if (!first) first = it->second;
          else if (it->second->scheme.group != first->scheme.group)
            throw error(lc_where + ": \"" + d.linears[static_cast<std::size_t>(li)].name + "\"",
                        "is " + it->second->fmt + " but " + d.linears[static_cast<std::size_t>(first->index)].name + " is " +
                            first->fmt +
                            "; vLLM needs one scheme for all experts and projections of a MoE layer (use --loader "
                            "transformers, or give the layer one format)");
        }
    }
  }
  return p;
}

}  // namespace prismaquant::exporter
