#pragma once
// The `prismaquant` tool's toolset: the library's policies and two compiled cost passes, the
// seed formats (NVFP4, MXFP8_E4M3, FP8_SOURCE, BF16 — the fast path) and every default
// format, each in its own translation unit so the two heavy instantiations compile in
// parallel.
#include <prismaquant/cli/toolset.hpp>

namespace prismaquant::tool {

cli::cost_pass seed_cost_pass();
cli::cost_pass all_cost_pass();

inline cli::toolset toolset() {
  cli::toolset t = cli::builtin_toolset();
  t.cost_passes = {seed_cost_pass(), all_cost_pass()};
  return t;
}

}  // namespace prismaquant::tool
