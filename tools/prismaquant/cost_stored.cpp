// The fused cost pass over the formats a weight-only export stores (see cost_dispatch.hpp).
#include "cost_dispatch.hpp"

#include <prismaquant/cli/cpu_cost_pass.hpp>
#include <prismaquant/formats/list.hpp>

prismaquant::cli::cost_pass prismaquant::tool::stored_cost_pass() {
  return cli::cost_pass_for<formats::stored_formats>();
}
