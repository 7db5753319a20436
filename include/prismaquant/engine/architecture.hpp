#pragma once
// What the engine needs to run a decoder-only MoE transformer: sizes, which variant of each
// building block (qk-norm over the whole projection or per head, router kind), and where every
// tensor is in the checkpoint. An architecture's assembly (engine/minimax_m2.hpp,
// engine/qwen3_moe.hpp) fills this from config.json and the model profile's description; the
// layer (engine/decoder_layer.hpp) is the same code for all of them.
#include <prismaquant/model/profile.hpp>
#include <prismaquant/nn/router.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace prismaquant::engine {

enum class qk_norm_kind { whole, per_head };  // RMSNorm over all heads together, or over each head

struct layer_tensors {
  std::string input_norm, post_norm, q_norm, k_norm;  // tensor names (".weight" included)
  int q = -1, k = -1, v = -1, o = -1;                 // Linear indices in the model description
  std::string router;                                 // router module (stats key), tensor router + ".weight"
  std::string experts_prefix;                         // e.g. model.layers.0.block_sparse_moe.experts
  std::string bias;                                   // e_score_correction_bias tensor, "" if none
  std::vector<std::array<int, 3>> experts;            // per expert: gate (w1), up (w3), down (w2)
};

struct architecture {
  std::string model_type;
  std::int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, rot_dim = 0, vocab = 0, max_positions = 0,
               inter = 0;  // inter: one expert's intermediate size
  int layers = 0, experts = 0, top_k = 0;
  double rope_theta = 10000.0;
  float eps = 1e-6f;
  qk_norm_kind qk_norm = qk_norm_kind::whole;
  nn::router_kind router = nn::router_kind::sigmoid_bias;
  bool norm_topk = true;
  std::string embed, final_norm, lm_head;  // lm_head == embed when the embeddings are tied
  std::vector<layer_tensors> layer;

  std::int64_t q_out() const { return heads * head_dim; }
  std::int64_t kv_out() const { return kv_heads * head_dim; }
  std::int64_t qkv_out() const { return q_out() + 2 * kv_out(); }
};

namespace detail {

// rope_theta / partial_rotary_factor at the top level (transformers 4) or in rope_parameters (5).
inline double rope_value(const nlohmann::json& c, const char* key, double fallback) {
  if (c.contains(key) && c[key].is_number()) return c[key].get<double>();
  for (const char* group : {"rope_parameters", "rope_scaling"})
    if (c.contains(group) && c[group].is_object() && c[group].contains(key) && c[group][key].is_number())
      return c[group][key].get<double>();
  return fallback;
}

inline void require_default_rope(const nlohmann::json& c) {
  for (const char* group : {"rope_parameters", "rope_scaling"})
    if (c.contains(group) && c[group].is_object()) {
      const auto& g = c[group];
      const std::string type = g.value("rope_type", g.value("type", std::string("default")));
      if (type != "default")
        throw error("config.json", std::string("\"") + group + "\" rope_type \"" + type +
                                       "\" is not supported (the engine implements the default rope)");
    }
}

inline void check_sizes(const architecture& a) {
  if (a.hidden <= 0 || a.layers <= 0 || a.heads <= 0 || a.kv_heads <= 0 || a.head_dim <= 0 || a.vocab <= 0 ||
      a.experts <= 0 || a.top_k <= 0 || a.top_k > a.experts || a.inter <= 0 || a.max_positions <= 0)
    throw error("config.json", "a size is not positive, or num_experts_per_tok > the number of experts");
  if (a.heads % a.kv_heads) throw error("config.json", "num_attention_heads is not a multiple of num_key_value_heads");
  if (a.rot_dim <= 0 || a.rot_dim > a.head_dim || a.rot_dim % 2)
    throw error("config.json", "rotary dimension " + std::to_string(a.rot_dim) + " must be even and in [2, head_dim]");
  if (!(a.rope_theta > 0.0)) throw error("config.json", "rope_theta must be positive");
  if (!(a.eps > 0.0f)) throw error("config.json", "rms_norm_eps must be positive");
}

// What every assembly reads alike from config.json: hidden / head sizes, layers, vocabulary,
// positions, the norm epsilon and the (default) rope's theta. num_key_value_heads defaults to
// num_attention_heads unless the architecture requires it.
inline void read_common_sizes(const nlohmann::json& c, architecture& a, bool kv_heads_required) {
  using model::detail::config_get;
  using model::detail::config_get_or;
  a.hidden = config_get<std::int64_t>(c, "hidden_size");
  a.layers = config_get<int>(c, "num_hidden_layers");
  a.heads = config_get<std::int64_t>(c, "num_attention_heads");
  a.kv_heads = kv_heads_required ? config_get<std::int64_t>(c, "num_key_value_heads")
                                 : config_get_or<std::int64_t>(c, "num_key_value_heads", a.heads);
  a.head_dim = config_get_or<std::int64_t>(c, "head_dim", a.heads > 0 ? a.hidden / a.heads : 0);
  a.rope_theta = rope_value(c, "rope_theta", 10000.0);
  require_default_rope(c);
  a.eps = static_cast<float>(config_get_or<double>(c, "rms_norm_eps", 1e-6));
  a.vocab = config_get<std::int64_t>(c, "vocab_size");
  a.max_positions = config_get_or<std::int64_t>(c, "max_position_embeddings", 1 << 20);
  const bool tied = config_get_or<bool>(c, "tie_word_embeddings", false);
  a.embed = "model.embed_tokens.weight";
  a.final_norm = "model.norm.weight";
  a.lm_head = tied ? a.embed : "lm_head.weight";
}

// Layer n's attention: its norms (transformers' names) and its q, k, v, o Linears found in the
// model description by kind.
inline void fill_attention(const model::model_description& d, int n, layer_tensors& t) {
  const std::string p = "model.layers." + std::to_string(n) + ".";
  t.input_norm = p + "input_layernorm.weight";
  t.post_norm = p + "post_attention_layernorm.weight";
  t.q_norm = p + "self_attn.q_norm.weight";
  t.k_norm = p + "self_attn.k_norm.weight";
  for (std::size_t i = 0; i < d.linears.size(); ++i) {
    const auto& l = d.linears[i];
    if (l.layer != n) continue;
    int* slot = l.kind == model::linear_kind::attn_q ? &t.q : l.kind == model::linear_kind::attn_k ? &t.k
                : l.kind == model::linear_kind::attn_v ? &t.v : l.kind == model::linear_kind::attn_o ? &t.o : nullptr;
    if (slot) *slot = static_cast<int>(i);
  }
  if (t.q < 0 || t.k < 0 || t.v < 0 || t.o < 0) throw error(p + "self_attn", "q/k/v/o projections missing from the checkpoint");
}

}  // namespace detail
}  // namespace prismaquant::engine
