// expect: prismaquant proxy: missing `using needs
// A proxy that forgot to declare which error statistics it reads must not compile.
#include <prismaquant/proxies/concept.hpp>

struct forgetful_proxy {
  static constexpr std::string_view name = "forgetful";
  double operator()(const prismaquant::stats::linear_stats&, std::string_view, const prismaquant::stats::format_cost&) const {
    return 0.0;
  }
};
static_assert(prismaquant::proxy::check_proxy<forgetful_proxy>());
int main() {}
