// Throughput of the fused cost pass (cost/engine.hpp) in GB/s of weight read, for 1, 4 and
// all formats at once, on MiniMax-M2.7 shapes, next to this machine's read bandwidth and a
// bare-loop baseline measured in the same binary:
//   read_ceiling    multi-threaded sum over the same bytes (the memory/L3 read bound)
//   bare_loop       the pass's skeleton with no format: row conversion to float + sum of squares
//   cost/1, /4, /all  NVFP4 | NVFP4+MXFP8_E4M3+FP8_SOURCE+BF16 | every built-in format
//   cost/each/<F>     one built-in format alone, on the first shape (where the all-formats
//                     time goes; the pass's fixed part is cost/each/BF16, exact on bf16)
// Counters: GB/s (mean over iterations) and best_GB/s (fastest iteration).
// Shapes: experts w1 [1536, 3072] bf16 — 8 experts here (MiniMax-M2.7 has 256 per layer; the
// per-byte rate does not depend on the count once the data exceeds the caches), attention
// q [6144, 3072], k/v [1024, 3072], o [3072, 6144]; plus FP8-source experts.
// PQ_BENCH_SMOKE=1: one tiny tensor per benchmark.
#include <prismaquant/cost/engine.hpp>
#include <prismaquant/formats/list.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;
namespace cost = prismaquant::cost;

namespace {

// The instruction set this binary's pass runs with (cost/simd_arch.hpp): the best one it is
// compiled for. scripts/bench-isa.sh builds one binary per x86-64 level.
using arch = cost::simd::default_arch;
static_assert(!std::is_same_v<arch, cost::simd::scalar>, "bench_cost needs an xsimd architecture");

bool smoke() {
  const char* s = std::getenv("PQ_BENCH_SMOKE");
  return s && std::string(s) == "1";
}

struct tensor_set {
  std::vector<std::vector<std::uint16_t>> bf16;
  std::vector<std::vector<std::uint8_t>> fp8;
  std::vector<std::vector<float>> scales;
  std::vector<cost::job> jobs;
  std::int64_t bytes = 0;
};

// n tensors [rows, cols] of N(0, 0.02) with a heavy tail, bf16 or fp8+128x128 scale_inv.
tensor_set make_set(int n, std::int64_t rows, std::int64_t cols, bool fp8) {
  tensor_set s;
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (int t = 0; t < n; ++t) {
    if (fp8) {
      std::vector<std::uint8_t> d(static_cast<std::size_t>(rows * cols));
      for (auto& b : d) b = static_cast<std::uint8_t>(pq::fp8_e4m3::from_float(nd(rng) * 448.0f / 0.1f).bits());
      s.fp8.push_back(std::move(d));
      s.scales.emplace_back(static_cast<std::size_t>(((rows + 127) / 128) * ((cols + 127) / 128)), 0.1f / 448.0f);
    } else {
      std::vector<std::uint16_t> d(static_cast<std::size_t>(rows * cols));
      for (auto& b : d) b = static_cast<std::uint16_t>(pq::bf16::from_float(nd(rng)).bits());
      s.bf16.push_back(std::move(d));
    }
  }
  for (int t = 0; t < n; ++t) {
    fm::weight_view v = fp8 ? fm::weight_view::from_bytes(s.fp8[t].data(), pq::dtype::F8_E4M3, rows, cols, "expert",
                                                          s.scales[t].data())
                            : fm::weight_view::from_bytes(s.bf16[t].data(), pq::dtype::BF16, rows, cols, "w");
    s.jobs.push_back({v, nullptr, std::nullopt});
    s.bytes += rows * cols * (fp8 ? 1 : 2);
  }
  return s;
}

struct shape_spec {
  const char* name;
  int n;
  std::int64_t rows, cols;
  bool fp8;
};
std::vector<shape_spec> shapes() {
  if (smoke()) return {{"tiny", 1, 64, 256, false}};
  return {{"experts8_w1_1536x3072_bf16", 8, 1536, 3072, false},
          {"attn_q_6144x3072_bf16", 1, 6144, 3072, false},
          {"attn_kv_1024x3072_bf16", 2, 1024, 3072, false},
          {"attn_o_3072x6144_bf16", 1, 3072, 6144, false},
          {"experts8_w1_1536x3072_fp8", 8, 1536, 3072, true}};
}

tensor_set& cached(const shape_spec& sp) {
  static std::vector<std::pair<std::string, tensor_set>> cache;
  for (auto& [k, v] : cache)
    if (k == sp.name) return v;
  cache.emplace_back(sp.name, make_set(sp.n, sp.rows, sp.cols, sp.fp8));
  return cache.back().second;
}

// Runs body once per iteration and reports GB/s (mean over the iterations) and best_GB/s (the
// fastest iteration): on a shared or virtualised machine the slower iterations measure the
// neighbours as much as the code, so compare best_GB/s between benchmarks of one run.
template <class Body>
void timed(benchmark::State& st, std::int64_t bytes, Body&& body) {
  double best = 1e300;
  for (auto _ : st) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  st.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(st.iterations()) / 1e9,
                                           benchmark::Counter::kIsRate);
  st.counters["best_GB/s"] = static_cast<double>(bytes) / 1e9 / best;
}

