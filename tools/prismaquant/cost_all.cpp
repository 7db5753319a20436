// The fused cost pass over every default format (see cost_dispatch.hpp).
#include "cost_dispatch.hpp"

#include <prismaquant/cost/engine.hpp>
#include <prismaquant/formats/all.hpp>

namespace prismaquant::tool {

namespace {
using base = cost::request<cost::stat::sse, cost::stat::max_abs, cost::stat::row_sse>;
using with_act = cost::request<cost::stat::sse, cost::stat::max_abs, cost::stat::row_sse, cost::stat::act_sse>;
}  // namespace

std::vector<cost::tensor_cost> cost_all_formats(std::span<const cost::job> jobs, bool act_sse) {
  return act_sse ? cost::evaluate<formats::all_formats, with_act>(jobs)
                 : cost::evaluate<formats::all_formats, base>(jobs);
}

}  // namespace prismaquant::tool
