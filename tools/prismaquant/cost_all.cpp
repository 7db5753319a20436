// The fused cost pass over every default format (see cost_dispatch.hpp).
#include "cost_dispatch.hpp"

#include <prismaquant/cost/engine.hpp>
#include <prismaquant/formats/all.hpp>

namespace prismaquant::tool {

namespace {
using base = cost::request<cost::stat::sse, cost::stat::max_abs, cost::stat::row_sse>;
using with_act = cost::request<cost::stat::sse, cost::stat::max_abs, cost::stat::row_sse, cost::stat::act_sse>;
}  // namespace

cli::cost_pass all_cost_pass() {
  cli::cost_pass p;
  formats::all_formats::for_each([&]<class F>() { p.formats.emplace_back(F::name); });
  p.measure = [](std::span<const cost::job> jobs, bool act_sse) {
    return act_sse ? cost::evaluate<formats::all_formats, with_act>(jobs)
                   : cost::evaluate<formats::all_formats, base>(jobs);
  };
  return p;
}

}  // namespace prismaquant::tool
