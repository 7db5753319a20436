#pragma once
// The MiniMax-M2 / M2.7 profile (model_type "minimax_m2"; docs/architecture.md
// "Model profiles" names the sources).
//
// Checkpoint naming (the release's): model.layers.N.self_attn.{q,k,v,o}_proj,
// model.layers.N.block_sparse_moe.{gate, e_score_correction_bias, experts.E.{w1,w2,w3}}.
// vLLM builds the MoE under model.layers.N.mlp with experts.E.{gate,up,down}_proj and fuses
// q/k/v as qkv_proj, so compressed-tensors targets use those names.
// Fused groups: q/k/v of a layer; w1/w3 of an expert (one NVFP4 global scale each).
#include <prismaquant/model/profile.hpp>

namespace prismaquant::model {

struct minimax_m2 {
  static constexpr std::string_view name = "minimax_m2";

  static bool matches(const nlohmann::json& config) {
    return config.value("model_type", std::string{}) == "minimax_m2";
  }

  static model_description describe(const nlohmann::json& config, const std::vector<tensor_info>& tensors) {
    using detail::config_get;
    const auto hidden = config_get<std::int64_t>(config, "hidden_size");
    const auto layers = config_get<int>(config, "num_hidden_layers");
    const auto heads = config_get<std::int64_t>(config, "num_attention_heads");
    const auto kv_heads = config_get<std::int64_t>(config, "num_key_value_heads");
    const auto head_dim = detail::config_get_or<std::int64_t>(config, "head_dim", hidden / heads);
    const auto experts = config_get<int>(config, "num_local_experts");
    const auto top_k = config_get<int>(config, "num_experts_per_tok");
    const auto inter = config_get<std::int64_t>(config, "intermediate_size");
    if (hidden <= 0 || layers <= 0 || heads <= 0 || kv_heads <= 0 || head_dim <= 0 || experts <= 0 || top_k <= 0 ||
        top_k > experts || inter <= 0)
      throw error("config.json", "non-positive size, or num_experts_per_tok > num_local_experts");

    model_description d;
    d.profile = std::string(name);
    d.architecture = "MiniMaxM2ForCausalLM";
    d.expert_projections_match = false;
    const std::int64_t q_out = heads * head_dim, kv_out = kv_heads * head_dim;
    for (int n = 0; n < layers; ++n) {
      const std::string p = "model.layers." + std::to_string(n) + ".";
      const std::string a = p + "self_attn.";
      const int first = static_cast<int>(d.linears.size());
      d.linears.push_back(detail::require_linear(tensors, a + "q_proj", q_out, hidden, linear_kind::attn_q, n, -1,
                                                 a + "qkv_proj"));
      d.linears.push_back(detail::require_linear(tensors, a + "k_proj", kv_out, hidden, linear_kind::attn_k, n, -1,
                                                 a + "qkv_proj"));
      d.linears.push_back(detail::require_linear(tensors, a + "v_proj", kv_out, hidden, linear_kind::attn_v, n, -1,
                                                 a + "qkv_proj"));
      d.linears.push_back(detail::require_linear(tensors, a + "o_proj", hidden, q_out, linear_kind::attn_o, n, -1,
                                                 a + "o_proj"));
      d.fused_groups.push_back({first, first + 1, first + 2});
      for (const char* norm : {"q_norm", "k_norm"}) d.not_quantized.push_back(a + norm + ".weight");
      d.not_quantized.push_back(p + "input_layernorm.weight");
      d.not_quantized.push_back(p + "post_attention_layernorm.weight");

      const std::string m = p + "block_sparse_moe.";
      const std::string v = p + "mlp.";
      moe_layer moe;
      moe.layer = n;
      moe.router = m + "gate";
      moe.num_experts = experts;
      moe.top_k = top_k;
      const tensor_info* gate = detail::find_tensor(tensors, moe.router + ".weight");
      if (!gate) throw error(moe.router + ".weight", "missing from the checkpoint (router)");
      if (gate->shape.size() != 2 || gate->shape[0] != experts || gate->shape[1] != hidden)
        throw error(moe.router + ".weight", "router shape must be [num_local_experts, hidden_size]");
      d.not_quantized.push_back(moe.router + ".weight");
      if (detail::find_tensor(tensors, m + "e_score_correction_bias")) {
        moe.correction_bias = m + "e_score_correction_bias";
        d.not_quantized.push_back(moe.correction_bias);
      }
      for (int e = 0; e < experts; ++e) {
        const std::string x = m + "experts." + std::to_string(e) + ".";
        const std::string vx = v + "experts." + std::to_string(e) + ".";
        const int i1 = static_cast<int>(d.linears.size());
        d.linears.push_back(
            detail::require_linear(tensors, x + "w1", inter, hidden, linear_kind::expert_gate, n, e, vx + "gate_proj"));
        d.linears.push_back(
            detail::require_linear(tensors, x + "w2", hidden, inter, linear_kind::expert_down, n, e, vx + "down_proj"));
        d.linears.push_back(
            detail::require_linear(tensors, x + "w3", inter, hidden, linear_kind::expert_up, n, e, vx + "up_proj"));
        moe.experts.push_back({i1, i1 + 2, i1 + 1});
        d.fused_groups.push_back({i1, i1 + 2});
      }
      d.moe_layers.push_back(std::move(moe));
    }
    for (const char* t : {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"})
      if (detail::find_tensor(tensors, t)) d.not_quantized.push_back(t);
    return d;
  }
};

}  // namespace prismaquant::model
