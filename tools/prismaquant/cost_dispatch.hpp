#pragma once
// The `cost` command's compiled passes in this executable: the fused pass instantiated for
// the seed formats (NVFP4, MXFP8_E4M3, FP8_SOURCE, BF16 — the fast path) and for every
// default format, each in its own translation unit so the two heavy instantiations compile
// in parallel.
#include <prismaquant/cli/toolset.hpp>

namespace prismaquant::tool {

cli::cost_pass seed_cost_pass();
cli::cost_pass all_cost_pass();

inline cli::toolset toolset() { return cli::toolset{{seed_cost_pass(), all_cost_pass()}}; }

}  // namespace prismaquant::tool
