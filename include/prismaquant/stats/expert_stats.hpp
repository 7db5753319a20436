#pragma once
// Per-expert accumulators of one router (MoE layer), per calibration domain.
//
// For every token t routed to expert j (j among the token's top-k), with g = the router
// weight the expert's output is scaled by and ‖f‖ = ‖f_j(t)‖₂ the expert output norm before
// gating, the probe adds:  Σ g·‖f‖, Σ g·‖f‖², Σ g, Σ ‖f‖, Σ ‖f‖², count, max g·‖f‖.
// total_tokens counts every token the router saw (routed anywhere).
// These are the inputs of every saliency score in the REAP repo (CerebrasResearch/reap
// src/reap/observer.py: reap, ean_sum, ean_mean, weighted_ean_sum, expert_frequency,
// weighted_expert_frequency_sum) plus the reference's REAP-dropout Σ g·‖f‖².
//
// All sums are exact_sum, counts are integers and max is a max: merging shards (or
// domains) in any order gives bit-identical results.
#include <prismaquant/core/error.hpp>
#include <prismaquant/stats/exact_sum.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace prismaquant::stats {

struct expert_acc {
  exact_sum sum_g_norm;     // Σ g·‖f‖
  exact_sum sum_g_norm_sq;  // Σ g·‖f‖²
  exact_sum sum_g;          // Σ g
  exact_sum sum_norm;       // Σ ‖f‖
  exact_sum sum_norm_sq;    // Σ ‖f‖²
  std::int64_t count = 0;   // tokens routed to this expert
  double max_g_norm = 0.0;  // max g·‖f‖

  // One routed token. g in [0, 1] is not enforced (some routers do not renormalise), but it
  // must be finite and non-negative, and so must the norm.
  void add_token(double g, double norm) {
    if (!(g >= 0.0) || !std::isfinite(g) || !(norm >= 0.0) || !std::isfinite(norm))
      throw error("expert_acc", "router weight and output norm must be finite and non-negative");
    const double gn = g * norm;
    sum_g_norm.add(gn);
    sum_g_norm_sq.add(gn * norm);
    sum_g.add(g);
    sum_norm.add(norm);
    sum_norm_sq.add(norm * norm);
    ++count;
    max_g_norm = std::max(max_g_norm, gn);
  }

  void merge(const expert_acc& o) {
    sum_g_norm.merge(o.sum_g_norm);
    sum_g_norm_sq.merge(o.sum_g_norm_sq);
    sum_g.merge(o.sum_g);
    sum_norm.merge(o.sum_norm);
    sum_norm_sq.merge(o.sum_norm_sq);
    count += o.count;
    max_g_norm = std::max(max_g_norm, o.max_g_norm);
  }
};

// One calibration domain's accumulators for one router.
struct domain_acc {
  std::int64_t total_tokens = 0;
  std::vector<expert_acc> experts;  // index = original expert id

  void merge(const domain_acc& o, const std::string& where) {
    if (o.experts.size() != experts.size())
      throw error(where, "shards disagree on the number of experts (" + std::to_string(experts.size()) + " vs " +
                             std::to_string(o.experts.size()) + ")");
    total_tokens += o.total_tokens;
    for (std::size_t j = 0; j < experts.size(); ++j) experts[j].merge(o.experts[j]);
  }
};

struct router_stats {
  std::string name;            // router module, e.g. model.layers.0.block_sparse_moe.gate
  std::string experts_prefix;  // e.g. model.layers.0.block_sparse_moe.experts
  int num_experts = 0;
  int top_k = 0;
  std::map<std::string, domain_acc> domains;  // "default" when untagged

  domain_acc& domain(const std::string& d) {
    auto [it, fresh] = domains.try_emplace(d);
    if (fresh) it->second.experts.resize(static_cast<std::size_t>(num_experts));
    return it->second;
  }

  // All domains folded into one (exact).
  domain_acc pooled() const {
    domain_acc all;
    all.experts.resize(static_cast<std::size_t>(num_experts));
    for (auto& [d, acc] : domains) all.merge(acc, "router \"" + name + "\" domain \"" + d + "\"");
    return all;
  }

  void validate(const std::string& where) const {
    const std::string w = where + ": router \"" + name + "\"";
    if (num_experts <= 0) throw error(w, "num_experts must be positive");
    if (top_k <= 0 || top_k > num_experts) throw error(w, "top_k must be in [1, num_experts]");
    if (domains.empty()) throw error(w, "no domains (expert accumulators missing)");
    for (auto& [d, acc] : domains) {
      const std::string wd = w + " domain \"" + d + "\"";
      if (static_cast<int>(acc.experts.size()) != num_experts)
        throw error(wd, "has " + std::to_string(acc.experts.size()) + " experts, expected " + std::to_string(num_experts));
      std::int64_t routed = 0;
      for (std::size_t j = 0; j < acc.experts.size(); ++j) {
        const auto& e = acc.experts[j];
        const std::string we = wd + " expert " + std::to_string(j);
        for (double v : {e.sum_g_norm.value(), e.sum_g_norm_sq.value(), e.sum_g.value(), e.sum_norm.value(),
                         e.sum_norm_sq.value(), e.max_g_norm})
          if (!std::isfinite(v) || v < 0.0) throw error(we, "has a negative or non-finite accumulator");
        if (e.count < 0) throw error(we, "count is negative");
        if (e.count > acc.total_tokens) throw error(we, "routed count exceeds total_tokens");
        if (__builtin_add_overflow(routed, e.count, &routed)) throw error(wd, "routed counts overflow int64");
      }
      std::int64_t cap = 0;  // top_k × total_tokens; beyond int64 it bounds nothing
      if (!__builtin_mul_overflow(acc.total_tokens, static_cast<std::int64_t>(top_k), &cap) && routed > cap)
        throw error(wd, "routed counts sum to more than top_k × total_tokens");
    }
  }

  void merge(const router_stats& o) {
    const std::string w = "router \"" + name + "\"";
    if (o.name != name || o.num_experts != num_experts || o.top_k != top_k)
      throw error(w, "cannot merge stats of a router with different name, num_experts or top_k");
    for (auto& [d, acc] : o.domains) domain(d).merge(acc, w + " domain \"" + d + "\"");
  }
};

}  // namespace prismaquant::stats
