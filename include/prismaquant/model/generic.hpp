#pragma once
// The generic profile: common dense and MoE Hugging Face checkpoints (Llama, Qwen3,
// Qwen3-MoE, Mixtral naming), recognised from tensor names rather than a fixed layout,
// well enough to inspect and cost them.
//   model.layers.N.self_attn.{q,k,v,o}_proj                      attention (q/k/v fused)
//   model.layers.N.mlp.{gate,up,down}_proj (also shared_expert.)  dense MLP (gate/up fused)
//   model.layers.N.mlp.experts.E.{gate,up,down}_proj + mlp.gate   Qwen-MoE experts + router
//   model.layers.N.block_sparse_moe.experts.E.{w1,w3,w2} + .gate  Mixtral experts + router
// Other 2-D floating-point `*.weight` tensors inside model.layers (except routers and
// norms) are listed as `other` Linears; embeddings and lm_head are never quantized.
#include <prismaquant/model/profile.hpp>

#include <regex>

namespace prismaquant::model {

struct generic {
  static constexpr std::string_view name = "generic";

  static bool matches(const nlohmann::json&) { return true; }

  static model_description describe(const nlohmann::json& config, const std::vector<tensor_info>& tensors) {
    model_description d;
    d.profile = std::string(name);
    if (config.contains("architectures") && config["architectures"].is_array() && !config["architectures"].empty() &&
        config["architectures"][0].is_string())
      d.architecture = config["architectures"][0].get<std::string>();
    else
      d.architecture = config.value("model_type", std::string{"unknown"});
    const int top_k = detail::config_get_or<int>(config, "num_experts_per_tok", 0);

    static const std::regex attn(R"(model\.layers\.(\d+)\.self_attn\.([qkvo])_proj\.weight)");
    static const std::regex mlp(R"(model\.layers\.(\d+)\.mlp\.(?:shared_expert\.)?(gate|up|down)_proj\.weight)");
    static const std::regex qexp(R"(model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight)");
    static const std::regex mexp(R"(model\.layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.(w1|w2|w3)\.weight)");
    static const std::regex router(R"(model\.layers\.(\d+)\.(mlp|block_sparse_moe)\.gate\.weight)");
    static const std::regex layer_weight(R"(model\.layers\.(\d+)\..*\.weight)");

    std::map<std::string, std::vector<int>> groups;             // fused group key -> Linear indices
    std::map<int, std::map<int, std::array<int, 3>>> experts;    // layer -> expert -> gate/up/down
    std::map<int, std::string> routers;
    for (const auto& t : tensors) {
      std::smatch m;
      const std::string& n = t.name;
      const std::string module = n.size() > 7 ? n.substr(0, n.size() - 7) : n;  // strip ".weight"
      auto add = [&](linear_kind kind, int layer, int expert, const std::string& vllm) {
        if (t.shape.size() != 2) throw error(n, "a Linear weight must be 2-D");
        linear_info l;
        l.name = module;
        l.vllm_name = vllm;
        l.kind = kind;
        l.layer = layer;
        l.expert = expert;
        l.out_features = t.shape[0];
        l.in_features = t.shape[1];
        l.source = detail::source_of(t, tensors);
        d.linears.push_back(std::move(l));
        return static_cast<int>(d.linears.size()) - 1;
      };
      if (std::regex_match(n, m, attn)) {
        const int layer = std::stoi(m[1]);
        const char c = m[2].str()[0];
        const auto kind = c == 'q' ? linear_kind::attn_q : c == 'k' ? linear_kind::attn_k
                          : c == 'v' ? linear_kind::attn_v : linear_kind::attn_o;
        const std::string vllm = c == 'o' ? module : "model.layers." + m[1].str() + ".self_attn.qkv_proj";
        const int i = add(kind, layer, -1, vllm);
        if (c != 'o') groups["qkv." + m[1].str()].push_back(i);
      } else if (std::regex_match(n, m, qexp) || std::regex_match(n, m, mexp)) {
        const int layer = std::stoi(m[1]), e = std::stoi(m[2]);
        const std::string p = m[3];
        const int slot = (p == "gate" || p == "w1") ? 0 : (p == "up" || p == "w3") ? 1 : 2;
        const auto kind = slot == 0 ? linear_kind::expert_gate : slot == 1 ? linear_kind::expert_up : linear_kind::expert_down;
        const int i = add(kind, layer, e, module);
        auto& ex = experts[layer].try_emplace(e, std::array<int, 3>{-1, -1, -1}).first->second;
        ex[slot] = i;
        if (slot != 2) groups["expert." + m[1].str() + "." + m[2].str()].push_back(i);
      } else if (std::regex_match(n, m, mlp)) {
        const std::string p = m[2];
        const auto kind = p == "gate" ? linear_kind::mlp_gate : p == "up" ? linear_kind::mlp_up : linear_kind::mlp_down;
        const bool shared = n.find("shared_expert") != std::string::npos;
        const std::string base = "model.layers." + m[1].str() + (shared ? ".mlp.shared_expert." : ".mlp.");
        const int i = add(kind, std::stoi(m[1]), -1, p == "down" ? module : base + "gate_up_proj");
        if (p != "down") groups["mlp." + base].push_back(i);
      } else if (std::regex_match(n, m, router)) {
        routers[std::stoi(m[1])] = module;
        d.not_quantized.push_back(n);
      } else if (std::regex_match(n, m, layer_weight) && t.shape.size() == 2 && is_floating(t.type) &&
                 n.find("norm") == std::string::npos) {
        add(linear_kind::other, std::stoi(m[1]), -1, module);
      } else {
        d.not_quantized.push_back(n);
      }
    }
    for (auto& [key, members] : groups)
      if (members.size() > 1) d.fused_groups.push_back(members);
    for (auto& [layer, ex] : experts) {
      moe_layer moe;
      moe.layer = layer;
      auto r = routers.find(layer);
      if (r == routers.end())
        throw error("model.layers." + std::to_string(layer), "has experts but no router (mlp.gate / block_sparse_moe.gate)");
      moe.router = r->second;
      moe.top_k = top_k;
      int expected = 0;
      for (auto& [e, slots] : ex) {
        if (e != expected++)
          throw error("model.layers." + std::to_string(layer), "expert " + std::to_string(expected - 1) + " is missing");
        if (slots[0] < 0 || slots[1] < 0 || slots[2] < 0)
          throw error("model.layers." + std::to_string(layer) + " expert " + std::to_string(e),
                      "needs gate, up and down projections");
        moe.experts.push_back(slots);
      }
      moe.num_experts = static_cast<int>(moe.experts.size());
      d.moe_layers.push_back(std::move(moe));
    }
    return d;
  }
};


}  // namespace prismaquant::model
