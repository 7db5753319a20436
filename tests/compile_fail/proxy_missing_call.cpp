// expect: prismaquant proxy: missing `double operator()(const stats::linear_stats&, std::string_view fmt, const stats::format_cost&) const`
// A proxy whose call has the wrong signature (here: no format name) is rejected by name.
#include <prismaquant/proxies/concept.hpp>

namespace st = prismaquant::stat;

struct wrong_call {
  static constexpr std::string_view name = "wrong_call";
  using needs = st::list<st::sse>;
  double operator()(const prismaquant::stats::linear_stats&, const prismaquant::stats::format_cost&) const { return 0.0; }
};
static_assert(prismaquant::proxy::check_proxy<wrong_call>());
int main() {}
