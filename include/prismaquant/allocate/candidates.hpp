#pragma once
// Candidates and constraints: turns stats + costs + a proxy + a saliency score into the
// multiple-choice knapsack (solvers/problem.hpp) for one global prune ratio.
//
// * Per Linear × format: bytes from the costs file (exact storage), Δloss from the proxy.
//   A format is offered only where it is legal: the costs measured it, the shape passes the
//   format's check_shape (formats registry; names it does not know are trusted to the cost
//   engine that measured them), and pass-through formats only where the source allows —
//   FP8_SOURCE only for an FP8 (E4M3) 128×128-block source.
// * Fused siblings (profile.fused_groups) are one item: one format, bytes and Δloss summed.
// * MoE layers (profile.moe_layers): per router and projection group one item whose
//   candidates are (format, dropped experts). At ratio R the floor(R·E) lowest-saliency
//   experts are dropped (saliency/domains.hpp order); Δloss = Σ kept experts' quantization
//   Δloss + Σ dropped α·S_j (counted once per layer, on its first projection group); bytes
//   = the kept experts' exact bytes. n_params stays the unpruned count, so bits are "per
//   original parameter" as in the reference. kept ≥ top_k is enforced.
#include <prismaquant/allocate/profile.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/proxies/registry.hpp>
#include <prismaquant/saliency/domains.hpp>
#include <prismaquant/solvers/problem.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace prismaquant::allocate {

struct allocation_options {
  double alpha = 0.15;                        // price of dropping expert j: alpha · S_j
  saliency::domain_policy domain_policy = saliency::domain_policy::pooled;
};

// One (Linear, format) choice.
struct linear_choice {
  std::int64_t bytes = 0;
  double dloss = 0.0;
};

// What an item stands for, to expand a solution back to module names.
struct item_info {
  bool moe = false;
  std::vector<std::string> members;      // non-MoE: the Linears of the item
  std::string router;                    // MoE: router name
  std::string experts_prefix;            // MoE
  std::vector<std::string> projections;  // MoE: the projection group
  int expert = -1;                       // MoE, per-expert items: the expert id
  int num_experts = 0;
};

struct built_problem {
  solvers::problem problem;
  std::vector<item_info> info;  // parallel to problem.items
  double ratio = 0.0;
  int experts_dropped_per_layer = 0;
};

// Is `fmt` legal for this Linear? Returns an empty string if yes, else the reason.
inline std::string format_illegal_reason(const stats::linear_stats& s, const std::string& fmt) {
  if (fmt == "FP8_SOURCE" && !s.is_fp8_block_source())
    return "FP8_SOURCE needs an F8_E4M3 source with 128x128 blocks";
  if (const auto* f = formats::find_if_known(fmt)) {
    try {
      f->check_shape(s.out_features, s.in_features, s.name);
    } catch (const error& e) {
      return e.what();
    }
  }
  return {};
}

class candidate_builder {
 public:
  candidate_builder(const stats::model_stats& st, const stats::model_costs& co, model_profile profile,
                    proxy::any_proxy px, saliency::any_saliency sal, allocation_options opt = {})
      : stats_(st), costs_(co), profile_(std::move(profile)), proxy_(std::move(px)), sal_(std::move(sal)), opt_(opt) {
    if (!(opt_.alpha >= 0.0) || !std::isfinite(opt_.alpha)) throw error("allocation", "alpha must be finite and >= 0");
    price_linears();
    group_items();
  }

  const std::map<std::string, std::map<std::string, linear_choice>>& linear_table() const { return table_; }
  const std::map<std::string, saliency::expert_ranking>& rankings() const { return rankings_; }
  std::int64_t total_params() const { return total_params_; }
  // Largest ratio every MoE layer allows (kept ≥ top_k); 1 without MoE layers.
  double max_prune_ratio() const {
    double m = 1.0;
    for (auto& l : profile_.moe_layers) {
      const auto& r = stats_.routers.at(l.router);
      m = std::min(m, static_cast<double>(r.num_experts - r.top_k) / r.num_experts);
    }
    return m;
  }
  bool has_moe() const { return !profile_.moe_layers.empty(); }
  std::int64_t linear_params(const std::string& m) const { return stats_.linears.at(m).n_params(); }
  const model_profile& profile() const { return profile_; }

  // Does every MoE layer keep ≥ top_k experts at ratio R (floor(R·E) dropped)?
  bool ratio_allowed(double ratio) const {
    for (auto& l : profile_.moe_layers)
      if (drops_at(ratio, stats_.routers.at(l.router)) < 0) return false;
    return true;
  }
  // Experts dropped per layer at ratio R, or -1 if R would keep fewer than top_k experts.
  int drops_at(double ratio, const stats::router_stats& r) const {
    const int n = static_cast<int>(std::floor(ratio * r.num_experts + 1e-9));
    return r.num_experts - n >= r.top_k ? n : -1;
  }

