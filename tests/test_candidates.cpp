// Candidate construction: legality (sources, shapes), the model's fused groups, MoE joint
// items under each loader's rules, the rules' own check of a layer_config, and clear errors
// on inconsistent inputs.
#include <catch2/catch.hpp>

#include "test_allocate_fixture.hpp"

#include <prismaquant/allocate/candidates.hpp>
#include <prismaquant/proxies/fisher_trace.hpp>
#include <prismaquant/saliency/scores.hpp>

namespace pq = prismaquant;
namespace pa = prismaquant::allocate;

static pa::candidate_builder builder(const fixture::small_model& m, pa::options o = {}) {
  o.alpha = 0.5;
  return fixture::builder(m, pq::proxy::fisher_trace{}, pq::saliency::reap{}, o);
}

TEST_CASE("MoE joint candidates: floor(R·E) lowest-saliency experts, kept bytes, prune cost once per layer") {
  auto m = fixture::make(31, 1, 8, 2);
  for (const auto loader : {pa::loader_rules::vllm(), pa::loader_rules::transformers()}) {
    INFO("loader " << loader.name);
    pa::options o;
    o.loader = loader;
    auto b = builder(m, o);
    const auto& d = b.model();
    REQUIRE(d.moe_layers.size() == 1);
    const auto& layer = d.moe_layers[0];
    const auto& rk = b.rankings().at(layer.router);
    const auto p0 = b.build(0.0), p3 = b.build(0.375);  // floor(3.0) = 3 dropped
    REQUIRE(p3.experts_dropped_per_layer == 3);
    std::size_t moe_items = 0;
    for (std::size_t i = 0; i < p3.problem.items.size(); ++i) {
      if (!p3.info[i].moe) continue;
      ++moe_items;
      const auto& it0 = p0.problem.items[i];
      const auto& it3 = p3.problem.items[i];
      REQUIRE(it0.n_params == it3.n_params);  // bits stay per original parameter
      for (const auto& cand : it3.candidates) {
        REQUIRE(cand.pruned_expert_ids == rk.prune_set(3));
        // bytes of the kept experts, exactly
        std::int64_t kept = 0;
        double dl = 0;
        for (int e = 0; e < 8; ++e) {
          if (std::find(cand.pruned_expert_ids.begin(), cand.pruned_expert_ids.end(), e) != cand.pruned_expert_ids.end())
            continue;
          for (int s : p3.info[i].slots) {
            const auto& mod = d.linears[static_cast<std::size_t>(layer.experts[static_cast<std::size_t>(e)][static_cast<std::size_t>(s)])].name;
            const auto& row = b.linear_table().at(mod);
            kept += row.at(cand.fmt).bytes;
            dl += row.at(cand.fmt).dloss;
          }
        }
        REQUIRE(cand.memory_bytes == kept);
        double prune = 0;
        for (int j : cand.pruned_expert_ids) prune += 0.5 * rk.score[static_cast<std::size_t>(j)];
        const bool first = p3.info[i].slots.front() == pa::slot_gate;
        REQUIRE(cand.dloss == Approx(dl + (first ? prune : 0.0)).epsilon(1e-12));
      }
    }
    // vllm: one item for gate/up/down of all experts; transformers: gate/up, and down
    REQUIRE(moe_items == (loader.moe_layer_one_scheme ? 1u : 2u));
    // the dropped experts are the lowest by REAP
    for (int j : rk.prune_set(3))
      for (int k = 0; k < 8; ++k)
        if (std::find(rk.drop_order.begin() + 3, rk.drop_order.end(), k) != rk.drop_order.end())
          REQUIRE(rk.score[static_cast<std::size_t>(j)] <= rk.score[static_cast<std::size_t>(k)]);
  }
}

TEST_CASE("legality: a format only for the sources it accepts and the shapes it stores") {
  auto m = fixture::make(32, 1, 4, 1, /*fp8_source=*/false);
  auto b = builder(m);
  for (auto& [n, row] : b.linear_table()) REQUIRE_FALSE(row.count("FP8_SOURCE"));  // accepts FP8 blocks only
  // a shape NVFP4 cannot hold (in_features 40 is not a multiple of 16); a Linear the naming
  // rules do not place is an item of its own
  auto m2 = fixture::make(33, 1, 4, 1);
  std::mt19937_64 rng(1);
  fixture::add_linear(m2, rng, "model.lm_head", 64, 48, true, {"NVFP4", "BF16"});
  m2.stats.linears["model.lm_head"].in_features = 40;
  m2.costs.linears["model.lm_head"].in_features = 40;
  for (auto& [f, c] : m2.costs.linears["model.lm_head"].formats) c.n = 64 * 40;
  auto b2 = builder(m2);
  REQUIRE_FALSE(b2.linear_table().at("model.lm_head").count("NVFP4"));
  REQUIRE(b2.linear_table().at("model.lm_head").count("BF16"));
  REQUIRE_THROWS_WITH(pq::formats::find("NVFP4").check_shape(64, 40, "model.lm_head"), Catch::Contains("16"));
  // restricting formats
  pa::options o;
  o.formats = {"NVFP4", "BF16"};
  auto b3 = builder(m, o);
  for (auto& [n, row] : b3.linear_table()) REQUIRE(row.size() == 2);
  o.formats = {"NOPE"};
  REQUIRE_THROWS_WITH(builder(m, o), Catch::Contains("unknown format \"NOPE\""));
}

