#pragma once
// What the library commands of one executable can run: the compiled cost passes (each a
// compile-time format list instantiated once). cli::run takes one.
#include <prismaquant/cost/result.hpp>

#include <functional>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::cli {

// One instantiation of the fused cost pass: the formats it measures (list order) and the call.
// Statistics: SSE, max |error| and per-row SSE always; the activation-weighted SSE on request.
struct cost_pass {
  std::vector<std::string> formats;
  std::function<std::vector<cost::tensor_cost>(std::span<const cost::job>, bool act_sse)> measure;
};

struct toolset {
  // Smallest first: `cost` runs the first pass that measures every requested format.
  std::vector<cost_pass> cost_passes;
};

}  // namespace prismaquant::cli