  built_problem build(double ratio) const {
    if (!(ratio >= 0.0 && ratio < 1.0)) throw error("allocation", "prune ratio must be in [0, 1)");
    if (ratio > 0.0 && !profile_.aggregate_experts && has_moe())
      throw error("allocation", "pruning needs aggregated experts (profile.aggregate_experts = true)");
    built_problem bp;
    bp.ratio = ratio;
    for (auto& g : groups_) {
      solvers::item it;
      it.name = g.name;
      it.n_params = 0;
      for (auto& m : g.members) it.n_params += stats_.linears.at(m).n_params();
      for (auto& fmt : g.formats) {
        solvers::candidate c;
        c.fmt = fmt;
        for (auto& m : g.members) {
          const auto& lc = table_.at(m).at(fmt);
          c.memory_bytes += lc.bytes;
          c.dloss += lc.dloss;
        }
        it.candidates.push_back(std::move(c));
      }
      item_info inf;
      inf.members = g.members;
      bp.problem.items.push_back(std::move(it));
      bp.info.push_back(std::move(inf));
    }
    for (auto& layer : profile_.moe_layers) {
      const auto& r = stats_.routers.at(layer.router);
      const int n_drop = drops_at(ratio, r);
      if (n_drop < 0)
        throw error("router \"" + r.name + "\"", "prune ratio " + std::to_string(ratio) + " keeps fewer than top_k = " +
                                                     std::to_string(r.top_k) + " experts");
      bp.experts_dropped_per_layer = n_drop;
      const auto& rank = rankings_.at(r.name);
      const std::vector<int> dropped = rank.prune_set(n_drop);
      std::vector<char> is_dropped(static_cast<std::size_t>(r.num_experts), 0);
      double prune_cost = 0.0;
      for (int j : dropped) {
        is_dropped[static_cast<std::size_t>(j)] = 1;
        prune_cost += opt_.alpha * rank.score[static_cast<std::size_t>(j)];
      }
      bool first = true;
      for (auto& grp : moe_groups_.at(r.name)) {
        const auto emit = [&](int expert_lo, int expert_hi, const std::string& name) {
          solvers::item it;
          it.name = name;
          for (int e = expert_lo; e < expert_hi; ++e) it.n_params += grp.params[static_cast<std::size_t>(e)];
          for (std::size_t f = 0; f < grp.formats.size(); ++f) {
            solvers::candidate c;
            c.fmt = grp.formats[f];
            const auto& per = grp.per_expert[f];
            for (int e = expert_lo; e < expert_hi; ++e) {
              if (is_dropped[static_cast<std::size_t>(e)]) continue;
              c.memory_bytes += per[static_cast<std::size_t>(e)].bytes;
              c.dloss += per[static_cast<std::size_t>(e)].dloss;
            }
            if (first) c.dloss += prune_cost;
            c.pruned_expert_ids = dropped;
            it.candidates.push_back(std::move(c));
          }
          item_info inf;
          inf.moe = true;
          inf.router = r.name;
          inf.experts_prefix = r.experts_prefix;
          inf.projections = grp.projections;
          inf.num_experts = r.num_experts;
          inf.expert = expert_hi - expert_lo == 1 ? expert_lo : -1;
          bp.problem.items.push_back(std::move(it));
          bp.info.push_back(std::move(inf));
        };
        std::string label;
        for (auto& pj : grp.projections) label += (label.empty() ? "" : "+") + pj;
        if (profile_.aggregate_experts) {
          emit(0, r.num_experts, r.experts_prefix + ".*." + label);
        } else {
          for (int e = 0; e < r.num_experts; ++e) emit(e, e + 1, r.experts_prefix + "." + std::to_string(e) + "." + label);
        }
        first = false;
      }
    }
    return bp;
  }

  static std::string expert_name(const stats::router_stats& r, int e, const std::string& proj) {
    return r.experts_prefix + "." + std::to_string(e) + "." + proj;
  }

 private:
  struct group {
    std::string name;
    std::vector<std::string> members;
    std::vector<std::string> formats;
  };
  struct moe_group {
    std::vector<std::string> projections;
    std::vector<std::string> formats;
    std::vector<std::vector<linear_choice>> per_expert;  // [format][expert]: summed over projections
    std::vector<std::int64_t> params;                    // [expert]: summed over projections
  };

