#pragma once
// Candidates and constraints: turns the inputs (stats + costs + model description), a set of
// formats, a Δloss proxy and a saliency score into the multiple-choice knapsack
// (solvers/problem.hpp) for one global prune ratio.
//
// * Per Linear × format: bytes from the costs file (exact storage), Δloss from the proxy.
//   A format is offered only where it is legal: the costs measured it, the format accepts
//   the Linear's source (formats' `accepts`: FP8_SOURCE only for an FP8 128x128-block
//   source) and its check_shape passes.
// * The loader's rules (loader_rules.hpp) say what shares a format: the description's fused
//   groups (q/k/v, dense gate/up) are one item; an MoE layer's experts form one item per
//   projection group (vllm: gate/up/down together; transformers: gate/up and down), or —
//   transformers only, prune ratio 0 only — one item per expert and projection group.
// * MoE items have candidates (format, dropped experts). At ratio R the floor(R·E)
//   lowest-saliency experts are dropped (saliency/domains.hpp order); Δloss = Σ kept experts'
//   quantization Δloss + Σ dropped α·S_j (counted once per layer, on its first projection
//   group); bytes = the kept experts' exact bytes. n_params stays the unpruned count, so bits
//   are "per original parameter" as in the reference. kept ≥ top_k is enforced.
//
// The proxy and the score are template parameters of the constructor (no erasure on the
// compile-time path; pass any_proxy / any_saliency for names chosen at run time). The builder
// keeps copies of what it needs, never a reference to its arguments.
#include <prismaquant/allocate/inputs.hpp>
#include <prismaquant/allocate/loader_rules.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/proxies/concept.hpp>
#include <prismaquant/saliency/domains.hpp>
#include <prismaquant/solvers/options.hpp>
#include <prismaquant/solvers/problem.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::allocate {

enum class knee_method { simple, kneedle };

// Everything an allocation can be told, in one place (the recipe, the candidate builder, the
// joint allocator and the sweep each read their part).
struct options {
  std::vector<double> prune_ratios{0.0};      // global prune ratios tried per target
  double alpha = 0.15;                        // price of dropping expert j: alpha · S_j
  saliency::domain_policy domain_policy = saliency::domain_policy::pooled;
  loader_rules loader = loader_rules::vllm();
  bool experts_match_all = false;             // an expert's w1/w2/w3 share one format (vllm: always)
  bool per_expert = false;                    // one item per expert (transformers; ratio 0 only)
  std::vector<std::string> formats{};         // consider only these (empty: every format given)
  knee_method knee = knee_method::simple;     // knee of a sweep (sweep.hpp)
  solvers::solve_options solve{};
};

// One (Linear, format) choice.
struct linear_choice {
  std::int64_t bytes = 0;
  double dloss = 0.0;
};

// What an item stands for, to expand a solution back to module names.
struct item_info {
  bool moe = false;
  std::vector<int> members;  // non-MoE: the Linears of the item (indices into the description)
  int moe_layer = -1;        // MoE: index into description.moe_layers
  std::vector<int> slots;    // MoE: the projection group (slot_gate, slot_up, slot_down)
  int expert = -1;           // MoE, per-expert items: the expert id
};

struct built_problem {
  solvers::problem problem;
  std::vector<item_info> info;  // parallel to problem.items
  double ratio = 0.0;
  int experts_dropped_per_layer = 0;
};

class candidate_builder {
 public:
  template <class Proxy, class Saliency>
  candidate_builder(const inputs& in, std::span<const formats::format_entry> fmts, const Proxy& proxy,
                    const Saliency& score, const options& opt = {})
      : model_(in.model), opt_(opt), proxy_name_(policy_name(proxy)), saliency_name_(policy_name(score)) {
    static_assert(proxy::check_proxy<Proxy>());
    static_assert(saliency::check_saliency<Saliency>());
    if (!(opt_.alpha >= 0.0) || !std::isfinite(opt_.alpha)) throw error("allocation", "alpha must be finite and >= 0");
    if (opt_.per_expert && !opt_.loader.allows_per_expert())
      throw error("--per-expert", "loader " + std::string(opt_.loader.name) +
                                      " needs one scheme per MoE layer; per-expert formats need --loader transformers");
    select_formats(fmts);
    check_inputs(in);
    price_linears(in, proxy);
    rank_experts(in, score);
    group_items();
  }

