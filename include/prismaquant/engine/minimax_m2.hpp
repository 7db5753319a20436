#pragma once
// MiniMax-M2 / M2.7 as an engine assembly (the architecture facts and their sources are in docs/probe.md):
// qk-norm over the whole q / k projection, partial NeoX rotary on `rotary_dim` of each head,
// GQA, sigmoid router with e_score_correction_bias for selection, SwiGLU experts w1/w3/w2.
#include <prismaquant/engine/architecture.hpp>
#include <prismaquant/model/profile.hpp>


namespace prismaquant::engine {

struct minimax_m2_assembly {
  static constexpr std::string_view name = "minimax_m2";
  static bool matches(const nlohmann::json& c) { return c.value("model_type", std::string{}) == "minimax_m2"; }

  static architecture make(const nlohmann::json& c, const model::model_description& d) {
    using model::detail::config_get;
    using model::detail::config_get_or;
    architecture a;
    a.model_type = "minimax_m2";
    detail::read_common_sizes(c, a, true);
    // rotary_dim is the architecture's field (vLLM reads it); partial_rotary_factor is the
    // transformers spelling of the same thing.
    a.rot_dim = config_get_or<std::int64_t>(
        c, "rotary_dim",
        static_cast<std::int64_t>(static_cast<double>(a.head_dim) * detail::rope_value(c, "partial_rotary_factor", 1.0)));
    a.experts = config_get<int>(c, "num_local_experts");
    a.top_k = config_get<int>(c, "num_experts_per_tok");
    a.inter = config_get<std::int64_t>(c, "intermediate_size");
    a.qk_norm = qk_norm_kind::whole;
    a.router = nn::router_kind::sigmoid_bias;
    a.norm_topk = true;
    if (config_get_or<std::string>(c, "scoring_func", "sigmoid") != "sigmoid")
      throw error("config.json", "scoring_func must be \"sigmoid\" for minimax_m2");
    if (!config_get_or<bool>(c, "use_qk_norm", true))
      throw error("config.json", "use_qk_norm false is not supported (MiniMax-M2 normalises q and k)");
    if (config_get_or<std::string>(c, "qk_norm_type", "per_layer") != "per_layer")
      throw error("config.json", "qk_norm_type must be \"per_layer\" (RMSNorm over the whole projection)");
    if (c.contains("attn_type_list") && c["attn_type_list"].is_array())
      for (const auto& t : c["attn_type_list"])
        if (!t.is_number_integer() || t.get<int>() != 1)
          throw error("config.json", "attn_type_list: only full attention (1) is supported");
    if (config_get_or<std::int64_t>(c, "shared_intermediate_size", 0) != 0)
      throw error("config.json", "shared experts (shared_intermediate_size > 0) are not supported");
    detail::check_sizes(a);
    if (static_cast<int>(d.moe_layers.size()) != a.layers)
      throw error("config.json", "num_hidden_layers is " + std::to_string(a.layers) + " but the checkpoint has " +
                                     std::to_string(d.moe_layers.size()) + " MoE layers");
    for (int n = 0; n < a.layers; ++n) {
      const std::string p = "model.layers." + std::to_string(n) + ".";
      layer_tensors t;
      detail::fill_attention(d, n, t);
      const auto& moe = d.moe_layers[static_cast<std::size_t>(n)];
      t.router = moe.router;
      t.experts_prefix = p + "block_sparse_moe.experts";
      t.bias = moe.correction_bias;
      if (t.bias.empty() && config_get_or<bool>(c, "use_routing_bias", true))
        throw error(p + "block_sparse_moe.e_score_correction_bias", "missing from the checkpoint (use_routing_bias)");
      t.experts = moe.experts;
      a.layer.push_back(std::move(t));
    }
    return a;
  }
};

}  // namespace prismaquant::engine
