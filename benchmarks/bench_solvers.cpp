// Solver benchmarks:
//  * the MiniMax-M2.7 per-Linear instance (62 × (256×3 + 4) = 47,864 Linears × NVFP4 /
//    MXFP8_E4M3 / BF16, the real shapes, Δloss = 0.5·H_trace·MSE with H_trace and MSE
//    log-normal over several orders of magnitude) at 8 bit targets: exact (cold = including
//    the convex form, warm = convex form shared across the sweep), hull greedy, and the
//    reference's binned DP; counters: the exact solver's certified gap, the root (LP) gap,
//    core size, and each solver's excess Δloss over the exact optimum;
//  * the joint MiniMax problem (62 MoE-layer items × 6 prune ratios × 4 formats + 124
//    attention items) swept over 8 targets, and the global-ratio sweep (8 targets × 6 ratios);
//  * scaling: 10^2..10^6 items × 3..24 candidates (random, realistically shaped);
//  * ceiling: one pass over the flat problem (Σ of each item's smallest candidate), the
//    least work any solver does, in items/s.
// PQ_BENCH_SMOKE=1 registers tiny sizes only.
#include <prismaquant/solvers/registry.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace pqs = prismaquant::solvers;

namespace {

bool smoke() {
  const char* e = std::getenv("PQ_BENCH_SMOKE");
  return e && std::string(e) == "1";
}

std::int64_t nvfp4_bytes(std::int64_t n) { return n / 2 + n / 16 + 4; }  // e2m1 + e4m3 per 16 + fp32 global
std::int64_t mxfp8_bytes(std::int64_t n) { return n + n / 32; }         // e4m3 + e8m0 per 32
std::int64_t bf16_bytes(std::int64_t n) { return 2 * n; }
std::int64_t fp8_block_bytes(std::int64_t rows, std::int64_t cols) {   // source FP8, 128×128 f32 scales
  return rows * cols + ((rows + 127) / 128) * ((cols + 127) / 128) * 4;
}

struct shape {
  std::int64_t rows, cols;
};
constexpr shape q_shape{6144, 3072}, kv_shape{1024, 3072}, o_shape{3072, 6144}, w13_shape{1536, 3072},
    w2_shape{3072, 1536};

// Per-Linear sensitivity: layer trend × log-normal spread; experts add routing frequency.
struct sensitivity_model {
  std::mt19937_64 rng;
  std::normal_distribution<double> z{0.0, 1.0};
  explicit sensitivity_model(std::uint64_t seed) : rng(seed) {}
  double h_trace(int layer, bool expert) {
    const double trend = (layer < 3 || layer > 58) ? 1.0 : 0.0;  // first/last layers matter more
    return std::pow(10.0, -2.0 + trend + 0.8 * z(rng) + (expert ? 1.0 * z(rng) - 1.0 : 0.0));
  }
  double mse(double base) { return base * std::exp(0.25 * z(rng)); }
};

// dloss of NVFP4 / MXFP8 for a Linear with sensitivity h (weights ~ N(0, 0.02²)).
void linear_dloss(sensitivity_model& m, double h, double& d4, double& d8) {
  const double var_w = 4e-4 * std::exp(0.3 * m.z(m.rng));
  d4 = 0.5 * h * m.mse(var_w * 1.0e-2);
  d8 = 0.5 * h * m.mse(var_w * 6.0e-5);
}

pqs::flat_problem minimax_per_linear(int layers = 62, int experts = 256) {
  pqs::flat_problem f;
  sensitivity_model m(20240601);
  auto add = [&](shape s, int layer, bool expert) {
    const std::int64_t n = s.rows * s.cols;
    double d4, d8;
    linear_dloss(m, m.h_trace(layer, expert), d4, d8);
    f.add_item(n);
    f.add_candidate(nvfp4_bytes(n), d4);
    f.add_candidate(mxfp8_bytes(n), d8);
    f.add_candidate(bf16_bytes(n), 0.0);  // the FP8 source dequantised to BF16 is exact
  };
  for (int l = 0; l < layers; ++l) {
    add(q_shape, l, false);
    add(kv_shape, l, false);
    add(kv_shape, l, false);
    add(o_shape, l, false);
    for (int e = 0; e < experts; ++e) {
      add(w13_shape, l, true);
      add(w2_shape, l, true);
      add(w13_shape, l, true);
    }
  }
  return f;
}

const std::vector<double> kTargets{4.6, 4.75, 5.0, 5.25, 5.5, 6.0, 7.0, 8.25};
const std::vector<double> kRatios{0.0, 0.125, 0.1875, 0.25, 0.3125, 0.375};

std::int64_t budget_for_bits(const pqs::flat_problem& f, double bits) {
  return static_cast<std::int64_t>(std::floor(static_cast<long double>(bits) * f.total_params() / 8.0L));
}

// Joint problem: per MoE layer one item whose candidates are (ratio, format); ratio subset
// selects which ratios are offered (all: the joint problem; one: a global-ratio solve).
pqs::flat_problem minimax_joint(const std::vector<double>& ratios, int layers = 62, int experts = 256) {
  pqs::flat_problem f;
  sensitivity_model m(777);
  const double alpha = 0.15;
  const std::int64_t n_exp = 3 * w13_shape.rows * w13_shape.cols;
  for (int l = 0; l < layers; ++l) {
    // attention: fused qkv item and o
    for (int part = 0; part < 2; ++part) {
      const std::int64_t n = part == 0 ? q_shape.rows * q_shape.cols + 2 * kv_shape.rows * kv_shape.cols
                                       : o_shape.rows * o_shape.cols;
      double d4, d8;
      linear_dloss(m, m.h_trace(l, false), d4, d8);
      f.add_item(n);
      f.add_candidate(nvfp4_bytes(n), d4);
      f.add_candidate(mxfp8_bytes(n), d8);
      f.add_candidate(part == 0 ? fp8_block_bytes(6144 + 2048, 3072) : fp8_block_bytes(3072, 6144), 0.0);
      f.add_candidate(bf16_bytes(n), 0.0);
    }
    // experts: per-expert quant Δloss per format, saliency; drop the lowest-saliency ones
    std::vector<double> d4(experts), d8(experts), sal(experts);
    for (int e = 0; e < experts; ++e) {
      double a4, a8, b4, b8, c4, c8;
      const double h = m.h_trace(l, true);
      linear_dloss(m, h, a4, a8);
      linear_dloss(m, h, b4, b8);
      linear_dloss(m, h, c4, c8);
      d4[e] = a4 + b4 + c4;
      d8[e] = a8 + b8 + c8;
      sal[e] = std::pow(10.0, -3.0 + 0.7 * m.z(m.rng));
    }
    std::vector<int> order(experts);
    for (int e = 0; e < experts; ++e) order[e] = e;
    std::sort(order.begin(), order.end(), [&](int x, int y) { return sal[x] < sal[y]; });
    f.add_item(n_exp * experts);
    for (double r : ratios) {
      const int drop = static_cast<int>(std::floor(r * experts));
      double q4 = 0, q8 = 0, pruned = 0;
      for (int k = 0; k < experts; ++k) {
        const int e = order[k];
        if (k < drop) pruned += alpha * sal[e];
        else q4 += d4[e], q8 += d8[e];
      }
      const std::int64_t kept = experts - drop;
      f.add_candidate(kept * 3 * nvfp4_bytes(n_exp / 3), q4 + pruned);
      f.add_candidate(kept * 3 * mxfp8_bytes(n_exp / 3), q8 + pruned);
      f.add_candidate(kept * (2 * fp8_block_bytes(1536, 3072) + fp8_block_bytes(3072, 1536)), pruned);
      f.add_candidate(kept * 3 * bf16_bytes(n_exp / 3), pruned);
    }
  }
  return f;
}

// Random, realistically shaped: sizes log-uniform over 3 decades, k formats at increasing
// bits with Δloss falling roughly geometrically, plus noise (so hulls are not trivial).
pqs::flat_problem random_problem(std::int64_t items, int cands, std::uint64_t seed) {
  pqs::flat_problem f;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  f.offset.reserve(items + 1);
  f.bytes.reserve(items * cands);
  f.dloss.reserve(items * cands);
  for (std::int64_t i = 0; i < items; ++i) {
    const auto n = static_cast<std::int64_t>(std::pow(10.0, 6.0 + 3.0 * u(rng))) / 256 * 256;
    const double h = std::pow(10.0, -3.0 + 1.5 * z(rng));
    f.add_item(n);
    for (int c = 0; c < cands; ++c) {
      const double bits = 3.0 + 13.0 * c / std::max(1, cands - 1) + 0.2 * u(rng);
      f.add_candidate(static_cast<std::int64_t>(bits * n / 8), h * std::pow(2.0, -1.6 * bits) * std::exp(0.3 * z(rng)));
    }
  }
  return f;
}

struct cached {
  pqs::flat_problem f;
  std::unique_ptr<pqs::convex_form> cf;
  std::map<std::int64_t, double> exact_opt;  // budget -> exact optimum
};
cached& per_linear() {
  static cached c = [] {
    cached x;
    x.f = smoke() ? minimax_per_linear(2, 16) : minimax_per_linear();
    x.cf = std::make_unique<pqs::convex_form>(x.f);
    return x;
  }();
  return c;
}
double exact_optimum(cached& c, std::int64_t budget) {
  auto it = c.exact_opt.find(budget);
  if (it != c.exact_opt.end()) return it->second;
  auto s = pqs::solve_exact_prepared(c.f, *c.cf, budget, {});
  return c.exact_opt[budget] = s.dloss;
}

void report(benchmark::State& st, const pqs::flat_problem& f, const pqs::solution& s, double opt) {
  st.counters["items/s"] = benchmark::Counter(static_cast<double>(f.items()), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["gap"] = s.gap;
  st.counters["root_gap"] = (s.dloss - s.root_bound) / std::max(std::fabs(s.dloss), 1e-300);
  st.counters["core"] = static_cast<double>(s.core_items);
  st.counters["excess_vs_exact"] = opt > 0 ? (s.dloss - opt) / opt : 0.0;
  st.counters["achieved_bits"] = s.achieved_bits;
}

void BM_per_linear(benchmark::State& st, std::string solver, double bits) {
  auto& c = per_linear();
  const auto budget = budget_for_bits(c.f, bits);
  pqs::solution s;
  for (auto _ : st) {
    if (solver == "exact_warm") s = pqs::solve_exact_prepared(c.f, *c.cf, budget, {});
    else if (solver == "hull_greedy_warm") s = pqs::solve_hull_greedy_prepared(c.f, *c.cf, budget, {});
    else s = pqs::solve_by_name(solver, c.f, budget);
    benchmark::DoNotOptimize(s.total_bytes);
  }
  if (s.total_bytes > budget) st.SkipWithError("over budget");
  report(st, c.f, s, exact_optimum(c, budget));
  st.counters["slack_bytes"] = static_cast<double>(budget - s.total_bytes);
  if (solver == "reference_dp") st.counters["iterations"] = s.iterations;
}

void BM_joint_sweep(benchmark::State& st, bool warm) {
  static const pqs::flat_problem f = smoke() ? minimax_joint(kRatios, 2, 16) : minimax_joint(kRatios);
  static const pqs::convex_form cf(f);
  double worst_gap = 0;
  for (auto _ : st) {
    std::unique_ptr<pqs::convex_form> cold;
    if (!warm) cold = std::make_unique<pqs::convex_form>(f);
    for (double b : kTargets) {
      const auto budget = budget_for_bits(f, b);
      if (budget < pqs::min_total_bytes(f)) continue;
      auto s = pqs::solve_exact_prepared(f, warm ? cf : *cold, budget, {});
      worst_gap = std::max(worst_gap, s.gap);
      benchmark::DoNotOptimize(s.total_bytes);
    }
  }
  st.counters["targets"] = static_cast<double>(kTargets.size());
  st.counters["items"] = static_cast<double>(f.items());
  st.counters["worst_gap"] = worst_gap;
}

// 8 targets × 6 global prune ratios: one problem per ratio (4 candidates per MoE item).
void BM_ratio_sweep(benchmark::State& st) {
  static const std::vector<pqs::flat_problem> probs = [] {
    std::vector<pqs::flat_problem> v;
    for (double r : kRatios) v.push_back(smoke() ? minimax_joint({r}, 2, 16) : minimax_joint({r}));
    return v;
  }();
  double worst_gap = 0;
  int solves = 0;
  for (auto _ : st) {
    solves = 0;
    for (auto& f : probs) {
      pqs::convex_form cf(f);
      for (double b : kTargets) {
        const auto budget = budget_for_bits(f, b);
        if (budget < pqs::min_total_bytes(f)) continue;
        auto s = pqs::solve_exact_prepared(f, cf, budget, {});
        worst_gap = std::max(worst_gap, s.gap);
        ++solves;
        benchmark::DoNotOptimize(s.total_bytes);
      }
    }
  }
  st.counters["solves"] = solves;
  st.counters["worst_gap"] = worst_gap;
}

void BM_scaling(benchmark::State& st, std::string solver) {
  const auto items = st.range(0);
  const int cands = static_cast<int>(st.range(1));
  const auto f = random_problem(items, cands, 42 + items + cands);
  // a mid-range target: 40% of the way from the smallest to the largest size
  std::int64_t lo = pqs::min_total_bytes(f), hi = 0;
  for (std::size_t i = 0; i < f.items(); ++i) hi += f.bytes[f.offset[i + 1] - 1];
  const std::int64_t budget = lo + (hi - lo) * 2 / 5;
  pqs::solution s;
  // Random sizes are all distinct, so the exact core search cannot merge states; cap it at
  // 2 M states so the sweep stays short. Where it stops, status is "feasible" and `gap` is
  // the certified gap it reached (counter optimal = 0).
  pqs::solve_options o;
  o.max_states = 2'000'000;
  for (auto _ : st) {
    s = pqs::solve_by_name(solver, f, budget, o);
    benchmark::DoNotOptimize(s.total_bytes);
  }
  st.counters["items/s"] = benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["gap"] = s.gap;
  st.counters["root_gap"] = (s.dloss - s.root_bound) / std::max(std::fabs(s.dloss), 1e-300);
  st.counters["core"] = static_cast<double>(s.core_items);
  st.counters["optimal"] = s.status == pqs::solve_status::optimal ? 1 : 0;
}

// Ceiling: one pass over the candidates (the least any solver must read).
void BM_ceiling_scan(benchmark::State& st) {
  const auto f = random_problem(st.range(0), static_cast<int>(st.range(1)), 7);
  for (auto _ : st) benchmark::DoNotOptimize(pqs::min_total_bytes(f));
  st.counters["items/s"] = benchmark::Counter(static_cast<double>(f.items()), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  const bool sm = smoke();
  for (double b : kTargets) {
    const std::string t = std::to_string(b).substr(0, 4);
    for (std::string s : {"exact", "exact_warm", "hull_greedy", "hull_greedy_warm"})
      benchmark::RegisterBenchmark(("per_linear_47864x3/" + s + "/bits:" + t).c_str(), BM_per_linear, s, b)
          ->Unit(benchmark::kMillisecond);
  }
  for (double b : sm ? std::vector<double>{5.0} : std::vector<double>{4.75, 5.5, 7.0})
    benchmark::RegisterBenchmark(("per_linear_47864x3/reference_dp/bits:" + std::to_string(b).substr(0, 4)).c_str(),
                                 BM_per_linear, std::string("reference_dp"), b)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  benchmark::RegisterBenchmark("joint_sweep_8_targets/cold", BM_joint_sweep, false)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("joint_sweep_8_targets/warm", BM_joint_sweep, true)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("ratio_sweep_8_targets_x_6_ratios", BM_ratio_sweep)->Unit(benchmark::kMillisecond);
  const std::vector<std::int64_t> sizes = sm ? std::vector<std::int64_t>{100} : std::vector<std::int64_t>{100, 1000, 10000, 100000, 1000000};
  const std::vector<std::int64_t> cands = sm ? std::vector<std::int64_t>{3} : std::vector<std::int64_t>{3, 8, 24};
  for (std::string s : {"exact", "hull_greedy"})
    for (auto n : sizes)
      for (auto k : cands)
        benchmark::RegisterBenchmark(("scaling/" + s).c_str(), BM_scaling, s)->Args({n, k})->Unit(benchmark::kMillisecond);
  for (auto n : sizes)
    for (auto k : cands) benchmark::RegisterBenchmark("ceiling_scan", BM_ceiling_scan)->Args({n, k})->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
