// Shared by the allocation tests: a small MoE model's stats and costs, generated in memory
// (seeded), with exact byte counts from the formats registry, and its description (what the
// model profiles make of the names).
#pragma once
#include <prismaquant/allocate/candidates.hpp>
#include <prismaquant/allocate/inputs.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <random>
#include <string>
#include <vector>

namespace fixture {
namespace pq = prismaquant;

struct small_model {
  pq::stats::model_stats stats;
  pq::stats::model_costs costs;
};

inline void add_linear(small_model& m, std::mt19937_64& rng, const std::string& name, std::int64_t out, std::int64_t in,
                       bool fp8_source, const std::vector<std::string>& fmts, double h_scale = 1.0) {
  std::uniform_real_distribution<double> u(0.1, 1.0);
  pq::stats::linear_stats s;
  s.name = name;
  s.out_features = out;
  s.in_features = in;
  s.source_dtype = fp8_source ? pq::dtype::F8_E4M3 : pq::dtype::BF16;
  if (fp8_source) s.source_block_out = s.source_block_in = 128;
  s.rows_seen = 64;
  s.set_h_trace(h_scale * u(rng));
  s.h_row_sum.resize(static_cast<std::size_t>(out));
  double hs = 0;
  for (auto& v : s.h_row_sum) hs += (v = u(rng));
  for (auto& v : s.h_row_sum) v *= s.fisher_sum.value() / hs;
  s.xtx_diag.resize(static_cast<std::size_t>(in));
  for (auto& v : s.xtx_diag) v = 64 * u(rng);
  m.stats.linears[name] = s;
  pq::stats::linear_costs lc;
  lc.name = name;
  lc.out_features = out;
  lc.in_features = in;
  for (auto& f : fmts) {
    pq::stats::format_cost c;
    c.n = out * in;
    c.bytes = static_cast<std::int64_t>(pq::formats::find(f).storage_bytes(out, in));
    const double rel = f == "NVFP4" ? 1e-2 : f == "MXFP8_E4M3" ? 2e-4 : f == "FP8_SOURCE" ? 0.0 : 0.0;
    c.sse_row.resize(static_cast<std::size_t>(out));
    for (auto& v : c.sse_row) { v = rel * in * u(rng); c.sse += v; }
    c.max_abs_err = std::sqrt(c.sse / static_cast<double>(c.n));
    c.act_sse = c.sse * u(rng);
    if (f == "FP8_SOURCE" || f == "BF16") { c.sse = 0; c.act_sse = 0; for (auto& v : c.sse_row) v = 0; c.max_abs_err = 0; }
    lc.formats[f] = c;
  }
  m.costs.linears[name] = lc;
}

// `layers` attention layers (q,k,v,o) + one MoE layer per attention layer with E experts.
inline small_model make(std::uint64_t seed, int layers = 2, int E = 6, int top_k = 2, bool fp8_source = true,
                        std::vector<std::string> fmts = {"NVFP4", "MXFP8_E4M3", "FP8_SOURCE", "BF16"}) {
  std::mt19937_64 rng(seed);
  small_model m;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int L = 0; L < layers; ++L) {
    const std::string p = "model.layers." + std::to_string(L) + ".";
    add_linear(m, rng, p + "self_attn.q_proj", 256, 128, fp8_source, fmts, 3.0);
    add_linear(m, rng, p + "self_attn.k_proj", 64, 128, fp8_source, fmts, 3.0);
    add_linear(m, rng, p + "self_attn.v_proj", 64, 128, fp8_source, fmts, 3.0);
    add_linear(m, rng, p + "self_attn.o_proj", 128, 256, fp8_source, fmts, 3.0);
    pq::stats::router_stats r;
    r.name = p + "block_sparse_moe.gate";
    r.experts_prefix = p + "block_sparse_moe.experts";
    r.num_experts = E;
    r.top_k = top_k;
    auto& d = r.domain("default");
    for (int t = 0; t < 200; ++t) {
      ++d.total_tokens;
      std::vector<int> ids(static_cast<std::size_t>(E));
      for (int e = 0; e < E; ++e) ids[static_cast<std::size_t>(e)] = e;
      std::shuffle(ids.begin(), ids.end(), rng);
      // skew routing: low ids more often
      for (int k = 0; k < top_k; ++k) {
        const int e = std::min(ids[static_cast<std::size_t>(k)], ids[static_cast<std::size_t>(k + top_k < E ? k + top_k : k)]);
        d.experts[static_cast<std::size_t>(e)].add_token(u(rng) / top_k, 1.0 + 3 * u(rng));
      }
    }
    m.stats.routers[r.name] = r;
    for (int e = 0; e < E; ++e)
      for (const char* pj : {"w1", "w2", "w3"}) {
        const bool down = std::string(pj) == "w2";
        add_linear(m, rng, r.experts_prefix + "." + std::to_string(e) + "." + pj, down ? 128 : 96, down ? 96 : 128,
                   fp8_source, fmts, 0.2);
      }
  }
  return m;
}

inline pq::allocate::inputs inputs(const small_model& m) {
  return {m.stats, m.costs, pq::allocate::describe_from_stats(m.stats)};
}

// A candidate builder over every built-in format.
template <class Proxy, class Saliency>
pq::allocate::candidate_builder builder(const small_model& m, const Proxy& p, const Saliency& s,
                                        const pq::allocate::options& o = {}) {
  return pq::allocate::candidate_builder(inputs(m), pq::formats::registry(), p, s, o);
}

}  // namespace fixture
