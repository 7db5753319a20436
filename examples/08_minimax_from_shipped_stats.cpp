// 08: MiniMax-M2.7 at full shape (62 layers × 256 experts, 47,864 Linears, 227.4 B
// parameters) allocated with statistics drawn from the shipped model's own probe and cost
// pass — the structure of the seed artifact's sweep (3.10 to 3.60 bits per parameter, one
// prune ratio from 0 to 0.375 for all layers, the knee), at exact bytes.
//
// How the statistics are drawn. The shipped model (models/minimax-m2-tiny: the MiniMax-M2
// layout at 4 layers × 32 experts) is probed on its calibration tokens and costed in the seed
// formats. Full-shape layer L takes its statistics from shipped layer ⌊4L/62⌋: q/k/v/o from
// the same projection there, each of the 256 experts from one of the 32 drawn at random (its
// w1/w2/w3 and its router accumulators together, so usage and sensitivity stay paired). Each
// copy keeps its donor's per-element weight error per format and gets a lognormal jitter
// (σ = 0.25) on its Fisher trace and its router sums. Each full-shape Linear is one of R copies
// of its donor (R = 62/4 for attention, 62·256/(4·32) for experts), so its Fisher trace is its
// donor's / R and every whole-model choice — a format everywhere, a fraction of experts
// dropped — is priced as it was on the shipped model. The price of dropping an expert, α·S_j
// with S = REAP-dropout, uses the α that the validation fitted on the shipped model
// (papers/validation/alpha_fit.csv, `reap_dropout` over prune sets), likewise divided by the
// full model's saliency mass over the shipped model's.
//
// Verify before trusting: the registry's byte counts equal the closed forms; every row is
// within budget with a certified gap, its bytes equal the closed forms summed over its layer
// formats, and all its MoE layers keep one number of experts.
#include "example_support.hpp"
#include "minimax_m27.hpp"

#include <prismaquant/allocate/alpha_fit.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/probe/probe.hpp>

#include <cmath>
#include <cstdio>
#include <random>

namespace pq = prismaquant;
namespace pa = prismaquant::allocate;
using namespace example::minimax;

namespace {

constexpr int kShippedLayers = 4, kShippedExperts = 32;

struct donor {
  double h = 0.0;                   // Fisher trace
  std::map<std::string, double> mse;  // per-element weight error per format
};

donor donor_of(const pq::allocate::inputs& shipped, const std::string& name) {
  const auto& s = shipped.stats.linears.at(name);
  donor d;
  d.h = s.h_trace();
  for (const auto& [f, c] : shipped.costs.linears.at(name).formats) d.mse[f] = c.sse / static_cast<double>(c.n);
  return d;
}

}  // namespace

