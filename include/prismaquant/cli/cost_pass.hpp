#pragma once
// One instantiation of the fused cost pass, as the `cost` command runs it: the formats it
// measures (list order) and the call. Statistics: SSE, max |error| and per-row SSE (the row
// sums are the unit the total is reduced from, so they cost nothing extra); the
// activation-weighted SSE on request. Light on purpose: CUDA translation units include it.
#include <prismaquant/cost/result.hpp>

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::cli {

struct cost_pass {
  std::vector<std::string> formats;
  std::function<std::vector<cost::tensor_cost>(std::span<const cost::job>, bool act_sse)> measure;
  // Source bytes worth giving one measure() call: 0 for the CPU pass (one fused group at a
  // time is enough work), large for a device pass (its per-call cost is launches and copies).
  std::size_t batch_bytes = 0;
};

}  // namespace prismaquant::cli
