#pragma once
// The `prismaquant` tool's toolset: the library's policies and three compiled cost passes, the
// seed formats (NVFP4, MXFP8_E4M3, FP8_SOURCE, BF16 — the fast path), the formats a weight-only
// export stores (what `pipeline` prices) and every default format, each in its own
// translation unit so the heavy instantiations compile in parallel. With CUDA
// (PRISMAQUANT_WITH_CUDA, set by CMake when nvcc is found) the seed and default lists run on
// the GPU too (cost_cuda.cu, `cost --device cuda`).
#include <prismaquant/cli/toolset.hpp>

namespace prismaquant::tool {

cli::cost_pass seed_cost_pass();
cli::cost_pass stored_cost_pass();
cli::cost_pass all_cost_pass();
#if PRISMAQUANT_WITH_CUDA
std::vector<cli::cost_pass> device_cost_passes();
#endif

inline cli::toolset toolset() {
  cli::toolset t = cli::builtin_toolset();
  t.cost_passes = {seed_cost_pass(), stored_cost_pass(), all_cost_pass()};
#if PRISMAQUANT_WITH_CUDA
  t.device_cost_passes = device_cost_passes();
#endif
  return t;
}

}  // namespace prismaquant::tool
