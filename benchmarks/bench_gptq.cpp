// GPTQ on one MiniMax-M2.7 expert shape: w1 [1536, 3072] with a 3072² Hessian (NVFP4A16,
// static activation order, block 128, float32 — llm-compressor's settings), next to the same
// algorithm in PyTorch (benchmarks/gptq_torch.py runs llm-compressor's quantize_weight on the
// same shape; docs/export.md has both numbers).
//   BM_gptq_expert      the whole quantize (scales, order, factor, column loop)
//   BM_gptq_factor      the inverse Cholesky factor alone (one Cholesky + triangular inverse)
//   BM_sgemm_ceiling    one OpenBLAS sgemm of the same flop count as the factor + block updates:
//                       the time the dense algebra of GPTQ needs at the machine's GEMM rate
// Counters: weights/s (items), GFLOP/s of the dense algebra. OpenBLAS uses PQ_BENCH_THREADS
// threads (default 2, the target machine's cores). PQ_BENCH_SMOKE=1: [64, 256] only.
#include <prismaquant/formats/nvfp4.hpp>
#include <prismaquant/rounding/gptq.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>

namespace pf = prismaquant::formats;
namespace pr = prismaquant::rounding;
namespace la = prismaquant::linalg;

namespace {

bool smoke() {
  const char* e = std::getenv("PQ_BENCH_SMOKE");
  return e && std::string(e) == "1";
}
int threads() {
  const char* e = std::getenv("PQ_BENCH_THREADS");
  return e ? std::atoi(e) : 2;
}

struct problem {
  pr::weight_matrix w;
  std::vector<float> h;
  pf::tensor_stats stats;
};

// Weights ~ N(0, 0.02²); inputs: 16 shared directions + noise, 4096 tokens; H = XᵀX.
const problem& make(std::int64_t rows, std::int64_t cols) {
  static std::map<std::pair<std::int64_t, std::int64_t>, problem> cache;
  auto it = cache.find({rows, cols});
  if (it != cache.end()) return it->second;
  problem p;
  std::mt19937 g(42);
  std::normal_distribution<float> n(0.0f, 1.0f);
  p.w.rows = rows;
  p.w.cols = cols;
  p.w.values.resize(static_cast<std::size_t>(rows * cols));
  for (auto& v : p.w.values) v = 0.02f * n(g);
  const std::int64_t tokens = 4096, k = 16;
  std::vector<float> a(static_cast<std::size_t>(cols * k)), z(static_cast<std::size_t>(tokens * k)),
      x(static_cast<std::size_t>(tokens * cols));
  for (auto& v : a) v = n(g);
  for (auto& v : z) v = n(g);
  for (auto& v : x) v = 0.3f * n(g);
  la::gemm(false, true, static_cast<int>(tokens), static_cast<int>(cols), static_cast<int>(k), 1.0f, z.data(),
           static_cast<int>(k), a.data(), static_cast<int>(k), 1.0f, x.data(), static_cast<int>(cols));
  p.h.resize(static_cast<std::size_t>(cols * cols));
  la::gemm(true, false, static_cast<int>(cols), static_cast<int>(cols), static_cast<int>(tokens), 1.0f, x.data(),
           static_cast<int>(cols), x.data(), static_cast<int>(cols), 0.0f, p.h.data(), static_cast<int>(cols));
  p.stats = pf::measure(p.w.view());
  return cache.emplace(std::pair{rows, cols}, std::move(p)).first->second;
}

// Dense flops: Cholesky n³/3 + triangular inverse n³/3 + block updates rows·n² (all blocks).
double dense_flops(std::int64_t rows, std::int64_t n) {
  const double N = static_cast<double>(n);
  return 2.0 * N * N * N / 3.0 + static_cast<double>(rows) * N * N;
}

void BM_gptq_expert(benchmark::State& st) {
  la::set_threads(threads());
  const auto rows = st.range(0), cols = st.range(1);
  const problem& p = make(rows, cols);
  const pr::calibration c{p.h.data(), cols};
  for (auto _ : st) {
    auto q = pr::gptq{}.quantize<pf::nvfp4a16>(p.w, p.stats, c);
    benchmark::DoNotOptimize(q.codes.data());
  }
  st.SetItemsProcessed(st.iterations() * rows * cols);
  st.counters["dense_GFLOP/s"] =
      benchmark::Counter(dense_flops(rows, cols) * 1e-9 * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
}

void BM_gptq_factor(benchmark::State& st) {
  la::set_threads(threads());
  const auto cols = st.range(1);
  const problem& p = make(st.range(0), cols);
  std::vector<float> h(p.h.size());
  for (auto _ : st) {
    st.PauseTiming();
    h = p.h;
    for (std::int64_t k = 0; k < cols; ++k) h[static_cast<std::size_t>(k * cols + k)] += 1.0f;
    st.ResumeTiming();
    benchmark::DoNotOptimize(pr::detail::inverse_cholesky_upper(h, cols));
  }
  const double n = static_cast<double>(cols);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n / 3.0 * 1e-9 * static_cast<double>(st.iterations()),
                                              benchmark::Counter::kIsRate);
}

// The ceiling: sgemm [rows+2n/3, n] x [n, n] has the dense algebra's flop count.
void BM_sgemm_ceiling(benchmark::State& st) {
  la::set_threads(threads());
  const auto rows = st.range(0), n = st.range(1);
  const std::int64_t m = rows + 2 * n / 3;
  std::vector<float> a(static_cast<std::size_t>(m * n), 0.5f), b(static_cast<std::size_t>(n * n), 0.25f),
      c(static_cast<std::size_t>(m * n));
  for (auto _ : st) {
    la::gemm(false, false, static_cast<int>(m), static_cast<int>(n), static_cast<int>(n), 1.0f, a.data(),
             static_cast<int>(n), b.data(), static_cast<int>(n), 0.0f, c.data(), static_cast<int>(n));
    benchmark::DoNotOptimize(c.data());
  }
  st.SetItemsProcessed(st.iterations() * rows * n);
  st.counters["dense_GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(n) * 1e-9 *
          static_cast<double>(st.iterations()),
      benchmark::Counter::kIsRate);
}

void shapes(benchmark::internal::Benchmark* b) {
  if (smoke()) b->Args({64, 256});
  else b->Args({1536, 3072});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_gptq_expert)->Apply(shapes);
BENCHMARK(BM_gptq_factor)->Apply(shapes);
BENCHMARK(BM_sgemm_ceiling)->Apply(shapes);
BENCHMARK_MAIN();
