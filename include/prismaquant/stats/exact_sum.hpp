#pragma once
// The statistics' exact sum is the library's one (core/exact_sum.hpp).
#include <prismaquant/core/exact_sum.hpp>

namespace prismaquant::stats {
using prismaquant::exact_sum;
}  // namespace prismaquant::stats
