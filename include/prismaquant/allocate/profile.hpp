#pragma once
// Model profile: which Linears must share a format and how MoE experts are grouped. A small
// struct the caller fills (or `auto_profile` derives from the stats' names).
//
//   fused_groups      non-expert Linears that a serving engine fuses (q/k/v → qkv_proj,
//                     gate/up → gate_up_proj): one knapsack item, one format.
//   moe_layers        per router: the expert projection groups. Each group becomes one
//                     item per layer whose candidates are (format, dropped experts); the
//                     default {{w1, w3}, {w2}} lets w2 differ from the fused w1/w3, and
//                     {{w1, w2, w3}} forces an expert's three projections to match.
//   aggregate_experts true (the reference): the experts of a layer share the format of their
//                     projection group (required for pruning); false: one item per expert
//                     and projection group (finer, only at prune ratio 0).
//   formats           formats to consider (empty: every format in the costs file).
#include <prismaquant/stats/stats_file.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace prismaquant::allocate {

struct moe_layer_profile {
  std::string router;                                             // key in the stats' routers
  std::vector<std::vector<std::string>> projection_groups = {{"w1", "w3"}, {"w2"}};
};

struct model_profile {
  std::vector<std::vector<std::string>> fused_groups;  // full module names
  std::vector<moe_layer_profile> moe_layers;
  bool aggregate_experts = true;
  std::vector<std::string> formats;
};

struct auto_profile_options {
  std::vector<std::vector<std::string>> sibling_suffixes = {{"q_proj", "k_proj", "v_proj"}, {"gate_proj", "up_proj"}};
  bool experts_match_all = false;  // w1/w2/w3 of an expert must share a format
};

// Derive a profile from module names: siblings under the same parent fuse; every router in
// the stats becomes an MoE layer whose projections are those found under its experts_prefix
// (w1/w3 or gate_proj/up_proj fused, the down projection alone).
inline model_profile auto_profile(const stats::model_stats& s, const auto_profile_options& o = {}) {
  model_profile p;
  // One pass over the names: "<experts_prefix>.<id>.<proj>" belongs to that router.
  std::map<std::string, std::string> router_of_prefix;
  for (auto& [rn, r] : s.routers) router_of_prefix[r.experts_prefix] = rn;
  std::map<std::string, std::set<std::string>> projs_of;  // router -> projections present
  std::set<std::string> experts;
  for (auto& [n, l] : s.linears) {
    const auto d2 = n.rfind('.');
    if (d2 == std::string::npos || d2 == 0) continue;
    const auto d1 = n.rfind('.', d2 - 1);
    if (d1 == std::string::npos) continue;
    const std::string id = n.substr(d1 + 1, d2 - d1 - 1);
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos) continue;
    auto it = router_of_prefix.find(n.substr(0, d1));
    if (it == router_of_prefix.end()) continue;
    projs_of[it->second].insert(n.substr(d2 + 1));
    experts.insert(n);
  }
  for (auto& sib : o.sibling_suffixes) {
    std::map<std::string, std::vector<std::string>> by_parent;
    for (auto& [n, l] : s.linears) {
      if (experts.count(n)) continue;
      const auto dot = n.rfind('.');
      if (dot == std::string::npos) continue;
      const std::string leaf = n.substr(dot + 1);
      if (std::find(sib.begin(), sib.end(), leaf) != sib.end()) by_parent[n.substr(0, dot)].push_back(n);
    }
    for (auto& [parent, members] : by_parent)
      if (members.size() > 1) p.fused_groups.push_back(members);
  }
  for (auto& [rn, r] : s.routers) {
    const auto& projs = projs_of[rn];
    moe_layer_profile m;
    m.router = rn;
    m.projection_groups.clear();
    if (o.experts_match_all) {
      m.projection_groups.push_back(std::vector<std::string>(projs.begin(), projs.end()));
    } else {
      std::vector<std::string> fused, rest;
      for (auto& pj : projs)
        (pj == "w1" || pj == "w3" || pj == "gate_proj" || pj == "up_proj" ? fused : rest).push_back(pj);
      if (!fused.empty()) m.projection_groups.push_back(fused);
      for (auto& pj : rest) m.projection_groups.push_back({pj});
    }
    p.moe_layers.push_back(std::move(m));
  }
  return p;
}

}  // namespace prismaquant::allocate
