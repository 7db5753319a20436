#pragma once
// The statistics of one layer while the probe works on it: the accumulators of every Linear and
// of the router, for a compile-time set of statistics (a stat::list: its probe_linear part goes
// to linear_statistic policies, its probe_router part to router_statistic policies), and the
// observer each batch attaches to the layer. Only one layer's accumulators are alive at a time.
//
//   probe::layer_statistics<stat::list<stat::fisher, stat::reap>> L(arch, description, layer, domains);
//   layer.backward(w, tape, d, L.observer(batch.domain, gemm).get());
//   L.write(model_stats);     // into the stats file's Linears and routers
#include <prismaquant/engine/architecture.hpp>
#include <prismaquant/engine/observer.hpp>
#include <prismaquant/model/profile.hpp>
#include <prismaquant/probe/linear_statistics.hpp>
#include <prismaquant/probe/router_statistics.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace prismaquant::probe {

namespace detail {
template <class L>
struct linear_accs;
template <class... S>
struct linear_accs<stat::list<S...>> {
  using type = std::tuple<typename linear_statistic<S>::acc...>;
  static constexpr bool needs_delta = (false || ... || linear_statistic<S>::needs_delta);
};
template <class L>
struct router_flags;
template <class... S>
struct router_flags<stat::list<S...>> {
  static constexpr bool reroute = (false || ... || router_statistic<S>::needs_reroute);
};

inline dtype source_dtype(model::source_format f) {
  switch (f) {
    case model::source_format::bf16: return dtype::BF16;
    case model::source_format::fp16: return dtype::F16;
    case model::source_format::f32: return dtype::F32;
    case model::source_format::fp8_block128: return dtype::F8_E4M3;
    case model::source_format::compressed: break;  // refused before: open_source_weight
  }
  return dtype::F32;
}
}  // namespace detail

template <class Stats>
class layer_statistics {
 public:
  static_assert(stat::is_list<Stats>::value, "prismaquant probe: statistics must be a stat::list<...>");
  using linear_list = typename Stats::template only<stat::stage::probe_linear>;
  using router_list = typename Stats::template only<stat::stage::probe_router>;
  static constexpr bool any_linear = linear_list::size > 0;
  static constexpr bool any_router = router_list::size > 0;
  static constexpr bool needs_delta = detail::linear_accs<linear_list>::needs_delta;
  static constexpr bool needs_reroute = detail::router_flags<router_list>::reroute;

  struct linear_entry {
    std::int64_t rows_seen = 0;
    typename detail::linear_accs<linear_list>::type accs;
  };
  struct domain_entry {
    std::int64_t total_tokens = 0;
    std::vector<stats::expert_acc> experts;
  };

  layer_statistics(const engine::architecture& a, const model::model_description& d, int layer,
                   std::vector<std::string> domains)
      : a_(a), d_(d), layer_(layer), domains_(std::move(domains)) {
    const auto& t = a.layer[static_cast<std::size_t>(layer)];
    std::vector<int> ids{t.q, t.k, t.v, t.o};
    for (const auto& x : t.experts) ids.insert(ids.end(), x.begin(), x.end());
    for (int i : ids) {
      const auto& l = d.linears[static_cast<std::size_t>(i)];
      auto& e = linears_[i];
      std::apply([&](auto&... acc) { (acc.init(l.out_features, l.in_features), ...); }, e.accs);
    }
    router_.resize(domains_.size());
    for (auto& r : router_) r.experts.resize(static_cast<std::size_t>(a.experts));
  }

  // The observer of one batch of domain `domain`. `forward` observes the forward pass (inputs
  // only: for statistics that need no gradient, e.g. xtx in a sequential GPTQ pass).
  std::unique_ptr<engine::layer_observer> observer(int domain, const nn::gemm_backend& g, bool forward = false) {
    if (forward && needs_delta)
      throw error("probe", "a statistic in this set needs output gradients; it cannot observe a forward pass");
    return std::make_unique<batch_observer>(*this, domain, g, forward);
  }

  // Accumulator of statistic S for Linear `linear` (model description index).
  template <class S>
  const typename linear_statistic<S>::acc& get(int linear) const {
    return std::get<typename linear_statistic<S>::acc>(linears_.at(linear).accs);
  }
  std::int64_t rows_seen(int linear) const { return linears_.at(linear).rows_seen; }

  // The formats whose first-order terms Linear `linear` measures (probe/first_order.hpp forms
  // their ΔW). Set before the first batch; a set without stat::first_order refuses them.
  void set_first_order(int linear, std::vector<first_order_target> targets) {
    if constexpr (!linear_list::template contains<stat::first_order>) {
      throw error("probe", "first-order terms were asked for, but this statistic set has no stat::first_order");
    } else {
      auto& a = std::get<typename linear_statistic<stat::first_order>::acc>(linears_.at(linear).accs);
      a.sum.clear();
      for (const auto& t : targets) a.sum.emplace_back(t.format, stats::exact_sum{});
      targets_[linear] = std::move(targets);
    }
  }
  int layer() const noexcept { return layer_; }
  // This layer's Linears (model description indices).
  std::vector<int> linears() const {
    std::vector<int> v;
    for (const auto& [i, e] : linears_) v.push_back(i);
    return v;
  }

