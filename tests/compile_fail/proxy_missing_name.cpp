// expect: prismaquant proxy: missing `static constexpr std::string_view name`
// A proxy without a name cannot be erased for the command line (nor named in files).
#include <prismaquant/proxies/registry.hpp>

namespace st = prismaquant::stat;

struct nameless_proxy {
  using needs = st::list<st::sse>;
  double operator()(const prismaquant::stats::linear_stats&, std::string_view, const prismaquant::stats::format_cost&) const {
    return 0.0;
  }
};
int main() { prismaquant::proxy::any_proxy p = nameless_proxy{}; }
