// Model profiles: MiniMax-M2 from config + tensor table, generic naming rules, and errors.
#include <prismaquant/model/describe.hpp>

#include <catch2/catch.hpp>

namespace pq = prismaquant;
using pq::dtype;
using pq::model::tensor_info;

namespace {

nlohmann::json tiny_minimax_config() {
  return {{"model_type", "minimax_m2"}, {"hidden_size", 256}, {"num_hidden_layers", 2},
          {"num_attention_heads", 4},   {"num_key_value_heads", 2}, {"head_dim", 64},
          {"num_local_experts", 4},     {"num_experts_per_tok", 2}, {"intermediate_size", 128}};
}

void add_fp8_linear(std::vector<tensor_info>& t, const std::string& m, std::int64_t out, std::int64_t in) {
  t.push_back({m + ".weight", dtype::F8_E4M3, {out, in}});
  t.push_back({m + ".weight_scale_inv", dtype::F32, {(out + 127) / 128, (in + 127) / 128}});
}

std::vector<tensor_info> tiny_minimax_tensors() {
  std::vector<tensor_info> t;
  for (int n = 0; n < 2; ++n) {
    const std::string p = "model.layers." + std::to_string(n) + ".";
    add_fp8_linear(t, p + "self_attn.q_proj", 256, 256);
    add_fp8_linear(t, p + "self_attn.k_proj", 128, 256);
    add_fp8_linear(t, p + "self_attn.v_proj", 128, 256);
    add_fp8_linear(t, p + "self_attn.o_proj", 256, 256);
    t.push_back({p + "block_sparse_moe.gate.weight", dtype::BF16, {4, 256}});
    t.push_back({p + "block_sparse_moe.e_score_correction_bias", dtype::F32, {4}});
    for (int e = 0; e < 4; ++e) {
      const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      add_fp8_linear(t, x + "w1", 128, 256);
      add_fp8_linear(t, x + "w2", 256, 128);
      add_fp8_linear(t, x + "w3", 128, 256);
    }
  }
  t.push_back({"model.embed_tokens.weight", dtype::BF16, {260, 256}});
  t.push_back({"lm_head.weight", dtype::BF16, {260, 256}});
  return t;
}

}  // namespace

TEST_CASE("MiniMax-M2 profile lists every Linear with shapes, groups and vLLM names") {
  const auto d = pq::model::describe_model(tiny_minimax_config(), tiny_minimax_tensors());
  CHECK(d.profile == "minimax_m2");
  REQUIRE(d.linears.size() == 2 * (4 + 4 * 3));
  REQUIRE(d.moe_layers.size() == 2);
  CHECK(d.moe_layers[1].num_experts == 4);
  CHECK(d.moe_layers[1].top_k == 2);
  CHECK(d.moe_layers[0].correction_bias == "model.layers.0.block_sparse_moe.e_score_correction_bias");
  const auto* w1 = d.find("model.layers.1.block_sparse_moe.experts.3.w1");
  REQUIRE(w1);
  CHECK(w1->vllm_name == "model.layers.1.mlp.experts.3.gate_proj");
  CHECK(w1->out_features == 128);
  CHECK(w1->in_features == 256);
  CHECK(w1->source == pq::model::source_format::fp8_block128);
  CHECK(d.find("model.layers.0.self_attn.k_proj")->vllm_name == "model.layers.0.self_attn.qkv_proj");
  // q/k/v per layer + w1/w3 per expert
  CHECK(d.fused_groups.size() == 2 * (1 + 4));
  const auto& e3 = d.moe_layers[1].experts[3];
  CHECK(d.linears[e3[0]].name == "model.layers.1.block_sparse_moe.experts.3.w1");
  CHECK(d.linears[e3[1]].name == "model.layers.1.block_sparse_moe.experts.3.w3");
  CHECK(d.linears[e3[2]].name == "model.layers.1.block_sparse_moe.experts.3.w2");
}

