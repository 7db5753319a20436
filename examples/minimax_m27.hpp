#pragma once
// What the MiniMax-M2.7-shaped examples (04, 08) share: the model as the MiniMax-M2 profile
// sees the release (its config and tensor table: 62 layers × (256 experts × w1/w2/w3 +
// q/k/v/o) = 47,864 FP8-block Linears), the seed recipe's formats with their byte counts in
// closed form, a Linear's statistics and costs from its Fisher trace and per-format errors,
// and the Pareto table.
#include <prismaquant/model/describe.hpp>
#include <prismaquant/recipe.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace example::minimax {

namespace pq = prismaquant;

constexpr int kLayers = 62, kExperts = 256, kTopK = 8, kHidden = 3072, kInter = 1536;
const std::vector<std::string> kFormats = {"NVFP4", "MXFP8_E4M3", "FP8_SOURCE", "BF16"};

inline std::int64_t closed_form_bytes(const std::string& f, std::int64_t out, std::int64_t in) {
  const std::int64_t n = out * in;
  if (f == "NVFP4") return out * (in / 2 + in / 16) + 4 + 4;  // packed, fp8 block scales, global + input scale
  if (f == "MXFP8_E4M3") return out * (in + in / 32);
  if (f == "FP8_SOURCE") return n + 4 * ((out + 127) / 128) * ((in + 127) / 128);
  return 2 * n;  // BF16
}

// The registry's byte counts against the closed forms, on every Linear shape of the model.
inline bool registry_bytes_match() {
  for (auto& f : kFormats)
    for (auto [o, i] : {std::pair<std::int64_t, std::int64_t>{6144, 3072}, {1024, 3072}, {3072, 6144}, {1536, 3072}, {3072, 1536}})
      if (static_cast<std::int64_t>(pq::formats::find(f).storage_bytes(o, i)) != closed_form_bytes(f, o, i)) {
        std::printf("byte count mismatch: %s [%lld, %lld]\n", f.c_str(), static_cast<long long>(o), static_cast<long long>(i));
        return false;
      }
  return true;
}

// What the MiniMax-M2 profile sees of the release: its config and tensor table.
inline pq::model::model_description describe() {
  const nlohmann::json config = {{"model_type", "minimax_m2"},   {"hidden_size", kHidden},   {"num_hidden_layers", kLayers},
                                 {"num_attention_heads", 48},    {"num_key_value_heads", 8}, {"head_dim", 128},
                                 {"num_local_experts", kExperts}, {"num_experts_per_tok", kTopK},
                                 {"intermediate_size", kInter}};
  std::vector<pq::model::tensor_info> t;
  auto fp8 = [&](const std::string& m, std::int64_t out, std::int64_t in) {
    t.push_back({m + ".weight", pq::dtype::F8_E4M3, {out, in}});
    t.push_back({m + ".weight_scale_inv", pq::dtype::F32, {(out + 127) / 128, (in + 127) / 128}});
  };
  for (int L = 0; L < kLayers; ++L) {
    const std::string p = "model.layers." + std::to_string(L) + ".";
    fp8(p + "self_attn.q_proj", 6144, kHidden);
    fp8(p + "self_attn.k_proj", 1024, kHidden);
    fp8(p + "self_attn.v_proj", 1024, kHidden);
    fp8(p + "self_attn.o_proj", kHidden, 6144);
    t.push_back({p + "block_sparse_moe.gate.weight", pq::dtype::BF16, {kExperts, kHidden}});
    for (int e = 0; e < kExperts; ++e) {
      const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      fp8(x + "w1", kInter, kHidden);
      fp8(x + "w2", kHidden, kInter);
      fp8(x + "w3", kInter, kHidden);
    }
  }
  return pq::model::describe_model(config, t);
}