TEST_CASE("the model's fused groups are one item with summed bytes and Δloss") {
  auto m = fixture::make(34, 1, 4, 1);
  auto b = builder(m);
  const auto p = b.build(0.0);
  bool found = false;
  for (std::size_t i = 0; i < p.problem.items.size(); ++i) {
    if (p.info[i].members.size() != 3) continue;
    found = true;
    for (auto& c : p.problem.items[i].candidates) {
      std::int64_t by = 0;
      double dl = 0;
      for (int mi : p.info[i].members) {
        const auto& name = b.model().linears[static_cast<std::size_t>(mi)].name;
        by += b.linear_table().at(name).at(c.fmt).bytes;
        dl += b.linear_table().at(name).at(c.fmt).dloss;
      }
      REQUIRE(c.memory_bytes == by);
      REQUIRE(c.dloss == Approx(dl));
    }
  }
  REQUIRE(found);
}

TEST_CASE("loader rules: the items they form and the layer_configs they accept") {
  auto m = fixture::make(36, 1, 4, 2);
  const auto d = pa::describe_from_stats(m.stats);
  const auto vllm = pa::loader_rules::vllm(), tf = pa::loader_rules::transformers();
  REQUIRE(vllm.projection_groups(false) == std::vector<std::vector<int>>{{0, 1, 2}});
  REQUIRE(tf.projection_groups(false) == std::vector<std::vector<int>>{{0, 1}, {2}});
  REQUIRE(tf.projection_groups(true) == std::vector<std::vector<int>>{{0, 1, 2}});
  REQUIRE(pa::loader_rules::by_name("transformers").name == "transformers");
  REQUIRE_THROWS_WITH(pa::loader_rules::by_name("sglang"), Catch::Contains("unknown loader"));
  // per-expert formats are a transformers-only freedom
  pa::options o;
  o.per_expert = true;
  REQUIRE_THROWS_WITH(builder(m, o), Catch::Contains("--loader transformers"));
  o.loader = tf;
  REQUIRE_NOTHROW(builder(m, o));

  std::map<std::string, std::string> lc;
  for (const auto& l : d.linears) lc[l.name] = "NVFP4";
  REQUIRE_NOTHROW(vllm.validate(d, lc, "lc"));
  const std::string e = "model.layers.0.block_sparse_moe.experts.";
  auto w2 = lc;
  w2[e + "1.w2"] = "MXFP8_E4M3";  // w2 differs from w1/w3
  REQUIRE_NOTHROW(tf.validate(d, w2, "lc"));
  REQUIRE_THROWS_WITH(vllm.validate(d, w2, "lc"), Catch::Contains(e + "1.w2") && Catch::Contains("one scheme"));
  auto w3 = lc;
  w3[e + "2.w3"] = "MXFP8_E4M3";  // an expert's w1/w3 differ: fused, so both loaders refuse
  REQUIRE_THROWS_WITH(tf.validate(d, w3, "lc"), Catch::Contains(e + "2.w3") && Catch::Contains("fused"));
  auto k = lc;
  k["model.layers.0.self_attn.k_proj"] = "BF16";
  REQUIRE_THROWS_WITH(tf.validate(d, k, "lc"), Catch::Contains("self_attn.k_proj"));
  auto router = lc;
  router["model.layers.0.block_sparse_moe.gate"] = "NVFP4";
  REQUIRE_THROWS_WITH(vllm.validate(d, router, "lc"), Catch::Contains("routers are never quantized"));
  auto dropped = lc;  // dropped experts are simply absent
  for (const char* pj : {"w1", "w2", "w3"}) dropped.erase(e + "3." + pj);
  REQUIRE_NOTHROW(vllm.validate(d, dropped, "lc"));
}

TEST_CASE("inconsistent inputs are clear errors") {
  auto m = fixture::make(35, 1, 4, 1);
  {
    auto x = m;
    x.costs.linears.erase("model.layers.0.self_attn.o_proj");
    REQUIRE_THROWS_WITH(builder(x), Catch::Contains("no costs for Linear \"model.layers.0.self_attn.o_proj\""));
  }
  {
    auto x = m;
    x.costs.linears["ghost"] = x.costs.linears.begin()->second;
    REQUIRE_THROWS_WITH(builder(x), Catch::Contains("unknown Linear \"ghost\""));
  }
  {
    auto x = m;
    x.stats.linears.erase("model.layers.0.block_sparse_moe.experts.2.w3");
    x.costs.linears.erase("model.layers.0.block_sparse_moe.experts.2.w3");
    REQUIRE_THROWS_WITH(builder(x), Catch::Contains("expert 2"));
  }
  {
    auto x = m;
    x.costs.linears["model.layers.0.self_attn.o_proj"].out_features = 7;
    REQUIRE_THROWS_WITH(builder(x), Catch::Contains("shape mismatch"));
  }
  {
    // the description (e.g. from the checkpoint) and the stats disagree on the experts
    auto in = fixture::inputs(m);
    in.stats.routers.begin()->second.num_experts = 5;
    REQUIRE_THROWS_WITH(pa::candidate_builder(in, pq::formats::registry(), pq::proxy::fisher_trace{},
                                              pq::saliency::reap{}),
                        Catch::Contains("the stats have 5 experts, the model 4"));
  }
  {
    pa::options o;
    o.formats = {"MXFP4"};  // not in the costs file
    REQUIRE_THROWS_WITH(builder(m, o), Catch::Contains("no legal format"));
  }
  {
    // pruning without router statistics
    auto in = fixture::inputs(m);  // the description still has the MoE layer
    in.stats.routers.clear();
    auto b = pa::candidate_builder(in, pq::formats::registry(), pq::proxy::fisher_trace{}, pq::saliency::reap{});
    REQUIRE_NOTHROW(b.build(0.0));
    REQUIRE_THROWS_WITH(b.build(0.5), Catch::Contains("no router statistics"));
  }
}
