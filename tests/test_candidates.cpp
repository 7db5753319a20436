// Candidate construction: legality (pass-through, shapes), fused groups, MoE joint items,
// and clear errors on inconsistent inputs.
#include <catch2/catch.hpp>

#include "test_allocate_fixture.hpp"

#include <prismaquant/allocate/candidates.hpp>

namespace pq = prismaquant;
namespace pa = prismaquant::allocate;

static pa::candidate_builder builder(const fixture::small_model& m, pa::model_profile p) {
  return pa::candidate_builder(m.stats, m.costs, std::move(p), pq::proxy::proxy_by_name("fisher_trace"),
                               pq::saliency::saliency_by_name("reap"), {0.5});
}

TEST_CASE("MoE joint candidates: floor(R·E) lowest-saliency experts, kept bytes, prune cost once per layer") {
  auto m = fixture::make(31, 1, 8, 2);
  auto b = builder(m, pa::auto_profile(m.stats));
  const auto& rk = b.rankings().begin()->second;
  const auto p0 = b.build(0.0), p3 = b.build(0.375);  // floor(3.0) = 3 dropped
  REQUIRE(p3.experts_dropped_per_layer == 3);
  std::size_t moe_items = 0;
  for (std::size_t i = 0; i < p3.problem.items.size(); ++i) {
    if (!p3.info[i].moe) continue;
    ++moe_items;
    const auto& it0 = p0.problem.items[i];
    const auto& it3 = p3.problem.items[i];
    REQUIRE(it0.n_params == it3.n_params);  // bits stay per original parameter
    for (std::size_t c = 0; c < it3.candidates.size(); ++c) {
      const auto& cand = it3.candidates[c];
      REQUIRE(cand.pruned_expert_ids == rk.prune_set(3));
      // bytes of the kept experts, exactly
      std::int64_t kept = 0;
      double dl = 0;
      for (int e = 0; e < 8; ++e) {
        if (std::find(cand.pruned_expert_ids.begin(), cand.pruned_expert_ids.end(), e) != cand.pruned_expert_ids.end()) continue;
        for (auto& pj : p3.info[i].projections) {
          const auto& row = b.linear_table().at(p3.info[i].experts_prefix + "." + std::to_string(e) + "." + pj);
          kept += row.at(cand.fmt).bytes;
          dl += row.at(cand.fmt).dloss;
        }
      }
      REQUIRE(cand.memory_bytes == kept);
      double prune = 0;
      for (int j : cand.pruned_expert_ids) prune += 0.5 * rk.score[static_cast<std::size_t>(j)];
      const bool first = p3.info[i].projections.front() == "w1";
      REQUIRE(cand.dloss == Approx(dl + (first ? prune : 0.0)).epsilon(1e-12));
    }
  }
  REQUIRE(moe_items == 2);
  // the dropped experts are the lowest by REAP
  for (int j : rk.prune_set(3))
    for (int k = 0; k < 8; ++k)
      if (std::find(rk.drop_order.begin() + 3, rk.drop_order.end(), k) != rk.drop_order.end())
        REQUIRE(rk.score[static_cast<std::size_t>(j)] <= rk.score[static_cast<std::size_t>(k)]);
}

TEST_CASE("legality: FP8_SOURCE only for FP8 block sources; shapes per format") {
  auto m = fixture::make(32, 1, 4, 1, /*fp8_source=*/false);
  auto b = builder(m, pa::auto_profile(m.stats));
  for (auto& [n, row] : b.linear_table()) REQUIRE_FALSE(row.count("FP8_SOURCE"));
  // a shape NVFP4 cannot hold (in_features 40 is not a multiple of 16)
  auto m2 = fixture::make(33, 1, 4, 1);
  std::mt19937_64 rng(1);
  fixture::add_linear(m2, rng, "model.lm_head", 64, 48, true, {"NVFP4", "BF16"});
  m2.stats.linears["model.lm_head"].in_features = 40;
  m2.costs.linears["model.lm_head"].in_features = 40;
  for (auto& [f, c] : m2.costs.linears["model.lm_head"].formats) c.n = 64 * 40;
  auto b2 = builder(m2, pa::auto_profile(m2.stats));
  REQUIRE_FALSE(b2.linear_table().at("model.lm_head").count("NVFP4"));
  REQUIRE(b2.linear_table().at("model.lm_head").count("BF16"));
  REQUIRE(pa::format_illegal_reason(m2.stats.linears.at("model.lm_head"), "NVFP4").find("16") != std::string::npos);
  // restricting formats
  auto prof = pa::auto_profile(m.stats);
  prof.formats = {"NVFP4", "BF16"};
  auto b3 = builder(m, prof);
  for (auto& [n, row] : b3.linear_table()) REQUIRE(row.size() == 2);
}

TEST_CASE("fused groups are one item with summed bytes and Δloss") {
  auto m = fixture::make(34, 1, 4, 1);
  auto b = builder(m, pa::auto_profile(m.stats));
  const auto p = b.build(0.0);
  bool found = false;
  for (std::size_t i = 0; i < p.problem.items.size(); ++i) {
    if (p.info[i].members.size() != 3) continue;
    found = true;
    for (auto& c : p.problem.items[i].candidates) {
      std::int64_t by = 0;
      double dl = 0;
      for (auto& mname : p.info[i].members) {
        by += b.linear_table().at(mname).at(c.fmt).bytes;
        dl += b.linear_table().at(mname).at(c.fmt).dloss;
      }
      REQUIRE(c.memory_bytes == by);
      REQUIRE(c.dloss == Approx(dl));
    }
  }
  REQUIRE(found);
}

TEST_CASE("inconsistent inputs are clear errors") {
  auto m = fixture::make(35, 1, 4, 1);
  auto prof = pa::auto_profile(m.stats);
  {
    auto x = m;
    x.costs.linears.erase("model.layers.0.self_attn.o_proj");
    REQUIRE_THROWS_WITH(builder(x, prof), Catch::Contains("no costs for Linear \"model.layers.0.self_attn.o_proj\""));
  }
  {
    auto x = m;
    x.costs.linears["ghost"] = x.costs.linears.begin()->second;
    REQUIRE_THROWS_WITH(builder(x, prof), Catch::Contains("unknown Linear \"ghost\""));
  }
  {
    auto x = m;
    x.stats.linears.erase("model.layers.0.block_sparse_moe.experts.2.w3");
    x.costs.linears.erase("model.layers.0.block_sparse_moe.experts.2.w3");
    REQUIRE_THROWS_WITH(builder(x, prof), Catch::Contains("missing expert 2"));
  }
  {
    auto x = m;
    x.costs.linears["model.layers.0.self_attn.o_proj"].out_features = 7;
    REQUIRE_THROWS_WITH(builder(x, prof), Catch::Contains("shape mismatch"));
  }
  {
    auto p2 = prof;
    p2.moe_layers[0].router = "nope.gate";
    REQUIRE_THROWS_WITH(builder(m, p2), Catch::Contains("router \"nope.gate\" is not in the stats"));
  }
  {
    auto p2 = prof;
    p2.fused_groups.push_back({"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.o_proj"});
    REQUIRE_THROWS_WITH(builder(m, p2), Catch::Contains("in two groups"));
  }
  {
    auto p2 = prof;
    p2.formats = {"MXFP4"};  // not in the costs file
    REQUIRE_THROWS_WITH(builder(m, p2), Catch::Contains("no legal format"));
  }
}
