// expect: prismaquant proxy: `needs` names no statistic of the cost pass
// A proxy must read a format's error: needs with probe statistics only is refused.
#include <prismaquant/proxies/concept.hpp>

namespace st = prismaquant::stat;

struct blind_proxy {
  static constexpr std::string_view name = "blind";
  using needs = st::list<st::fisher>;
  double operator()(const prismaquant::stats::linear_stats& s, std::string_view, const prismaquant::stats::format_cost&) const {
    return s.h_trace();
  }
};
static_assert(prismaquant::proxy::check_proxy<blind_proxy>());
int main() {}
