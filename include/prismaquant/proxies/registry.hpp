#pragma once
// Proxies at run time: `any_proxy` holds any proxy behind one call (a model of the same
// concept, with name() and needs() at run time), and the built-in proxies by name, for the
// command line and files. Compile-time code (pq::recipe) uses the proxy types directly.
#include <prismaquant/proxies/act_weighted.hpp>
#include <prismaquant/proxies/fisher_trace.hpp>
#include <prismaquant/proxies/per_row_fisher.hpp>
#include <prismaquant/proxies/per_token_fisher.hpp>
#include <prismaquant/proxies/taylor.hpp>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace prismaquant::proxy {

class any_proxy {
 public:
  template <class P>
    requires(!std::same_as<std::remove_cvref_t<P>, any_proxy>)
  any_proxy(P p)  // implicit: any proxy converts where an any_proxy is wanted
      : any_proxy(std::move(p), check_proxy<P>()) {}
  std::string_view name() const noexcept { return name_; }
  stat::set needs() const noexcept { return needs_; }
  double operator()(const stats::linear_stats& s, std::string_view f, const stats::format_cost& c) const {
    return fn_(s, f, c);
  }

 private:
  template <class P>
  any_proxy(P p, bool)
      : name_(policy_name(p)), needs_(policy_needs(p)), fn_([p = std::move(p)](const stats::linear_stats& s,
                                                                                std::string_view f,
                                                                                const stats::format_cost& c) {
          return static_cast<double>(p(s, f, c));
        }) {}

  std::string name_;
  stat::set needs_;
  std::function<double(const stats::linear_stats&, std::string_view, const stats::format_cost&)> fn_;
};
static_assert(delta_loss_proxy<any_proxy>);

template <delta_loss_proxy P>
any_proxy erase(P p) {
  return any_proxy(std::move(p));
}

using builtin_proxies = std::tuple<fisher_trace, per_row_fisher, act_weighted, per_token_fisher, taylor>;

inline std::vector<any_proxy> builtin_proxy_list() {
  return std::apply([](auto... p) { return std::vector<any_proxy>{any_proxy(p)...}; }, builtin_proxies{});
}

inline std::vector<std::string> proxy_names() {
  std::vector<std::string> v;
  for (const auto& p : builtin_proxy_list()) v.emplace_back(p.name());
  return v;
}

inline any_proxy proxy_by_name(const std::string& n) { return find_policy(builtin_proxy_list(), n, "--proxy", "proxy"); }

}  // namespace prismaquant::proxy
