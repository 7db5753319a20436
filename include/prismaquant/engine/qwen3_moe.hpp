#pragma once
// Qwen3-MoE as an engine assembly (transformers models/qwen3_moe): per-head q/k RMSNorm
// (weight [head_dim] shared by the heads), full rotary, GQA, softmax top-k router with
// norm_topk_prob, SwiGLU experts mlp.experts.E.{gate,up,down}_proj. Every layer sparse
// (decoder_sparse_step 1, no mlp_only_layers), no attention biases, no sliding window.
#include <prismaquant/engine/architecture.hpp>
#include <prismaquant/model/profile.hpp>

#include <map>

namespace prismaquant::engine {

struct qwen3_moe_assembly {
  static constexpr std::string_view name = "qwen3_moe";
  static bool matches(const nlohmann::json& c) { return c.value("model_type", std::string{}) == "qwen3_moe"; }

  static architecture make(const nlohmann::json& c, const model::model_description& d) {
    using model::detail::config_get;
    using model::detail::config_get_or;
    architecture a;
    a.model_type = "qwen3_moe";
    detail::read_common_sizes(c, a, false);
    a.rot_dim = static_cast<std::int64_t>(static_cast<double>(a.head_dim) *
                                          detail::rope_value(c, "partial_rotary_factor", 1.0));
    a.experts = config_get<int>(c, "num_experts");
    a.top_k = config_get<int>(c, "num_experts_per_tok");
    a.inter = config_get<std::int64_t>(c, "moe_intermediate_size");
    a.qk_norm = qk_norm_kind::per_head;
    a.router = nn::router_kind::softmax;
    a.norm_topk = config_get_or<bool>(c, "norm_topk_prob", false);
    if (config_get_or<int>(c, "decoder_sparse_step", 1) != 1)
      throw error("config.json", "decoder_sparse_step other than 1 (dense MLP layers) is not supported");
    if (c.contains("mlp_only_layers") && c["mlp_only_layers"].is_array() && !c["mlp_only_layers"].empty())
      throw error("config.json", "mlp_only_layers (dense MLP layers) is not supported");
    if (config_get_or<bool>(c, "attention_bias", false))
      throw error("config.json", "attention_bias true is not supported");
    if (config_get_or<bool>(c, "use_sliding_window", false))
      throw error("config.json", "use_sliding_window true is not supported");
    detail::check_sizes(a);
    std::map<int, const model::moe_layer*> moe;
    for (const auto& m : d.moe_layers) moe[m.layer] = &m;
    for (int n = 0; n < a.layers; ++n) {
      const std::string p = "model.layers." + std::to_string(n) + ".";
      layer_tensors t;
      detail::fill_attention(d, n, t);
      const auto mit = moe.find(n);
      if (mit == moe.end()) throw error(p + "mlp", "no experts in the checkpoint (every layer must be a MoE layer)");
      const auto& m = *mit->second;
      if (m.num_experts != a.experts)
        throw error(p + "mlp.experts", "has " + std::to_string(m.num_experts) + " experts, config num_experts is " +
                                           std::to_string(a.experts));
      t.router = m.router;
      t.experts_prefix = p + "mlp.experts";
      t.experts = m.experts;
      a.layer.push_back(std::move(t));
    }
    if (static_cast<int>(moe.size()) != a.layers)
      throw error("config.json", "num_hidden_layers is " + std::to_string(a.layers) + " but the checkpoint has " +
                                     std::to_string(moe.size()) + " MoE layers");
    return a;
  }
};

}  // namespace prismaquant::engine