// Read ceiling: every thread of the pool sums its share of the bytes as 64-bit words.
void read_ceiling(benchmark::State& st, shape_spec sp) {
  tensor_set& s = cached(sp);
  cost::thread_pool& pool = cost::thread_pool::shared();
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(s.jobs.size()) * 64);
  timed(st, s.bytes, [&] {
    for (std::size_t t = 0; t < s.jobs.size(); ++t) {
      const auto* p = static_cast<const std::uint64_t*>(s.jobs[t].weight.data);
      const std::int64_t words = s.jobs[t].weight.size() * (sp.fp8 ? 1 : 2) / 8;
      const std::int64_t parts = 64;
      pool.parallel_for(parts, [&](std::int64_t k) {
        std::uint64_t a = 0, b = 0, c = 0, d = 0;
        const std::int64_t w0 = words * k / parts, w1 = words * (k + 1) / parts;
        std::int64_t i = w0;
        for (; i + 4 <= w1; i += 4) {
          a += p[i];
          b += p[i + 1];
          c += p[i + 2];
          d += p[i + 3];
        }
        for (; i < w1; ++i) a += p[i];
        sums[t * 64 + static_cast<std::size_t>(k)] = a + b + c + d;
      });
    }
    benchmark::DoNotOptimize(sums.data());
  });
}

// Bare loop: the pass's row conversion and a sum of squares, no quantization.
void bare_loop(benchmark::State& st, shape_spec sp) {
  tensor_set& s = cached(sp);
  cost::thread_pool& pool = cost::thread_pool::shared();
  timed(st, s.bytes, [&] {
    for (const auto& jb : s.jobs) {
      const cost::plain_weight w = cost::to_plain(jb.weight);
      std::vector<double> out(static_cast<std::size_t>((w.rows + 15) / 16));
      pool.parallel_for(static_cast<std::int64_t>(out.size()), [&](std::int64_t t) {
        std::vector<float> buf(static_cast<std::size_t>(w.cols));
        using vf = cost::simd::vf<arch>;
        constexpr int W = cost::simd::width_of<arch>;
        vf acc(0.0f);
        for (std::int64_t r = t * 16; r < std::min(w.rows, t * 16 + 16); ++r) {
          const float* x = cost::detail::load_row<arch>(w, r, buf.data());
          for (std::int64_t j = 0; j + W <= w.cols; j += W) {
            const auto v = vf::load_unaligned(x + j);
            acc = acc + v * v;
          }
        }
        out[static_cast<std::size_t>(t)] = xsimd::hadd(acc);
      });
      benchmark::DoNotOptimize(out.data());
    }
  });
}

template <class Fmts>
void cost_pass(benchmark::State& st, shape_spec sp) {
  tensor_set& s = cached(sp);
  timed(st, s.bytes, [&] {
    auto r = cost::evaluate<Fmts, cost::request<cost::stat::sse, cost::stat::max_abs>>(
        std::span<const cost::job>(s.jobs));
    benchmark::DoNotOptimize(r.data());
  });
}

using one = fm::format_list<fm::nvfp4>;
using four = fm::format_list<fm::nvfp4, fm::mxfp8_e4m3, fm::fp8_source, fm::bf16_passthrough>;

// One benchmark per built-in format alone (cost/each/<FORMAT>/...): where the all-formats time goes.
template <class... F>
void register_each(fm::format_list<F...>, const shape_spec& sp) {
  (benchmark::RegisterBenchmark(("cost/each/" + std::string(F::name) + "/" + sp.name).c_str(),
                                cost_pass<fm::format_list<F>>, sp)
       ->UseRealTime()
       ->Unit(benchmark::kMillisecond),
   ...);
}

const int registered = [] {
  benchmark::AddCustomContext("isa", cost::simd::level_name<arch>());
  register_each(fm::all_formats{}, shapes().front());
  for (const auto& sp : shapes()) {
    const std::string n = sp.name;
    benchmark::RegisterBenchmark(("read_ceiling/" + n).c_str(), read_ceiling, sp)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("bare_loop/" + n).c_str(), bare_loop, sp)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("cost/1_NVFP4/" + n).c_str(), cost_pass<one>, sp)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("cost/4_seed/" + n).c_str(), cost_pass<four>, sp)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("cost/all_" + std::to_string(fm::all_formats::size) + "/" + n).c_str(),
                                 cost_pass<fm::all_formats>, sp)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
