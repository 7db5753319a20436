#pragma once
// What every policy (format, Δloss proxy, saliency, solver) has in common: a name, and for
// proxies and saliencies the statistics it reads. A policy written as a type says them at
// compile time:
//
//   static constexpr std::string_view name = "mine";
//   using needs = stat::list<stat::fisher, stat::sse>;
//
// an erased one (proxy::any_proxy, saliency::any_saliency, solvers::any_solver) at run time:
//
//   std::string_view name() const;   stat::set needs() const;
//
// policy_name(p) / policy_needs(p) read either, so generic code and the concepts accept both.
#include <prismaquant/core/error.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <concepts>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant {

template <class P>
concept static_policy_name = requires {
  { P::name } -> std::convertible_to<std::string_view>;
};
template <class P>
concept runtime_policy_name = requires(const P& p) {
  { p.name() } -> std::convertible_to<std::string_view>;
};
template <class P>
concept static_policy_needs = requires { typename P::needs; } && stat::is_list<typename P::needs>::value;
template <class P>
concept runtime_policy_needs = requires(const P& p) {
  { p.needs() } -> std::same_as<stat::set>;
};

template <class P>
  requires static_policy_name<P> || runtime_policy_name<P>
std::string_view policy_name(const P& p) {
  if constexpr (static_policy_name<P>) return P::name;
  else return p.name();
}

template <class P>
  requires static_policy_needs<P> || runtime_policy_needs<P>
constexpr stat::set policy_needs(const P& p) {
  if constexpr (static_policy_needs<P>) return P::needs::mask;
  else return p.needs();
}

// Policies by name (the registries of the command line): the names, comma separated, and the
// one called `name` — else an error for `option` listing the known ones.
template <class P>
std::string policy_names(const std::vector<P>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + std::string(policy_name(x));
  return s;
}
template <class P>
const P& find_policy(const std::vector<P>& v, std::string_view name, const std::string& option, const std::string& what) {
  for (const auto& x : v)
    if (policy_name(x) == name) return x;
  throw error(option, "unknown " + what + " \"" + std::string(name) + "\" (known: " + policy_names(v) + ")");
}

}  // namespace prismaquant