int main() {
  if (!registry_bytes_match()) return 1;
  const std::filesystem::path model_dir = "models/minimax-m2-tiny";
  example::workspace ws("pq_example_08");

  // The shipped model's probe (Fisher traces, REAP accumulators) and cost pass (seed formats).
  const auto shipped_model = pq::model::open_model(model_dir);
  const pq::nn::cblas_gemm gemm;
  const auto probe = pq::probe::run(shipped_model, model_dir / "calib_tokens.bin", {}, gemm);
  pq::stats::write_stats(ws / "stats.json", probe.stats);
  pq::stats::write_costs(ws / "costs.json", pq::recipe<>::measure_model(model_dir));
  const auto shipped = pa::read_inputs(ws / "stats.json", ws / "costs.json", model_dir);

  // The full shape, each Linear and expert drawn from its donor.
  std::mt19937_64 rng(2026);
  std::lognormal_distribution<double> jitter(0.0, 0.25);
  std::uniform_int_distribution<int> pick(0, kShippedExperts - 1);
  pa::inputs m;
  m.model = describe();
  const double r_attn = static_cast<double>(kLayers) / kShippedLayers;
  const double r_expert = r_attn * kExperts / kShippedExperts;
  double mass_full = 0.0, mass_shipped = 0.0;  // Σ_j Σ g·‖f‖² (one T for every router)
  std::int64_t tokens = 0;
  auto add = [&](const std::string& name, std::int64_t out, std::int64_t in, std::int64_t rows, const donor& d, double r) {
    add_linear(m, name, out, in, rows, d.h * jitter(rng) / r,
               [&](const std::string& f) { return d.mse.at(f) * static_cast<double>(out * in); });
  };
  for (int L = 0; L < kLayers; ++L) {
    const int l = L * kShippedLayers / kLayers;
    const std::string sp = "model.layers." + std::to_string(l) + ".", p = "model.layers." + std::to_string(L) + ".";
    const auto& shipped_router = shipped.stats.routers.at(sp + "block_sparse_moe.gate");
    const auto& acc = shipped_router.pooled();
    tokens = acc.total_tokens;
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      const auto* info = m.model.find(p + "self_attn." + proj);
      add(info->name, info->out_features, info->in_features, tokens, donor_of(shipped, sp + "self_attn." + proj), r_attn);
    }
    pq::stats::router_stats r = layer_router(L, tokens);
    auto& dom = r.domain("default");
    // A full-shape expert is routed 1/4 as often as its donor: top-8 of 256 against top-4 of 32.
    const double usage = (static_cast<double>(kTopK) / kExperts) / (static_cast<double>(shipped_router.top_k) / kShippedExperts);
    for (int e = 0; e < kExperts; ++e) {
      const int d = pick(rng);
      const auto& a = acc.experts[static_cast<std::size_t>(d)];
      auto& x = dom.experts[static_cast<std::size_t>(e)];
      const double j = jitter(rng), s = usage * j;
      x.count = static_cast<std::int64_t>(std::llround(static_cast<double>(a.count) * usage));
      x.sum_g = pq::stats::exact_sum(a.sum_g.value() * s);
      x.sum_norm = pq::stats::exact_sum(a.sum_norm.value() * s);
      x.sum_norm_sq = pq::stats::exact_sum(a.sum_norm_sq.value() * s);
      x.sum_g_norm = pq::stats::exact_sum(a.sum_g_norm.value() * s);
      x.sum_g_norm_sq = pq::stats::exact_sum(a.sum_g_norm_sq.value() * s);
      x.max_g_norm = a.max_g_norm * j;
      mass_full += x.sum_g_norm_sq.value();
      const std::string src = sp + "block_sparse_moe.experts." + std::to_string(d) + ".";
      for (const char* w : {"w1", "w2", "w3"}) {
        const auto* info = m.model.find(r.experts_prefix + "." + std::to_string(e) + "." + w);
        add(info->name, info->out_features, info->in_features, std::max<std::int64_t>(x.count, 1), donor_of(shipped, src + w),
            r_expert);
      }
    }
    m.stats.routers.emplace(r.name, std::move(r));
  }
  for (const auto& [name, r] : shipped.stats.routers)
    for (const auto& x : r.pooled().experts) mass_shipped += x.sum_g_norm_sq.value();
  if (m.stats.linears.size() != 47'864u) {
    std::printf("expected 47,864 Linears, built %zu\n", m.stats.linears.size());
    return 1;
  }

  const double alpha_fit = pa::read_alpha_fit("papers/validation/alpha_fit.csv", "reap_dropout");
  const double alpha = alpha_fit / (mass_full / mass_shipped);
  const pq::recipe<> recipe;  // seed formats, fisher_trace, reap_dropout, exact solver
  const pa::options opt{.prune_ratios = {0.0, 0.125, 0.1875, 0.25, 0.3125, 0.375}, .alpha = alpha};
  const auto ja = recipe.allocator(m, opt);
  std::printf("MiniMax-M2.7-shaped from the shipped model's probe: %zu Linears, %.1f B parameters; "
              "α = %.4g (fitted %.4g on the shipped model / saliency mass ratio %.1f)\n",
              m.stats.linears.size(), static_cast<double>(ja.total_params()) / 1e9, alpha, alpha_fit,
              mass_full / mass_shipped);
  std::vector<pa::allocation_result> rows;
  for (double t = 3.10; t < 3.6 + 1e-9; t += 0.05) rows.push_back(ja.solve_bits(std::round(t * 100) / 100));
  const int knee = pa::pareto_knee(rows);
  for (const auto& r : rows)
    if (r.feasible) opt.loader.validate(m.model, r.layer_formats, "allocation");  // vLLM loads every row
  if (!print_pareto(m.model, rows, knee)) return 1;
  for (const auto& r : rows)
    if (r.feasible && std::abs(r.target_bits - 3.2) < 1e-9)
      std::printf("\nat 3.20 bits: %d of %d experts kept per layer, %.1f GB (the seed artifact: 176 of 256, 90 GB)\n",
                  kExperts - r.experts_dropped_per_layer, kExperts, static_cast<double>(r.sol.total_bytes) / 1e9);
  return knee >= 0 ? 0 : 1;
}