// One FP8-block Linear's statistics and costs: its Fisher trace h (per token, over `rows`
// tokens) and its weight SSE in each of kFormats.
inline void add_linear(pq::allocate::inputs& m, const std::string& name, std::int64_t out, std::int64_t in,
                       std::int64_t rows, double h, const std::function<double(const std::string&)>& sse) {
  pq::stats::linear_stats s;
  s.name = name;
  s.out_features = out;
  s.in_features = in;
  s.source_dtype = pq::dtype::F8_E4M3;
  s.source_block_out = s.source_block_in = 128;
  s.rows_seen = rows;
  s.set_h_trace(h);
  pq::stats::linear_costs lc;
  lc.name = name;
  lc.out_features = out;
  lc.in_features = in;
  for (auto& f : kFormats) {
    pq::stats::format_cost c;
    c.n = out * in;
    c.bytes = static_cast<std::int64_t>(pq::formats::find(f).storage_bytes(out, in));
    c.sse = sse(f);
    c.max_abs_err = std::sqrt(c.sse);  // only needs max² ≤ sse; not used by fisher_trace
    lc.formats[f] = c;
  }
  m.stats.linears.emplace(name, std::move(s));
  m.costs.linears.emplace(name, std::move(lc));
}

// Layer L's router, its experts' accumulators still empty, over `tokens` calibration tokens.
inline pq::stats::router_stats layer_router(int L, std::int64_t tokens) {
  pq::stats::router_stats r;
  const std::string p = "model.layers." + std::to_string(L) + ".block_sparse_moe.";
  r.name = p + "gate";
  r.experts_prefix = p + "experts";
  r.num_experts = kExperts;
  r.top_k = kTopK;
  r.domain("default").total_tokens = tokens;
  return r;
}

// The bytes of an allocation recomputed from its layer formats with the closed forms.
inline std::int64_t closed_form_total(const pq::model::model_description& d, const pq::allocate::allocation_result& r) {
  std::int64_t total = 0;
  for (const auto& l : d.linears) {
    const auto it = r.layer_formats.find(l.name);
    if (it != r.layer_formats.end()) total += closed_form_bytes(it->second, l.out_features, l.in_features);
  }
  return total;
}

// The Pareto table; false if a row is over budget, not solved exactly, its bytes are not the
// closed forms' sum, or its MoE layers keep different numbers of experts.
inline bool print_pareto(const pq::model::model_description& d, const std::vector<pq::allocate::allocation_result>& rows,
                         int knee) {
  std::printf("\n target | achieved |   size   |   pred.   | NVFP4 | MXFP8 | FP8_SRC | BF16 | experts  |\n");
  std::printf("  bpp   |   bpp    | on disk  |   Δloss   |       |       |         |      | dropped  |\n");
  std::printf("--------+----------+----------+-----------+-------+-------+---------+------+----------+\n");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.feasible) {
      std::printf("  %5.2f | infeasible (%s)\n", r.target_bits, r.note.c_str());
      continue;
    }
    auto cnt = [&](const char* f) { return r.layers_by_fmt.count(f) ? r.layers_by_fmt.at(f) : 0; };
    if (r.sol.total_bytes > r.budget_bytes || !(r.sol.gap <= 1e-6)) {
      std::printf("solver check failed at target %.2f\n", r.target_bits);
      return false;
    }
    if (closed_form_total(d, r) != r.sol.total_bytes) {
      std::printf("bytes at target %.2f: solver %lld, closed forms %lld\n", r.target_bits,
                  static_cast<long long>(r.sol.total_bytes), static_cast<long long>(closed_form_total(d, r)));
      return false;
    }
    for (const auto& [router, dropped] : r.pruned)
      if (static_cast<int>(dropped.size()) != r.experts_dropped_per_layer) {
        std::printf("%s drops %zu experts, not %d\n", router.c_str(), dropped.size(), r.experts_dropped_per_layer);
        return false;
      }
    std::printf("  %5.2f |  %6.3f  | %6.1f GB | %9.4f | %5lld | %5lld | %7lld | %4lld | %4d/%-3d | %s\n", r.target_bits,
                r.sol.achieved_bits, static_cast<double>(r.sol.total_bytes) / 1e9, r.sol.dloss,
                static_cast<long long>(cnt("NVFP4")), static_cast<long long>(cnt("MXFP8_E4M3")),
                static_cast<long long>(cnt("FP8_SOURCE")), static_cast<long long>(cnt("BF16")),
                r.experts_dropped_per_layer, kExperts, static_cast<int>(i) == knee ? "<- knee" : "");
  }
  return true;
}

}  // namespace example::minimax
