// expect: prismaquant saliency: missing `double operator()
// A saliency score without its scoring function must not compile.
#include <prismaquant/saliency/scores.hpp>

struct nameless_score {
  static constexpr std::string_view name = "half";
};
static_assert(prismaquant::saliency::check_saliency<nameless_score>());
int main() {}
