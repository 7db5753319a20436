#pragma once
// Model profiles: what the library needs to know about an architecture.
//
// A profile turns a checkpoint's config.json plus its tensor table (names, dtypes,
// shapes) into a `model_description`: every quantizable Linear with its shape and kind,
// the fused groups that must share a format (and an NVFP4 global scale), the MoE layers
// (router, correction bias, experts), the source weight format, and the module names
// vLLM uses (compressed-tensors targets must use those, not the checkpoint's).
//
// A profile is a type P with
//   static constexpr std::string_view name;
//   static bool matches(const nlohmann::json& config);
//   static model_description describe(const nlohmann::json& config,
//                                     const std::vector<tensor_info>& tensors);
// `describe` throws prismaquant::error when the checkpoint does not have what the
// config promises. Profiles: minimax_m2 (model/minimax_m2.hpp) and generic
// (model/generic.hpp, Llama/Qwen3/Qwen3-MoE/Mixtral naming); `describe_model` tries them
// in that order.
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/source.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <concepts>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::model {

// One tensor of a checkpoint, as its header states it.
struct tensor_info {
  std::string name;
  dtype type = dtype::F32;
  std::vector<std::int64_t> shape;
};

enum class linear_kind { attn_q, attn_k, attn_v, attn_o, mlp_gate, mlp_up, mlp_down, expert_gate, expert_up,
                         expert_down, other };

constexpr std::string_view linear_kind_name(linear_kind k) noexcept {
  switch (k) {
    case linear_kind::attn_q: return "attn_q"; case linear_kind::attn_k: return "attn_k";
    case linear_kind::attn_v: return "attn_v"; case linear_kind::attn_o: return "attn_o";
    case linear_kind::mlp_gate: return "mlp_gate"; case linear_kind::mlp_up: return "mlp_up";
    case linear_kind::mlp_down: return "mlp_down"; case linear_kind::expert_gate: return "expert_gate";
    case linear_kind::expert_up: return "expert_up"; case linear_kind::expert_down: return "expert_down";
    case linear_kind::other: return "other";
  }
  return "other";
}

// How the source checkpoint stores a Linear's weight (formats/source.hpp).
using formats::source_format;
using formats::source_format_name;

struct linear_info {
  std::string name;          // checkpoint module name, e.g. model.layers.0.self_attn.q_proj
  std::string vllm_name;     // vLLM module name (compressed-tensors targets)
  linear_kind kind = linear_kind::other;
  int layer = -1;
  int expert = -1;           // expert index within its MoE layer, -1 for dense Linears
  std::int64_t out_features = 0, in_features = 0;
  source_format source = source_format::bf16;
  std::int64_t n_params() const noexcept { return out_features * in_features; }
};

struct moe_layer {
  int layer = -1;
  std::string router;                          // module name of the router Linear (not quantized)
  std::string correction_bias;                 // tensor name, empty if none
  int num_experts = 0;
  int top_k = 0;
  // per expert: Linear indices (into model_description::linears) of gate, up, down
  std::vector<std::array<int, 3>> experts;
};

struct model_description {
  std::string profile;                         // which profile produced this
  std::string architecture;                    // config "architectures"[0] or model_type
  std::vector<linear_info> linears;
  std::vector<std::vector<int>> fused_groups;  // Linear indices that must share one format
  bool expert_projections_match = false;       // must an expert's gate/up/down share a format
  std::vector<moe_layer> moe_layers;
  std::vector<std::string> not_quantized;      // tensors kept as they are (norms, router, ...)

  const linear_info* find(std::string_view module) const {
    for (const auto& l : linears)
      if (l.name == module) return &l;
    return nullptr;
  }
};

template <class P>
concept model_profile = requires(const nlohmann::json& config, const std::vector<tensor_info>& tensors) {
  { P::name } -> std::convertible_to<std::string_view>;
  { P::matches(config) } -> std::same_as<bool>;
  { P::describe(config, tensors) } -> std::same_as<model_description>;
};

namespace detail {

inline const tensor_info* find_tensor(const std::vector<tensor_info>& tensors, const std::string& name) {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

inline source_format source_of(const tensor_info& weight, const std::vector<tensor_info>& tensors) {
  switch (weight.type) {
    case dtype::BF16: return source_format::bf16;
    case dtype::F16: return source_format::fp16;
    case dtype::F32: return source_format::f32;
    case dtype::F8_E4M3: {
      const std::string base = weight.name.substr(0, weight.name.size() - std::string_view(".weight").size());
      if (find_tensor(tensors, base + ".weight_scale_inv")) return source_format::fp8_block128;
      if (find_tensor(tensors, base + ".weight_scale")) return source_format::compressed;  // CT float-quantized
      throw error(weight.name, "F8_E4M3 weight without a weight_scale_inv tensor (only 128x128 block FP8 is supported)");
    }
    default:
      throw error(weight.name, "Linear weight has dtype " + std::string(dtype_name(weight.type)) +
                                   "; expected BF16, F16, F32 or F8_E4M3 with weight_scale_inv");
  }
}

// Look up a 2-D `<module>.weight` (or a compressed-tensors `weight_packed`), check its shape,
// and fill a linear_info.
inline linear_info require_linear(const std::vector<tensor_info>& tensors, const std::string& module,
                                  std::int64_t out, std::int64_t in, linear_kind kind, int layer, int expert,
                                  std::string vllm_name) {
  const std::string wname = module + ".weight";
  const tensor_info* t = find_tensor(tensors, wname);
  linear_info l;
  if (!t) {
    // compressed-tensors packs 4-bit codes as `weight_packed` [out, …]: the rest of the shape
    // is the scheme's, checked when the weight is decoded.
    const tensor_info* packed = find_tensor(tensors, module + ".weight_packed");
    if (!packed) throw error(wname, "missing from the checkpoint (the config promises it)");
    if (packed->shape.size() != 2 || packed->shape[0] != out)
      throw error(module + ".weight_packed", "shape does not match the config: expected " + std::to_string(out) + " rows");
    l.source = source_format::compressed;
  } else if (t->shape.size() != 2 || t->shape[0] != out || t->shape[1] != in) {
    throw error(wname, "shape does not match the config: expected [" + std::to_string(out) + ", " +
                           std::to_string(in) + "]");
  } else {
    l.source = source_of(*t, tensors);
  }
  l.name = module;
  l.vllm_name = std::move(vllm_name);
  l.kind = kind;
  l.layer = layer;
  l.expert = expert;
  l.out_features = out;
  l.in_features = in;
  if (l.source == source_format::fp8_block128) {
    const tensor_info* s = find_tensor(tensors, module + ".weight_scale_inv");
    const std::int64_t so = (out + 127) / 128, si = (in + 127) / 128;
    if (s->shape.size() != 2 || s->shape[0] != so || s->shape[1] != si)
      throw error(module + ".weight_scale_inv", "shape must be [" + std::to_string(so) + ", " + std::to_string(si) +
                                                     "] for 128x128 blocks");
    if (s->type != dtype::F32 && s->type != dtype::BF16)
      throw error(module + ".weight_scale_inv", "dtype must be F32 (or BF16)");
  }
  return l;
}

template <class T>
T config_get(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) throw error("config.json", std::string("missing \"") + key + "\"");
  try {
    return config.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw error("config.json", std::string("\"") + key + "\" has the wrong type");
  }
}

template <class T>
T config_get_or(const nlohmann::json& config, const char* key, T fallback) {
  if (!config.contains(key) || config.at(key).is_null()) return fallback;
  return config_get<T>(config, key);
}

}  // namespace detail
}  // namespace prismaquant::model
