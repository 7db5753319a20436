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

}  // namespace detail
}  // namespace prismaquant::engine
