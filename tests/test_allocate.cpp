// Joint allocation against an independent brute force over (prune ratio × every format
// assignment), recomputing Δloss and bytes straight from the stats and costs, under both
// loaders' grouping rules.
#include <catch2/catch.hpp>

#include "test_allocate_fixture.hpp"

#include <prismaquant/allocate/allocate.hpp>
#include <prismaquant/proxies/registry.hpp>
#include <prismaquant/saliency/scores.hpp>

#include <cmath>
#include <limits>
#include <set>

namespace pq = prismaquant;
namespace pa = prismaquant::allocate;

namespace {

// Brute force: every group (qkv, o per layer; per MoE layer {w1,w2,w3} under vllm, {w1,w3} and
// {w2} under transformers) picks a format; the ratio drops the floor(R·E) lowest-REAP experts
// of every layer.
struct brute_result {
  double dloss = std::numeric_limits<double>::infinity();
  std::int64_t bytes = 0;
  double ratio = 0;
};

brute_result brute(const fixture::small_model& m, std::int64_t budget, const std::vector<double>& ratios,
                   const std::vector<std::string>& fmts, double alpha, bool vllm) {
  std::vector<std::vector<std::string>> groups;  // module lists
  std::vector<std::string> layers;
  for (auto& [rn, r] : m.stats.routers) layers.push_back(r.experts_prefix.substr(0, r.experts_prefix.find("block_sparse_moe")));
  brute_result best;
  for (double R : ratios) {
    std::vector<std::vector<std::string>> G;
    double prune = 0;
    bool ok = true;
    for (auto& [rn, r] : m.stats.routers) {
      const auto pooled = r.pooled();
      std::vector<std::pair<double, int>> sc;
      for (int e = 0; e < r.num_experts; ++e) {
        const auto& a = pooled.experts[static_cast<std::size_t>(e)];
        sc.push_back({a.count ? a.sum_g_norm.value() / a.count : 0.0, e});
      }
      std::sort(sc.begin(), sc.end());
      const int nd = static_cast<int>(std::floor(R * r.num_experts + 1e-9));
      if (r.num_experts - nd < r.top_k) ok = false;
      std::set<int> dropped;
      for (int i = 0; i < nd; ++i) { dropped.insert(sc[static_cast<std::size_t>(i)].second); prune += alpha * sc[static_cast<std::size_t>(i)].first; }
      const std::string L = r.experts_prefix.substr(0, r.experts_prefix.find("block_sparse_moe"));
      G.push_back({L + "self_attn.q_proj", L + "self_attn.k_proj", L + "self_attn.v_proj"});
      G.push_back({L + "self_attn.o_proj"});
      std::vector<std::string> a, b;
      for (int e = 0; e < r.num_experts; ++e) {
        if (dropped.count(e)) continue;
        a.push_back(r.experts_prefix + "." + std::to_string(e) + ".w1");
        a.push_back(r.experts_prefix + "." + std::to_string(e) + ".w3");
        b.push_back(r.experts_prefix + "." + std::to_string(e) + ".w2");
      }
      if (vllm) {
        a.insert(a.end(), b.begin(), b.end());
        G.push_back(a);
      } else {
        G.push_back(a);
        G.push_back(b);
      }
    }
    if (!ok) continue;
    const std::size_t n = G.size();
    std::vector<std::size_t> pick(n, 0);
    while (true) {
      double d = prune;
      std::int64_t by = 0;
      bool legal = true;
      for (std::size_t g = 0; g < n; ++g) {
        const std::string& f = fmts[pick[g]];
        for (auto& mod : G[g]) {
          const auto& s = m.stats.linears.at(mod);
          if (f == "FP8_SOURCE" && s.source_dtype != pq::dtype::F8_E4M3) legal = false;
          const auto& c = m.costs.linears.at(mod).formats.at(f);
          d += 0.5 * s.h_trace() * c.sse / static_cast<double>(c.n);
          by += c.bytes;
        }
      }
      if (legal && by <= budget && (d < best.dloss - 1e-12 * std::fabs(d))) best = {d, by, R};
      std::size_t k = 0;
      while (k < n && ++pick[k] == fmts.size()) pick[k++] = 0;
      if (k == n) break;
    }
  }
  return best;
}

}  // namespace

