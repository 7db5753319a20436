#pragma once
// Pick the engine assembly for a checkpoint by its config's model_type.
#include <prismaquant/engine/minimax_m2.hpp>
#include <prismaquant/engine/qwen3_moe.hpp>
#include <prismaquant/model/open.hpp>

namespace prismaquant::engine {

inline architecture assemble(const model::opened_model& m) {
  if (minimax_m2_assembly::matches(m.config)) return minimax_m2_assembly::make(m.config, m.description);
  if (qwen3_moe_assembly::matches(m.config)) return qwen3_moe_assembly::make(m.config, m.description);
  throw error((m.dir / "config.json").string(),
              "model_type \"" + m.config.value("model_type", std::string{}) +
                  "\" has no engine assembly (known: minimax_m2, qwen3_moe)");
}

}  // namespace prismaquant::engine