TEST_CASE("MiniMax-M2 profile: a broken checkpoint is a clear error") {
  auto cfg = tiny_minimax_config();
  SECTION("missing expert") {
    auto t = tiny_minimax_tensors();
    std::erase_if(t, [](auto& x) { return x.name == "model.layers.1.block_sparse_moe.experts.2.w2.weight"; });
    CHECK_THROWS_WITH(pq::model::describe_model(cfg, t),
                      Catch::Contains("experts.2.w2.weight") && Catch::Contains("missing"));
  }
  SECTION("wrong shape") {
    auto t = tiny_minimax_tensors();
    for (auto& x : t)
      if (x.name == "model.layers.0.self_attn.o_proj.weight") x.shape = {256, 128};
    CHECK_THROWS_WITH(pq::model::describe_model(cfg, t), Catch::Contains("o_proj.weight") && Catch::Contains("shape"));
  }
  SECTION("FP8 without scales") {
    auto t = tiny_minimax_tensors();
    std::erase_if(t, [](auto& x) { return x.name == "model.layers.0.self_attn.q_proj.weight_scale_inv"; });
    CHECK_THROWS_WITH(pq::model::describe_model(cfg, t), Catch::Contains("weight_scale_inv"));
  }
  SECTION("config without a size") {
    cfg.erase("hidden_size");
    CHECK_THROWS_WITH(pq::model::describe_model(cfg, tiny_minimax_tensors()), Catch::Contains("hidden_size"));
  }
}

TEST_CASE("generic profile: Llama, Qwen3-MoE and Mixtral naming") {
  std::vector<tensor_info> t = {
      {"model.layers.0.self_attn.q_proj.weight", dtype::BF16, {64, 64}},
      {"model.layers.0.self_attn.k_proj.weight", dtype::BF16, {32, 64}},
      {"model.layers.0.self_attn.v_proj.weight", dtype::BF16, {32, 64}},
      {"model.layers.0.self_attn.o_proj.weight", dtype::BF16, {64, 64}},
      {"model.layers.0.self_attn.q_norm.weight", dtype::BF16, {16}},
      {"model.layers.0.mlp.gate_proj.weight", dtype::BF16, {128, 64}},
      {"model.layers.0.mlp.up_proj.weight", dtype::BF16, {128, 64}},
      {"model.layers.0.mlp.down_proj.weight", dtype::BF16, {64, 128}},
      {"model.layers.1.mlp.gate.weight", dtype::BF16, {2, 64}},
      {"model.layers.2.block_sparse_moe.gate.weight", dtype::BF16, {2, 64}},
      {"model.embed_tokens.weight", dtype::BF16, {100, 64}},
  };
  for (int e = 0; e < 2; ++e) {
    for (const char* p : {"gate", "up", "down"})
      t.push_back({"model.layers.1.mlp.experts." + std::to_string(e) + "." + p + "_proj.weight", dtype::BF16,
                   {std::string(p) == "down" ? 64 : 32, std::string(p) == "down" ? 32 : 64}});
    for (const char* p : {"w1", "w2", "w3"})
      t.push_back({"model.layers.2.block_sparse_moe.experts." + std::to_string(e) + "." + p + ".weight", dtype::F16,
                   {std::string(p) == "w2" ? 64 : 32, std::string(p) == "w2" ? 32 : 64}});
  }
  const nlohmann::json cfg = {{"architectures", {"Qwen3MoeForCausalLM"}}, {"num_experts_per_tok", 1}};
  const auto d = pq::model::describe_model(cfg, t);
  CHECK(d.profile == "generic");
  CHECK(d.architecture == "Qwen3MoeForCausalLM");
  CHECK(d.linears.size() == 7 + 6 + 6);
  REQUIRE(d.moe_layers.size() == 2);
  CHECK(d.moe_layers[0].router == "model.layers.1.mlp.gate");
  CHECK(d.moe_layers[1].router == "model.layers.2.block_sparse_moe.gate");
  CHECK(d.moe_layers[1].num_experts == 2);
  CHECK(d.linears[d.moe_layers[1].experts[1][2]].name == "model.layers.2.block_sparse_moe.experts.1.w2");
  CHECK(d.find("model.layers.0.mlp.up_proj")->vllm_name == "model.layers.0.mlp.gate_up_proj");
  CHECK(d.find("model.layers.2.block_sparse_moe.experts.0.w1")->source == pq::model::source_format::fp16);
  // qkv, gate/up, and gate/up per expert of both MoE layers
  CHECK(d.fused_groups.size() == 1 + 1 + 2 + 2);

  SECTION("experts without a router") {
    std::erase_if(t, [](auto& x) { return x.name == "model.layers.1.mlp.gate.weight"; });
    CHECK_THROWS_WITH(pq::model::describe_model(cfg, t), Catch::Contains("router"));
  }
  SECTION("a hole in the expert numbering") {
    std::erase_if(t, [](auto& x) { return x.name.find("layers.1.mlp.experts.0.") != std::string::npos; });
    CHECK_THROWS_WITH(pq::model::describe_model(cfg, t), Catch::Contains("expert 0 is missing"));
  }
}