  // Adds this layer's Linears and router to the stats.
  void write(stats::model_stats& m) const {
    if constexpr (any_linear)
      for (const auto& [i, e] : linears_) {
        const auto& l = d_.linears[static_cast<std::size_t>(i)];
        stats::linear_stats s;
        s.name = l.name;
        s.out_features = l.out_features;
        s.in_features = l.in_features;
        s.source_dtype = detail::source_dtype(l.source);
        if (l.source == model::source_format::fp8_block128) s.source_block_out = s.source_block_in = 128;
        s.rows_seen = e.rows_seen;
        s.has_fisher = false;
        write_linear(e, s, std::make_index_sequence<linear_list::size>{});
        m.linears[s.name] = std::move(s);
      }
    if constexpr (any_router) {
      const auto& t = a_.layer[static_cast<std::size_t>(layer_)];
      stats::router_stats r;
      r.name = t.router;
      r.experts_prefix = t.experts_prefix;
      r.num_experts = a_.experts;
      r.top_k = a_.top_k;
      for (std::size_t dd = 0; dd < domains_.size(); ++dd) {
        auto& acc = r.domain(domains_[dd]);
        acc.total_tokens = router_[dd].total_tokens;
        acc.experts = router_[dd].experts;
      }
      m.routers[r.name] = std::move(r);
    }
  }

 private:
  template <std::size_t... I>
  static void write_linear(const linear_entry& e, stats::linear_stats& s, std::index_sequence<I...>) {
    (write_one<I>(e, s), ...);
  }
  template <std::size_t I>
  static void write_one(const linear_entry& e, stats::linear_stats& s) {
    using S = std::tuple_element_t<I, typename list_tuple<linear_list>::type>;
    linear_statistic<S>::write(std::get<I>(e.accs), s);
  }
  template <class L>
  struct list_tuple;
  template <class... S>
  struct list_tuple<stat::list<S...>> {
    using type = std::tuple<S...>;
  };

  class batch_observer final : public engine::layer_observer {
   public:
    batch_observer(layer_statistics& L, int domain, const nn::gemm_backend& g, bool forward)
        : L_(L), domain_(domain), g_(g), forward_(forward) {}
    engine::observer_needs needs() const override {
      engine::observer_needs n;
      n.linear_inputs = forward_ && any_linear;
      n.linear_grads = !forward_ && any_linear;
      n.router = !forward_ && any_router;
      n.reroute = !forward_ && needs_reroute;
      return n;
    }
    void linear_forward(const engine::linear_rows& r) override { observe(r); }
    void linear_backward(const engine::linear_rows& r) override { observe(r); }
    void router_backward(const engine::router_rows& r) override {
      auto parts = measure_router(r, std::make_index_sequence<router_list::size>{});
      std::vector<std::int64_t> count(static_cast<std::size_t>(r.experts), 0);
      for (std::int64_t i = 0; i < r.tokens * r.k; ++i) ++count[static_cast<std::size_t>(r.expert[i])];
      std::lock_guard lock(L_.mu_);
      auto& dom = L_.router_[static_cast<std::size_t>(domain_)];
      dom.total_tokens += r.tokens;
      for (std::size_t e = 0; e < count.size(); ++e) dom.experts[e].count += count[e];
      add_router(dom.experts, parts, std::make_index_sequence<router_list::size>{});
    }

   private:
    void observe(const engine::linear_rows& r) {
      const auto t = L_.targets_.find(r.linear);  // read only while batches run
      linear_call c(r, g_, scratch_, x_sums_, delta_sums_, t == L_.targets_.end() ? nullptr : &t->second);
      auto parts = measure_linear(c, std::make_index_sequence<linear_list::size>{});
      std::lock_guard lock(L_.mu_);
      auto& e = L_.linears_.at(r.linear);
      e.rows_seen += r.m;
      add_linear(e, parts, std::make_index_sequence<linear_list::size>{});
    }
    template <std::size_t... I>
    static auto measure_linear(linear_call& c, std::index_sequence<I...>) {
      return std::tuple<typename linear_statistic<std::tuple_element_t<I, typename list_tuple<linear_list>::type>>::partial...>{
          linear_statistic<std::tuple_element_t<I, typename list_tuple<linear_list>::type>>::measure(c)...};
    }
    template <class P, std::size_t... I>
    static void add_linear(linear_entry& e, const P& parts, std::index_sequence<I...>) {
      (linear_statistic<std::tuple_element_t<I, typename list_tuple<linear_list>::type>>::add(std::get<I>(e.accs),
                                                                                               std::get<I>(parts)),
       ...);
    }
    template <std::size_t... I>
    static auto measure_router(const engine::router_rows& r, std::index_sequence<I...>) {
      return std::tuple<typename router_statistic<std::tuple_element_t<I, typename list_tuple<router_list>::type>>::partial...>{
          router_statistic<std::tuple_element_t<I, typename list_tuple<router_list>::type>>::measure(r)...};
    }
    template <class P, std::size_t... I>
    static void add_router(std::vector<stats::expert_acc>& acc, const P& parts, std::index_sequence<I...>) {
      (router_statistic<std::tuple_element_t<I, typename list_tuple<router_list>::type>>::add(acc, std::get<I>(parts)), ...);
    }

    layer_statistics& L_;
    int domain_;
    const nn::gemm_backend& g_;
    bool forward_;
    std::vector<float> scratch_;
    row_col_sums x_sums_, delta_sums_;  // reused while consecutive Linears share their inputs
  };

  const engine::architecture& a_;
  const model::model_description& d_;
  int layer_;
  std::vector<std::string> domains_;
  std::mutex mu_;
  std::map<int, linear_entry> linears_;
  std::map<int, std::vector<first_order_target>> targets_;
  std::vector<domain_entry> router_;
};

}  // namespace prismaquant::probe