  const model::model_description& model() const noexcept { return model_; }
  const options& opts() const noexcept { return opt_; }
  std::string_view proxy_name() const noexcept { return proxy_name_; }
  std::string_view saliency_name() const noexcept { return saliency_name_; }
  // The formats considered, in the order given.
  const std::vector<formats::format_entry>& formats() const noexcept { return fmts_; }
  // Per module name, per format: the legal choices.
  const std::map<std::string, std::map<std::string, linear_choice>>& linear_table() const noexcept { return table_; }
  // Per router: the experts' scores and drop order (routers the stats cover).
  const std::map<std::string, saliency::expert_ranking>& rankings() const noexcept { return rankings_; }
  std::int64_t total_params() const noexcept { return total_params_; }
  std::int64_t linear_params(const std::string& m) const {
    const auto it = index_.find(m);
    if (it == index_.end()) throw error("allocation", "\"" + m + "\" is not a Linear of the model");
    return lin(it->second).n_params();
  }
  bool has_moe() const noexcept { return !model_.moe_layers.empty(); }
  // Largest ratio every MoE layer allows (kept ≥ top_k); 1 without MoE layers.
  double max_prune_ratio() const {
    double m = 1.0;
    for (const auto& l : model_.moe_layers) m = std::min(m, static_cast<double>(l.num_experts - l.top_k) / l.num_experts);
    return m;
  }
  // Experts dropped per layer at ratio R, or -1 if R would keep fewer than top_k experts.
  static int drops_at(double ratio, const model::moe_layer& l) {
    const int n = static_cast<int>(std::floor(ratio * l.num_experts + 1e-9));
    return l.num_experts - n >= l.top_k ? n : -1;
  }
  // Does every MoE layer keep ≥ top_k experts at ratio R (floor(R·E) dropped)?
  bool ratio_allowed(double ratio) const {
    for (const auto& l : model_.moe_layers)
      if (drops_at(ratio, l) < 0) return false;
    return true;
  }

