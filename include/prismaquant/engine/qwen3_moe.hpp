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
    a.hidden = config_get<std::int64_t>(c, "hidden_size");
    a.layers = config_get<int>(c, "num_hidden_layers");
    a.heads = config_get<std::int64_t>(c, "num_attention_heads");
    a.kv_heads = config_get_or<std::int64_t>(c, "num_key_value_heads", a.heads);
    a.head_dim = config_get_or<std::int64_t>(c, "head_dim", a.heads > 0 ? a.hidden / a.heads : 0);
    a.rot_dim = static_cast<std::int64_t>(static_cast<double>(a.head_dim) *
                                          detail::rope_value(c, "partial_rotary_factor", 1.0));
    a.rope_theta = detail::rope_value(c, "rope_theta", 10000.0);
    detail::require_default_rope(c);
    a.eps = static_cast<float>(config_get_or<double>(c, "rms_norm_eps", 1e-6));
    a.vocab = config_get<std::int64_t>(c, "vocab_size");
    a.max_positions = config_get_or<std::int64_t>(c, "max_position_embeddings", 1 << 20);
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
    const bool tied = config_get_or<bool>(c, "tie_word_embeddings", false);
    a.embed = "model.embed_tokens.weight";
    a.final_norm = "model.norm.weight";
    a.lm_head = tied ? a.embed : "lm_head.weight";

    std::map<int, std::array<int, 4>> attn;
    for (std::size_t i = 0; i < d.linears.size(); ++i) {
      const auto& l = d.linears[i];
      const int slot = l.kind == model::linear_kind::attn_q ? 0 : l.kind == model::linear_kind::attn_k ? 1
                       : l.kind == model::linear_kind::attn_v ? 2 : l.kind == model::linear_kind::attn_o ? 3 : -1;
      if (slot >= 0) attn.try_emplace(l.layer, std::array<int, 4>{-1, -1, -1, -1}).first->second[slot] = static_cast<int>(i);
    }
    std::map<int, const model::moe_layer*> moe;
    for (const auto& m : d.moe_layers) moe[m.layer] = &m;
    for (int n = 0; n < a.layers; ++n) {
      const std::string p = "model.layers." + std::to_string(n) + ".";
      layer_tensors t;
      t.input_norm = p + "input_layernorm.weight";
      t.post_norm = p + "post_attention_layernorm.weight";
      t.q_norm = p + "self_attn.q_norm.weight";
      t.k_norm = p + "self_attn.k_norm.weight";
      const auto it = attn.find(n);
      if (it == attn.end() || it->second[0] < 0 || it->second[1] < 0 || it->second[2] < 0 || it->second[3] < 0)
        throw error(p + "self_attn", "q/k/v/o projections missing from the checkpoint");
      t.q = it->second[0], t.k = it->second[1], t.v = it->second[2], t.o = it->second[3];
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
