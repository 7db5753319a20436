#pragma once
// The `cost` command's runtime-to-compile-time bridge: the fused pass instantiated for the seed
// formats (NVFP4, MXFP8_E4M3, FP8_SOURCE, BF16 — the fast path) and for every default format,
// each in its own translation unit so the two heavy instantiations compile in parallel.
// Statistics: SSE, max |error| and per-row SSE always; the activation-weighted SSE on request.
#include <prismaquant/cost/result.hpp>

#include <set>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::tool {

std::vector<cost::tensor_cost> cost_seed_formats(std::span<const cost::job> jobs, bool act_sse);
std::vector<cost::tensor_cost> cost_all_formats(std::span<const cost::job> jobs, bool act_sse);
// Names measured by each entry point.
std::set<std::string> cost_formats(bool seed_only);

}  // namespace prismaquant::tool
