#pragma once
// The fused CPU cost pass (cost/engine.hpp) over one compile-time format list, as a
// cli::cost_pass (cli/cost_pass.hpp).
// Two instantiations: with and without the activation-weighted SSE. This is the heavy part of
// an executable's compile: the `prismaquant` tool builds each of its passes in a translation
// unit of its own (tools/prismaquant/cost_*.cpp).
#include <prismaquant/cli/cost_pass.hpp>
#include <prismaquant/cost/engine.hpp>
#include <prismaquant/cost/request.hpp>

namespace prismaquant::cli {

template <class FormatList>
cost_pass cost_pass_for() {
  using base = cost::request<stat::sse, stat::max_abs, stat::row_sse>;
  using with_act = cost::request<stat::sse, stat::max_abs, stat::row_sse, stat::act_sse>;
  cost_pass p;
  FormatList::for_each([&]<class F>() { p.formats.emplace_back(F::name); });
  p.measure = [](std::span<const cost::job> jobs, bool act_sse) {
    return act_sse ? cost::evaluate<FormatList, with_act>(jobs) : cost::evaluate<FormatList, base>(jobs);
  };
  return p;
}

}  // namespace prismaquant::cli