  built_problem build(double ratio) const {
    if (!(ratio >= 0.0 && ratio < 1.0)) throw error("allocation", "prune ratio must be in [0, 1)");
    if (ratio > 0.0 && opt_.per_expert && has_moe())
      throw error("allocation", "pruning needs aggregated experts (per_expert = false)");
    built_problem bp;
    bp.ratio = ratio;
    for (const auto& g : groups_) {
      solvers::item it;
      it.name = g.name;
      for (int m : g.members) it.n_params += lin(m).n_params();
      for (const auto& fmt : g.formats) {
        solvers::candidate c;
        c.fmt = fmt;
        for (int m : g.members) {
          const auto& lc = table_.at(lin(m).name).at(fmt);
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
    for (std::size_t li = 0; li < model_.moe_layers.size(); ++li) {
      const auto& layer = model_.moe_layers[li];
      const int n_drop = drops_at(ratio, layer);
      if (n_drop < 0)
        throw error("router \"" + layer.router + "\"", "prune ratio " + std::to_string(ratio) + " keeps fewer than top_k = " +
                                                           std::to_string(layer.top_k) + " experts");
      std::vector<int> dropped;
      double prune_cost = 0.0;
      std::vector<char> is_dropped(static_cast<std::size_t>(layer.num_experts), 0);
      if (n_drop > 0) {
        auto rk = rankings_.find(layer.router);
        if (rk == rankings_.end())
          throw error("router \"" + layer.router + "\"", "no router statistics in the stats file (pruning needs them)");
        dropped = rk->second.prune_set(n_drop);
        for (int j : dropped) {
          is_dropped[static_cast<std::size_t>(j)] = 1;
          prune_cost += opt_.alpha * rk->second.score[static_cast<std::size_t>(j)];
        }
      }
      bp.experts_dropped_per_layer = n_drop;
      bool first = true;
      for (const auto& grp : moe_groups_[li]) {
        const auto emit = [&](int lo, int hi, const std::string& name) {
          solvers::item it;
          it.name = name;
          for (int e = lo; e < hi; ++e) it.n_params += grp.params[static_cast<std::size_t>(e)];
          for (std::size_t f = 0; f < grp.formats.size(); ++f) {
            solvers::candidate c;
            c.fmt = grp.formats[f];
            const auto& per = grp.per_expert[f];
            for (int e = lo; e < hi; ++e) {
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
          inf.moe_layer = static_cast<int>(li);
          inf.slots = grp.slots;
          inf.expert = hi - lo == 1 && opt_.per_expert ? lo : -1;
          bp.problem.items.push_back(std::move(it));
          bp.info.push_back(std::move(inf));
        };
        if (!opt_.per_expert) {
          emit(0, layer.num_experts, grp.label_all);
        } else {
          for (int e = 0; e < layer.num_experts; ++e) emit(e, e + 1, grp.label_of(e));
        }
        first = false;
      }
    }
    return bp;
  }

 private:
  struct group {
    std::string name;
    std::vector<int> members;
    std::vector<std::string> formats;
  };
  struct moe_group {
    std::vector<int> slots;
    std::vector<std::string> formats;
    std::vector<std::vector<linear_choice>> per_expert;  // [format][expert]: summed over the slots
    std::vector<std::int64_t> params;                    // [expert]: summed over the slots
    std::string prefix, leaves;                          // "<...>.experts", "w1+w3": item names
    std::string label_all;
    std::string label_of(int e) const { return prefix + "." + std::to_string(e) + "." + leaves; }
  };

  const model::linear_info& lin(int i) const { return model_.linears[static_cast<std::size_t>(i)]; }

  void select_formats(std::span<const formats::format_entry> fmts) {
    for (const auto& n : opt_.formats) formats::find(n, fmts);  // throws naming the known ones
    for (const auto& f : fmts)
      if (opt_.formats.empty() || std::find(opt_.formats.begin(), opt_.formats.end(), f.name) != opt_.formats.end())
        fmts_.push_back(f);
    if (fmts_.empty()) throw error("allocation", "no format to choose from");
  }

  void check_inputs(const inputs& in) {
    for (std::size_t i = 0; i < model_.linears.size(); ++i) index_.emplace(model_.linears[i].name, static_cast<int>(i));
    for (const auto& l : model_.linears) {
      const auto s = in.stats.linears.find(l.name);
      if (s == in.stats.linears.end()) throw error("stats", "no statistics for Linear \"" + l.name + "\" (a Linear of the model)");
      const auto c = in.costs.linears.find(l.name);
      if (c == in.costs.linears.end()) throw error("costs", "no costs for Linear \"" + l.name + "\" (a Linear of the model)");
      for (const auto& [what, out, inf] : {std::tuple{"stats", s->second.out_features, s->second.in_features},
                                           std::tuple{"costs", c->second.out_features, c->second.in_features}})
        if (out != l.out_features || inf != l.in_features)
          throw error("linear \"" + l.name + "\"", std::string("shape mismatch: the model says ") + std::to_string(l.out_features) +
                                                     "x" + std::to_string(l.in_features) + ", " + what + " say " +
                                                     std::to_string(out) + "x" + std::to_string(inf));
    }
    for (const auto& [n, s] : in.stats.linears)
      if (!index_.count(n)) throw error("stats", "unknown Linear \"" + n + "\" (not a Linear of the model)");
    for (const auto& [n, c] : in.costs.linears)
      if (!index_.count(n)) throw error("costs", "unknown Linear \"" + n + "\" (not a Linear of the model)");
    for (const auto& l : model_.moe_layers) {
      if (l.top_k <= 0 || l.top_k > l.num_experts)
        throw error("router \"" + l.router + "\"", "top_k must be in [1, num_experts]");
      if (auto r = in.stats.routers.find(l.router); r != in.stats.routers.end() && r->second.num_experts != l.num_experts)
        throw error("router \"" + l.router + "\"", "the stats have " + std::to_string(r->second.num_experts) +
                                                       " experts, the model " + std::to_string(l.num_experts));
    }
  }

  template <class Proxy>
  void price_linears(const inputs& in, const Proxy& proxy) {
    const stat::set needs = policy_needs(proxy);
    for (const auto& l : model_.linears) {
      const auto& s = in.stats.linears.at(l.name);
      const auto& lc = in.costs.linears.at(l.name);
      auto& row = table_[l.name];
      for (const auto& f : fmts_) {
        const auto fc = lc.formats.find(std::string(f.name));
        if (fc == lc.formats.end() || !f.allows(l.source)) continue;
        try {
          f.check_shape(l.out_features, l.in_features, l.name);
        } catch (const error&) {
          continue;  // this format cannot store this shape
        }
        proxy::require_stats(needs, s, f.name, fc->second, proxy_name_);
        const double d = proxy(s, f.name, fc->second);
        // Second-order proxies are non-negative by construction, so a negative value is a bug;
        // a proxy with a first-order term (taylor) may predict that a format lowers the loss.
        if (!std::isfinite(d) || (d < 0.0 && !needs.contains<stat::first_order>()))
          throw error("linear \"" + l.name + "\" format \"" + std::string(f.name) + "\"",
                      "proxy " + proxy_name_ + " gave a negative or non-finite Δloss");
        row.emplace(std::string(f.name), linear_choice{fc->second.bytes, d});
      }
      if (row.empty()) throw error("linear \"" + l.name + "\"", "no legal format among those in the costs file");
      total_params_ += l.n_params();
    }
  }

  template <class Saliency>
  void rank_experts(const inputs& in, const Saliency& score) {
    for (const auto& l : model_.moe_layers)
      if (auto r = in.stats.routers.find(l.router); r != in.stats.routers.end())
        rankings_[l.router] = saliency::rank_experts(r->second, score, opt_.domain_policy);
  }

  // Formats legal for every one of `members`, in the order given.
  std::vector<std::string> common_formats(const std::vector<int>& members, const std::string& what) const {
    std::vector<std::string> out;
    for (const auto& f : fmts_) {
      const std::string n(f.name);
      bool all = true;
      for (int m : members) all = all && table_.at(lin(m).name).count(n) > 0;
      if (all) out.push_back(n);
    }
    if (out.empty()) throw error(what, "no format is legal for every member");
    return out;
  }

  void group_items() {
    std::vector<char> taken(model_.linears.size(), 0);
    const auto projections = opt_.loader.projection_groups(opt_.experts_match_all);
    for (const auto& layer : model_.moe_layers) {
      auto& gs = moe_groups_.emplace_back();
      for (const auto& slots : projections) {
        std::vector<int> members;
        for (const auto& e : layer.experts)
          for (int s : slots) {
            members.push_back(e[static_cast<std::size_t>(s)]);
            taken[static_cast<std::size_t>(e[static_cast<std::size_t>(s)])] = 1;
          }
        moe_group g;
        g.slots = slots;
        g.formats = common_formats(members, "router \"" + layer.router + "\" projections");
        g.params.assign(static_cast<std::size_t>(layer.num_experts), 0);
        g.per_expert.assign(g.formats.size(), std::vector<linear_choice>(static_cast<std::size_t>(layer.num_experts)));
        for (int e = 0; e < layer.num_experts; ++e)
          for (int s : slots) {
            const auto& l = lin(layer.experts[static_cast<std::size_t>(e)][static_cast<std::size_t>(s)]);
            g.params[static_cast<std::size_t>(e)] += l.n_params();
            const auto& row = table_.at(l.name);
            for (std::size_t f = 0; f < g.formats.size(); ++f) {
              auto& pe = g.per_expert[f][static_cast<std::size_t>(e)];
              pe.bytes += row.at(g.formats[f]).bytes;
              pe.dloss += row.at(g.formats[f]).dloss;
            }
          }
        // Item names: "<prefix>.*.<leaf>+<leaf>", the prefix from expert 0's module names.
        for (int s : slots) {
          const std::string& n = lin(layer.experts.front()[static_cast<std::size_t>(s)]).name;
          const auto dot = n.rfind('.');
          g.leaves += (g.leaves.empty() ? "" : "+") + n.substr(dot + 1);
          if (g.prefix.empty()) {
            const std::string parent = n.substr(0, dot);
            g.prefix = parent.substr(0, parent.rfind('.'));
          }
        }
        g.label_all = g.prefix + ".*." + g.leaves;
        gs.push_back(std::move(g));
      }
    }
    for (const auto& fg : model_.fused_groups) {
      bool expert = false;
      for (int m : fg) expert = expert || taken[static_cast<std::size_t>(m)];
      if (expert) continue;  // an expert's w1/w3: part of its MoE layer's items
      std::string name;
      for (int m : fg) {
        taken[static_cast<std::size_t>(m)] = 1;
        name += (name.empty() ? "" : "|") + lin(m).name;
      }
      groups_.push_back(group{name, fg, common_formats(fg, "fused group " + name)});
    }
    for (std::size_t i = 0; i < model_.linears.size(); ++i)
      if (!taken[i]) groups_.push_back(group{lin(static_cast<int>(i)).name, {static_cast<int>(i)},
                                             common_formats({static_cast<int>(i)}, lin(static_cast<int>(i)).name)});
    // Deterministic item order: by name.
    std::sort(groups_.begin(), groups_.end(), [](const group& a, const group& b) { return a.name < b.name; });
  }

  model::model_description model_;
  std::map<std::string, int, std::less<>> index_;  // module name -> index into model_.linears
  options opt_;
  std::string proxy_name_, saliency_name_;
  std::vector<formats::format_entry> fmts_;
  std::map<std::string, std::map<std::string, linear_choice>> table_;
  std::map<std::string, saliency::expert_ranking> rankings_;
  std::vector<group> groups_;
  std::vector<std::vector<moe_group>> moe_groups_;  // per description MoE layer
  std::int64_t total_params_ = 0;
};

}  // namespace prismaquant::allocate
