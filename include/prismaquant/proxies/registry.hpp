#pragma once
// Proxies by name, for the command line and files: a type-erased callable plus the error
// statistics mask it needs. Compile-time code uses the proxy types directly.
#include <prismaquant/proxies/act_weighted.hpp>
#include <prismaquant/proxies/fisher_trace.hpp>
#include <prismaquant/proxies/per_row_fisher.hpp>

#include <functional>
#include <string>
#include <vector>

namespace prismaquant::proxy {

struct any_proxy {
  std::string name;
  std::uint32_t needs = 0;
  std::function<double(const stats::linear_stats&, std::string_view, const stats::format_cost&)> fn;
  double operator()(const stats::linear_stats& s, std::string_view f, const stats::format_cost& c) const { return fn(s, f, c); }
};

template <delta_loss_proxy P>
any_proxy erase(P p) {
  return any_proxy{std::string(P::name), needs_mask_v<P>,
                   [p](const stats::linear_stats& s, std::string_view f, const stats::format_cost& c) { return p(s, f, c); }};
}

inline std::vector<std::string> proxy_names() { return {"fisher_trace", "per_row_fisher", "act_weighted"}; }

inline any_proxy proxy_by_name(const std::string& n) {
  if (n == "fisher_trace") return erase(fisher_trace{});
  if (n == "per_row_fisher") return erase(per_row_fisher{});
  if (n == "act_weighted") return erase(act_weighted{});
  std::string all;
  for (auto& x : proxy_names()) all += (all.empty() ? "" : ", ") + x;
  throw error("--proxy", "unknown proxy \"" + n + "\" (known: " + all + ")");
}

}  // namespace prismaquant::proxy
