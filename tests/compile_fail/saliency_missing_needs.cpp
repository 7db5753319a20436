// expect: prismaquant saliency: missing `using needs = prismaquant::stat::list<...>`
// A saliency score must say which router statistics it reads (the probe collects those).
#include <prismaquant/saliency/scores.hpp>

struct needless_score {
  static constexpr std::string_view name = "needless";
  double operator()(const prismaquant::saliency::expert_view& e) const { return static_cast<double>(e.acc.count); }
};
static_assert(prismaquant::saliency::check_saliency<needless_score>());
int main() {}
