#pragma once
// Pick the profile for a checkpoint: MiniMax-M2 by model_type, else the generic naming rules.
#include <prismaquant/model/generic.hpp>
#include <prismaquant/model/minimax_m2.hpp>

namespace prismaquant::model {

static_assert(model_profile<minimax_m2>);
static_assert(model_profile<generic>);

inline model_description describe_model(const nlohmann::json& config, const std::vector<tensor_info>& tensors) {
  if (minimax_m2::matches(config)) return minimax_m2::describe(config, tensors);
  return generic::describe(config, tensors);
}

}  // namespace prismaquant::model