TEST_CASE("joint allocation matches brute force over ratios and formats") {
  const std::vector<std::string> fmts = {"NVFP4", "MXFP8_E4M3", "FP8_SOURCE", "BF16"};
  const std::vector<double> ratios = {0.0, 0.25, 0.5, 0.7};  // 0.7 keeps 2 of 6 (= top_k)
  for (std::uint64_t seed : {1, 2, 3, 4}) {
    const bool fp8 = seed != 2, vllm = seed != 3;
    auto m = fixture::make(seed, 2, 6, 2, fp8);
    pa::options o;
    o.loader = vllm ? pa::loader_rules::vllm() : pa::loader_rules::transformers();
    // the erased policies on odd seeds, the types on even ones: the same allocation
    auto b = seed % 2 ? fixture::builder(m, pq::proxy::erase(pq::proxy::fisher_trace{}),
                                         pq::saliency::erase(pq::saliency::reap{}), o)
                      : fixture::builder(m, pq::proxy::fisher_trace{}, pq::saliency::reap{}, o);
    REQUIRE(b.model().moe_layers.size() == 2);
    pa::joint_allocator ja(std::move(b), ratios);
    const std::int64_t lo = ja.min_bytes(), hi = [&] {
      std::int64_t s = 0;
      for (auto& [n, l] : m.costs.linears) s += l.formats.at("BF16").bytes;
      return s;
    }();
    for (int k = 0; k <= 12; ++k) {
      const std::int64_t budget = lo + (hi - lo) * k / 12;
      const auto r = ja.solve_bytes(budget);
      const auto bf = brute(m, budget, ratios, fmts, 0.15, vllm);
      INFO("seed " << seed << " budget " << budget);
      REQUIRE(r.feasible);
      REQUIRE(r.sol.total_bytes <= budget);
      REQUIRE(r.sol.dloss == Approx(bf.dloss).epsilon(1e-9));
      REQUIRE(r.sol.lower_bound <= r.sol.dloss * (1 + 1e-12));
      // fused siblings share a format; FP8_SOURCE only on FP8 sources
      for (int L = 0; L < 2; ++L) {
        const std::string p = "model.layers." + std::to_string(L) + ".self_attn.";
        REQUIRE(r.layer_formats.at(p + "q_proj") == r.layer_formats.at(p + "k_proj"));
        REQUIRE(r.layer_formats.at(p + "q_proj") == r.layer_formats.at(p + "v_proj"));
      }
      std::int64_t bytes = 0;
      for (auto& [mod, f] : r.layer_formats) {
        if (!fp8) REQUIRE(f != "FP8_SOURCE");
        bytes += m.costs.linears.at(mod).formats.at(f).bytes;
      }
      REQUIRE(bytes == r.sol.total_bytes);  // bytes of kept experts only, exactly
      REQUIRE_NOTHROW(o.loader.validate(ja.builder().model(), r.layer_formats, "result"));
      for (auto& [router, ids] : r.pruned) {
        REQUIRE(static_cast<int>(ids.size()) == static_cast<int>(std::floor(r.ratio * 6 + 1e-9)));
        for (int id : ids)
          for (const char* pj : {"w1", "w2", "w3"})
            REQUIRE(!r.layer_formats.count(m.stats.routers.at(router).experts_prefix + "." + std::to_string(id) + "." + pj));
      }
    }
    // below the smallest size: infeasible, with the smallest feasible size stated
    const auto bad = ja.solve_bytes(lo - 1);
    REQUIRE_FALSE(bad.feasible);
    REQUIRE(bad.note.find(std::to_string(lo)) != std::string::npos);
  }
}

TEST_CASE("prune ratios that keep fewer than top_k experts are skipped") {
  auto m = fixture::make(5, 1, 6, 2);
  auto b = fixture::builder(m, pq::proxy::fisher_trace{}, pq::saliency::reap{});
  REQUIRE(b.max_prune_ratio() == Approx(4.0 / 6.0));
  pa::joint_allocator ja(b, {0.0, 0.5, 0.8, 0.9});  // 0.8: floor(4.8) = 4 dropped, 2 kept = top_k
  REQUIRE(ja.skipped_ratios() == std::vector<double>{0.9});
  REQUIRE(ja.ratios() == std::vector<double>{0.0, 0.5, 0.8});
  REQUIRE_THROWS_WITH(b.build(0.9), Catch::Contains("keeps fewer than top_k"));
  REQUIRE_THROWS_AS(pa::joint_allocator(b, {0.9}), pq::error);
}

TEST_CASE("experts_match_all (transformers) and vllm: an expert's w1/w2/w3 share one format") {
  auto m = fixture::make(9, 1, 4, 1);
  for (const bool vllm : {false, true}) {
    pa::options o;
    o.loader = vllm ? pa::loader_rules::vllm() : pa::loader_rules::transformers();
    o.experts_match_all = !vllm;
    pa::joint_allocator ja(fixture::builder(m, pq::proxy::fisher_trace{}, pq::saliency::reap{}, o), {0.0});
    for (int k = 1; k < 10; ++k) {
      const auto r = ja.solve_bytes(ja.min_bytes() + (ja.min_bytes() * k) / 3);
      const std::string p = "model.layers.0.block_sparse_moe.experts.";
      for (int e = 0; e < 4; ++e) {
        REQUIRE(r.layer_formats.at(p + std::to_string(e) + ".w1") == r.layer_formats.at(p + "0.w2"));
        REQUIRE(r.layer_formats.at(p + std::to_string(e) + ".w3") == r.layer_formats.at(p + "0.w2"));
      }
      REQUIRE_NOTHROW(pa::loader_rules::vllm().validate(ja.builder().model(), r.layer_formats, "result"));
    }
  }
}

TEST_CASE("per-expert items (no aggregation) at ratio 0 are never worse than aggregated") {
  auto m = fixture::make(4, 1, 4, 2);
  pa::options o;
  o.loader = pa::loader_rules::transformers();
  auto agg = fixture::builder(m, pq::proxy::fisher_trace{}, pq::saliency::reap{}, o);
  o.per_expert = true;
  auto fine = fixture::builder(m, pq::proxy::fisher_trace{}, pq::saliency::reap{}, o);
  pa::joint_allocator a(agg, {0.0}), f(fine, {0.0});
  REQUIRE_THROWS_WITH(fine.build(0.25), Catch::Contains("aggregated"));
  for (int k = 0; k < 8; ++k) {
    const std::int64_t B = a.min_bytes() + a.min_bytes() * k / 4;
    REQUIRE(f.solve_bytes(B).sol.dloss <= a.solve_bytes(B).sol.dloss * (1 + 1e-12));
  }
}
