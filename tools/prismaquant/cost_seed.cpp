// The fused cost pass over the seed formats (see cost_dispatch.hpp).
#include "cost_dispatch.hpp"

#include <prismaquant/cli/cpu_cost_pass.hpp>
#include <prismaquant/formats/list.hpp>

prismaquant::cli::cost_pass prismaquant::tool::seed_cost_pass() {
  return cli::cost_pass_for<formats::seed_formats>();
}
