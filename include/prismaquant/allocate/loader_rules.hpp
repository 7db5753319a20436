#pragma once
// What a serving loader requires of a layer_config: which Linears must share one format. One
// object per loader, read by the allocator (it forms its knapsack items from it) and by
// whoever checks a layer_config before export (`validate`), so both apply the same rules.
//
//   vllm (default)  the model's fused groups share one format (q/k/v: vLLM's qkv_proj, with one
//                   NVFP4 global scale; dense gate/up; an expert's w1/w3, one global scale per
//                   expert), and an MoE layer has ONE scheme for all its experts and all three
//                   projections: vLLM decides a FusedMoE layer's scheme from expert 0's
//                   gate/up/down_proj and rejects a layer whose projections differ
//                   (docs/allocation.md "Loader rules" has the source).
//   transformers    the fused groups only: w2 may differ from w1/w3, and each expert may
//                   have its own formats (one item per expert, `per_expert`, at prune ratio 0).
// Routers are never quantized under either: they are not Linears of the model description.
#include <prismaquant/core/error.hpp>
#include <prismaquant/model/profile.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::allocate {

// Expert projection slots, as model::moe_layer::experts stores them.
enum : int { slot_gate = 0, slot_up = 1, slot_down = 2 };

struct loader_rules {
  std::string_view name = "vllm";
  bool moe_layer_one_scheme = true;  // every expert and projection of an MoE layer: one format

  static constexpr loader_rules vllm() noexcept { return {"vllm", true}; }
  static constexpr loader_rules transformers() noexcept { return {"transformers", false}; }
  static loader_rules by_name(std::string_view n) {
    if (n == "vllm") return vllm();
    if (n == "transformers") return transformers();
    throw error("--loader", "unknown loader \"" + std::string(n) + "\" (known: vllm, transformers)");
  }

  // The projection groups of an expert whose members share one format: gate/up always (they
  // are fused), down with them under vllm or when asked (experts_match_all).
  std::vector<std::vector<int>> projection_groups(bool experts_match_all) const {
    if (moe_layer_one_scheme || experts_match_all) return {{slot_gate, slot_up, slot_down}};
    return {{slot_gate, slot_up}, {slot_down}};
  }
  // May the experts of one layer differ in format (one item per expert)?
  bool allows_per_expert() const noexcept { return !moe_layer_one_scheme; }

  // Checks a layer_config (module -> format) against the model: every module is a Linear of
  // the model (a router never is), fused groups agree, and under vllm every MoE layer has one
  // format. Modules absent from the map (dropped experts) are not checked. Throws
  // prismaquant::error("<where>: <module>", what is wrong) on the first violation.
  void validate(const model::model_description& d, const std::map<std::string, std::string>& formats,
                const std::string& where) const {
    std::map<std::string_view, int> index;
    for (std::size_t i = 0; i < d.linears.size(); ++i) index.emplace(d.linears[i].name, static_cast<int>(i));
    for (const auto& [m, f] : formats) {
      if (index.count(m)) continue;
      for (const auto& moe : d.moe_layers)
        if (m == moe.router) throw error(where + ": " + m, "is a router; routers are never quantized");
      throw error(where + ": " + m, "is not a quantizable Linear of the model");
    }
    auto fmt_of = [&](int i) -> const std::string* {
      auto it = formats.find(d.linears[static_cast<std::size_t>(i)].name);
      return it == formats.end() ? nullptr : &it->second;
    };
    auto agree = [&](const std::vector<int>& members, const std::string& why) {
      const std::string* first = nullptr;
      int first_i = -1;
      for (int i : members) {
        const std::string* f = fmt_of(i);
        if (!f) continue;
        if (!first) {
          first = f;
          first_i = i;
        } else if (*f != *first) {
          throw error(where + ": " + d.linears[static_cast<std::size_t>(i)].name,
                      *f + " differs from " + d.linears[static_cast<std::size_t>(first_i)].name + "'s " + *first + " (" +
                          why + ", loader " + std::string(name) + ")");
        }
      }
    };
    for (const auto& g : d.fused_groups) agree(g, "fused Linears share one format");
    if (moe_layer_one_scheme)
      for (const auto& moe : d.moe_layers) {
        std::vector<int> all;
        for (const auto& e : moe.experts) all.insert(all.end(), e.begin(), e.end());
        agree(all, "one scheme for every expert and projection of an MoE layer");
      }
  }
};

}  // namespace prismaquant::allocate
