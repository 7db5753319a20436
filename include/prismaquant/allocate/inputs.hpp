#pragma once
// What an allocation reads: the probe's statistics, the cost pass's measurements and the
// model's description (model/profile.hpp: its Linears, fused groups, MoE layers and sources),
// which is where the allocator learns what must share a format — never from name suffixes.
//
//   auto in = pq::allocate::read_inputs("stats.json", "costs.json", "model_dir");
//
// The description comes from the checkpoint folder (config.json and the safetensors headers
// only; no weight is read). Without one — statistics from your own hooks, costs from
// elsewhere — `describe_from_stats` hands the model profiles the tensors the stats file names
// (the same naming rules `inspect` and `cost` use); a Linear they do not place is a Linear of
// its own.
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/model/describe.hpp>
#include <prismaquant/model/open.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::allocate {

struct inputs {
  stats::model_stats stats;
  stats::model_costs costs;
  model::model_description model;
};

// The description the profiles give the tensors a stats file names: every Linear as
// `<name>.weight` (dtype and shape from the stats; an FP8 128x128-block source with its
// `weight_scale_inv`), every router as `<router>.weight`. top_k comes from the routers.
inline model::model_description describe_from_stats(const stats::model_stats& st) {
  std::vector<model::tensor_info> tensors;
  for (const auto& [n, l] : st.linears) {
    tensors.push_back({n + ".weight", l.source_dtype, {l.out_features, l.in_features}});
    if (l.is_fp8_block_source())
      tensors.push_back({n + ".weight_scale_inv", dtype::F32, {(l.out_features + 127) / 128, (l.in_features + 127) / 128}});
  }
  nlohmann::json config = nlohmann::json::object();
  for (const auto& [n, r] : st.routers) {
    tensors.push_back({n + ".weight", dtype::BF16, {r.num_experts}});  // 1-D: never taken for a Linear
    config["num_experts_per_tok"] = r.top_k;
  }
  model::model_description d = model::describe_model(config, tensors);
  // Per-layer top_k from the routers' own statistics.
  for (auto& moe : d.moe_layers)
    if (auto it = st.routers.find(moe.router); it != st.routers.end()) moe.top_k = it->second.top_k;
  // Linears the naming rules did not place are Linears of their own.
  std::set<std::string> placed;
  for (const auto& l : d.linears) placed.insert(l.name);
  for (const auto& [n, l] : st.linears) {
    if (placed.count(n)) continue;
    model::linear_info li;
    li.name = li.vllm_name = n;
    li.out_features = l.out_features;
    li.in_features = l.in_features;
    li.source = model::detail::source_of({n + ".weight", l.source_dtype, {l.out_features, l.in_features}}, tensors);
    d.linears.push_back(std::move(li));
    std::erase(d.not_quantized, n + ".weight");
  }
  return d;
}

inline inputs read_inputs(const std::filesystem::path& stats_file, const std::filesystem::path& costs_file,
                          const std::filesystem::path& model_dir = {}) {
  inputs in;
  in.stats = stats::read_stats(stats_file);
  in.costs = stats::read_costs(costs_file);
  in.model = model_dir.empty() ? describe_from_stats(in.stats) : model::open_model(model_dir).description;
  return in;
}

// What a run asks of its costs file, checked before any work. The formats it considers, with
// their facts from `known` (an executable's registry), in `known`'s order: `requested`
// (checked: known, no repeats) or, when empty, every format the costs file names (checked:
// known — a misspelt "NVFP5" in the file is an error, not a format silently never used).
inline std::vector<formats::format_entry> formats_considered(const stats::model_costs& co, const std::string& costs_path,
                                                             std::span<const formats::format_entry> known,
                                                             const std::vector<std::string>& requested,
                                                             const std::string& option = "--formats") {
  std::set<std::string> names;
  for (const auto& [name, l] : co.linears)
    for (const auto& [fmt, c] : l.formats) {
      formats::find(fmt, known, costs_path + ": linears[\"" + name + "\"]: formats");
      if (requested.empty()) names.insert(fmt);
    }
  for (const auto& f : requested) {
    formats::find(f, known, option);
    if (!names.insert(f).second) throw error(option, "\"" + f + "\" is listed twice");
  }
  std::vector<formats::format_entry> out;
  for (const auto& f : known)
    if (names.count(std::string(f.name))) out.push_back(f);
  return out;
}

// Every considered format that can store a Linear of the model (its source, its shape) is
// measured for it: a costs file lacking MXFP4 for `--formats NVFP4,MXFP4` is an error naming
// the Linear, not an allocation that quietly never uses MXFP4.
inline void require_costs_for(const inputs& in, std::span<const formats::format_entry> considered,
                              const std::string& costs_path) {
  for (const auto& l : in.model.linears) {
    const auto it = in.costs.linears.find(l.name);
    if (it == in.costs.linears.end()) continue;  // the candidate builder names a Linear without costs
    for (const auto& f : considered) {
      if (!f.allows(l.source) || it->second.formats.count(std::string(f.name))) continue;
      try {
        f.check_shape(l.out_features, l.in_features, l.name);
      } catch (const error&) {
        continue;  // cannot store this shape: no candidate, nothing to measure
      }
      throw error(costs_path + ": linears[\"" + l.name + "\"]",
                  "no costs for format " + std::string(f.name) +
                      ", which the run considers (measure it with `prismaquant cost --formats ...`, or leave it out of "
                      "--formats)");
    }
  }
}

}  // namespace prismaquant::allocate
