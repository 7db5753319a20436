// The fused cost pass over the seed formats (see cost_dispatch.hpp).
#include "cost_dispatch.hpp"

#include <prismaquant/cost/engine.hpp>
#include <prismaquant/formats/all.hpp>

namespace prismaquant::tool {

namespace {
using seed = formats::format_list<formats::nvfp4, formats::mxfp8_e4m3, formats::fp8_source, formats::bf16_passthrough>;
using base = cost::request<cost::stat::sse, cost::stat::max_abs, cost::stat::row_sse>;
using with_act = cost::request<cost::stat::sse, cost::stat::max_abs, cost::stat::row_sse, cost::stat::act_sse>;
}  // namespace

cli::cost_pass seed_cost_pass() {
  cli::cost_pass p;
  seed::for_each([&]<class F>() { p.formats.emplace_back(F::name); });
  p.measure = [](std::span<const cost::job> jobs, bool act_sse) {
    return act_sse ? cost::evaluate<seed, with_act>(jobs) : cost::evaluate<seed, base>(jobs);
  };
  return p;
}

}  // namespace prismaquant::tool