  void price_linears() {
    for (auto& [n, c] : costs_.linears)
      if (!stats_.linears.count(n)) throw error("costs", "unknown Linear \"" + n + "\" (not in the stats file)");
    std::set<std::string> allowed(profile_.formats.begin(), profile_.formats.end());
    for (auto& [n, s] : stats_.linears) {
      auto it = costs_.linears.find(n);
      if (it == costs_.linears.end()) throw error("costs", "no costs for Linear \"" + n + "\" (in the stats file)");
      const auto& lc = it->second;
      if (lc.out_features != s.out_features || lc.in_features != s.in_features)
        throw error("linear \"" + n + "\"", "shape mismatch: stats say " + std::to_string(s.out_features) + "x" +
                                                std::to_string(s.in_features) + ", costs say " +
                                                std::to_string(lc.out_features) + "x" + std::to_string(lc.in_features));
      auto& row = table_[n];
      for (auto& [fmt, fc] : lc.formats) {
        if (!allowed.empty() && !allowed.count(fmt)) continue;
        if (!format_illegal_reason(s, fmt).empty()) continue;
        proxy::require_stats(proxy_.needs, s, fmt, fc, proxy_.name);
        const double d = proxy_(s, fmt, fc);
        if (!std::isfinite(d) || d < 0.0)
          throw error("linear \"" + n + "\" format \"" + fmt + "\"", "proxy " + proxy_.name + " gave a negative or non-finite Δloss");
        row[fmt] = linear_choice{fc.bytes, d};
      }
      if (row.empty()) throw error("linear \"" + n + "\"", "no legal format among those in the costs file");
      total_params_ += s.n_params();
    }
  }

  std::vector<std::string> common_formats(const std::vector<std::string>& members, const std::string& what) const {
    std::vector<std::string> f;
    bool firstm = true;
    for (auto& m : members) {
      auto it = table_.find(m);
      if (it == table_.end()) throw error(what, "member Linear \"" + m + "\" is not in the stats file");
      std::vector<std::string> mine;
      for (auto& [fmt, c] : it->second) mine.push_back(fmt);
      if (firstm) f = mine;
      else {
        std::vector<std::string> keep;
        for (auto& x : f)
          if (std::find(mine.begin(), mine.end(), x) != mine.end()) keep.push_back(x);
        f = keep;
      }
      firstm = false;
    }
    if (f.empty()) throw error(what, "no format is legal for every member");
    return f;
  }

  void group_items() {
    std::set<std::string> taken;
    // MoE layers first (so their experts are not single items).
    for (auto& layer : profile_.moe_layers) {
      auto rit = stats_.routers.find(layer.router);
      if (rit == stats_.routers.end()) throw error("profile", "router \"" + layer.router + "\" is not in the stats file");
      const auto& r = rit->second;
      rankings_[r.name] = saliency::rank_experts(r, sal_, opt_.domain_policy);
      auto& gs = moe_groups_[r.name];
      for (auto& pg : layer.projection_groups) {
        std::vector<std::string> members;
        for (int e = 0; e < r.num_experts; ++e)
          for (auto& pj : pg) {
            const std::string m = expert_name(r, e, pj);
            if (!stats_.linears.count(m))
              throw error("router \"" + r.name + "\"", "missing expert " + std::to_string(e) + ": no Linear \"" + m + "\"");
            if (!taken.insert(m).second) throw error("profile", "Linear \"" + m + "\" is in two groups");
            members.push_back(m);
          }
        moe_group g{pg, common_formats(members, "router \"" + r.name + "\" projections"), {}, {}};
        g.params.assign(static_cast<std::size_t>(r.num_experts), 0);
        g.per_expert.assign(g.formats.size(), std::vector<linear_choice>(static_cast<std::size_t>(r.num_experts)));
        for (int e = 0; e < r.num_experts; ++e)
          for (auto& pj : pg) {
            const std::string m = expert_name(r, e, pj);
            g.params[static_cast<std::size_t>(e)] += stats_.linears.at(m).n_params();
            const auto& row = table_.at(m);
            for (std::size_t f = 0; f < g.formats.size(); ++f) {
              auto& pe = g.per_expert[f][static_cast<std::size_t>(e)];
              pe.bytes += row.at(g.formats[f]).bytes;
              pe.dloss += row.at(g.formats[f]).dloss;
            }
          }
        gs.push_back(std::move(g));
      }
    }
    for (auto& fg : profile_.fused_groups) {
      for (auto& m : fg)
        if (!taken.insert(m).second) throw error("profile", "Linear \"" + m + "\" is in two groups");
      std::string name;
      for (auto& m : fg) name += (name.empty() ? "" : "|") + m;
      groups_.push_back(group{name, fg, common_formats(fg, "fused group " + name)});
    }
    for (auto& [n, s] : stats_.linears)
      if (!taken.count(n)) groups_.push_back(group{n, {n}, common_formats({n}, n)});
    // Deterministic item order: by name.
    std::sort(groups_.begin(), groups_.end(), [](const group& a, const group& b) { return a.name < b.name; });
  }

  const stats::model_stats& stats_;
  const stats::model_costs& costs_;
  model_profile profile_;
  proxy::any_proxy proxy_;
  saliency::any_saliency sal_;
  allocation_options opt_;
  std::map<std::string, std::map<std::string, linear_choice>> table_;
  std::map<std::string, saliency::expert_ranking> rankings_;
  std::vector<group> groups_;
  std::map<std::string, std::vector<moe_group>> moe_groups_;
  std::int64_t total_params_ = 0;
};

}  // namespace prismaquant::allocate
