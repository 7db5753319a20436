// 02: write your own Δloss proxy and allocate with it.
//
// A proxy is any type with a name, the list of error statistics it reads (so the cost pass
// computes exactly those), and a call operator. This one adds an outlier penalty to the
// reference's 0.5·H_trace·MSE_W: a format whose worst element error is large relative to
// its RMS error (NVFP4 on heavy-tailed rows) is charged extra. It reads two statistics:
// the total SSE and the max |W − Ŵ|.
#include <prismaquant/allocate/allocate.hpp>
#include <prismaquant/proxies/fisher_trace.hpp>

#include <cmath>
#include <cstdio>
#include <random>

namespace pq = prismaquant;
namespace px = prismaquant::proxy;
namespace pa = prismaquant::allocate;

struct outlier_aware_fisher {
  static constexpr std::string_view name = "outlier_aware_fisher";
  using needs = px::error_stats<px::total_sse, px::max_abs_err>;
  double lambda = 0.5;  // weight of the outlier term
  double operator()(const pq::stats::linear_stats& s, std::string_view, const pq::stats::format_cost& c) const {
    const double mse = c.mse();
    const double peak = mse > 0 ? c.max_abs_err * c.max_abs_err / mse : 0.0;  // crest factor²
    return 0.5 * s.h_trace() * mse * (1.0 + lambda * std::log1p(peak));
  }
};
// Fails to compile, naming the missing piece, if the proxy is incomplete.
static_assert(px::check_proxy<outlier_aware_fisher>());

int main() {
  // The cost stage reads this mask to compute only what the proxy needs.
  std::printf("%s needs: %s\n", std::string(outlier_aware_fisher::name).c_str(),
              px::describe_mask(px::needs_mask_v<outlier_aware_fisher>).c_str());

  // A small dense model: 8 layers × (q, k, v, o, up, down), synthetic stats and costs.
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> ln(0.0, 0.6);
  pq::stats::model_stats st;
  pq::stats::model_costs co;
  const std::vector<std::pair<std::string, double>> fmts = {{"NVFP4", 9e-3}, {"MXFP8_E4M3", 2e-4}, {"BF16", 0.0}};
  for (int L = 0; L < 8; ++L)
    for (auto [proj, shape] : std::vector<std::pair<std::string, std::pair<int, int>>>{
             {"self_attn.q_proj", {512, 512}}, {"self_attn.k_proj", {128, 512}}, {"self_attn.v_proj", {128, 512}},
             {"self_attn.o_proj", {512, 512}}, {"mlp.up_proj", {1024, 512}}, {"mlp.down_proj", {512, 1024}}}) {
      const std::string n = "model.layers." + std::to_string(L) + "." + proj;
      pq::stats::linear_stats s;
      s.name = n;
      s.out_features = shape.first;
      s.in_features = shape.second;
      s.rows_seen = 1;
      s.set_h_trace(100.0 * ln(rng));
      st.linears[n] = s;
      pq::stats::linear_costs lc{n, shape.first, shape.second, {}};
      const double tail = std::exp(1.5 * std::log(ln(rng)) / 0.6);  // heavy-tailed rows: NVFP4's worst error large
      for (auto& [f, rel] : fmts) {
        pq::stats::format_cost c;
        c.n = static_cast<std::int64_t>(shape.first) * shape.second;
        c.bytes = f == "NVFP4" ? c.n / 2 + c.n / 16 + 8 : f == "MXFP8_E4M3" ? c.n + c.n / 32 : 2 * c.n;
        c.sse = rel * 4e-4 * static_cast<double>(c.n) * ln(rng);
        c.max_abs_err = std::sqrt(c.sse / static_cast<double>(c.n)) * (f == "NVFP4" ? 6.0 * tail : 3.0);
        lc.formats[f] = c;
      }
      co.linears[n] = lc;
    }

  auto run = [&](px::any_proxy proxy) {
    pa::candidate_builder b(st, co, pa::auto_profile(st), proxy, pq::saliency::saliency_by_name("reap"));
    pa::joint_allocator ja(b, {0.0});
    return ja.solve_bits(6.0);
  };
  const auto ref = run(px::erase(px::fisher_trace{}));
  const auto mine = run(px::erase(outlier_aware_fisher{}));
  int differ = 0;
  for (auto& [m, f] : ref.layer_formats) differ += mine.layer_formats.at(m) != f;
  auto show = [](const char* what, const pa::allocation_result& r) {
    std::printf("%-22s %.3f bpp, Δloss %.5f, NVFP4 %lld, MXFP8 %lld, BF16 %lld\n", what, r.sol.achieved_bits, r.sol.dloss,
                static_cast<long long>(r.layers_by_fmt.count("NVFP4") ? r.layers_by_fmt.at("NVFP4") : 0),
                static_cast<long long>(r.layers_by_fmt.count("MXFP8_E4M3") ? r.layers_by_fmt.at("MXFP8_E4M3") : 0),
                static_cast<long long>(r.layers_by_fmt.count("BF16") ? r.layers_by_fmt.at("BF16") : 0));
  };
  show("fisher_trace:", ref);
  show("outlier_aware_fisher:", mine);
  std::printf("%d of %zu Linears change format under the custom proxy\n", differ, ref.layer_formats.size());
  // q/k/v stay fused under any proxy.
  for (int L = 0; L < 8; ++L) {
    const std::string p = "model.layers." + std::to_string(L) + ".self_attn.";
    if (mine.layer_formats.at(p + "q_proj") != mine.layer_formats.at(p + "v_proj")) return 1;
  }
  return ref.feasible && mine.feasible ? 0 : 1;
}
