// Element codec throughput: T::from_float over a float32 array (one code per output
// element, 1 byte for the 4/6/8-bit types, 2 for bf16/fp16), and to_float back, next to
// two bare loops over the same array as ceilings: a float copy, and float -> top byte
// (the memory traffic of the 1-byte encoders without their arithmetic). Counters: items/s (elements)
// and bytes/s of float32 input. PQ_BENCH_SMOKE=1 registers only a tiny size.
#include <prismaquant/core/codecs.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace pq = prismaquant;

namespace {

// Kept out of line so the loops can be found in the disassembly (objdump -d | grep encode_array).
template <class T>
__attribute__((noinline)) void encode_array(const float* __restrict in, typename T::storage_type* __restrict out,
                                            std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<typename T::storage_type>(T::from_float(in[i]).bits());
}

template <class T>
__attribute__((noinline)) void decode_array(const typename T::storage_type* __restrict in, float* __restrict out,
                                            std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = T::from_bits(in[i]).to_float();
}

// Ceilings: the same loop shape with no conversion work. GCC would turn the copy into a
// memcpy call (slower than the vectorised loop at cache-resident sizes here), so ask it not to.
#if defined(__GNUC__) && !defined(__clang__)
#define PQ_PLAIN_LOOP __attribute__((noinline, optimize("no-tree-loop-distribute-patterns")))
#else
#define PQ_PLAIN_LOOP __attribute__((noinline))
#endif
PQ_PLAIN_LOOP void copy_array(const float* __restrict in, float* __restrict out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = in[i];
}
// float32 in, one byte out (the traffic of the 4/6/8-bit encoders): keep the top byte.
PQ_PLAIN_LOOP void narrow_array(const float* __restrict in, std::uint8_t* __restrict out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(pq::detail::bit_cast<std::uint32_t>(in[i]) >> 24);
}

// Values spread over the type's range (and 10% beyond it), both signs, fixed seed.
std::vector<float> inputs(std::size_t n, float max_finite) {
  std::mt19937 g(12345);
  std::uniform_real_distribution<float> u(-1.1f, 1.1f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(g) * max_finite;
  return v;
}

void set_counters(benchmark::State& st, std::size_t n) {
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * n));
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * n * sizeof(float)));
}

template <class T>
void bm_encode(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  auto in = inputs(n, T::max_finite() > 1e6f ? 1e6f : T::max_finite());
  if constexpr (std::is_same_v<T, pq::e8m0>)  // scales are positive
    for (auto& x : in) x = x < 0 ? -x : x;
  std::vector<typename T::storage_type> out(n);
  for (auto _ : st) {
    encode_array<T>(in.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, n);
}

template <class T>
void bm_decode(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  std::vector<typename T::storage_type> in(n);
  std::mt19937 g(7);
  for (auto& c : in) c = static_cast<typename T::storage_type>(g() & ((1u << T::bit_width) - 1));
  std::vector<float> out(n);
  for (auto _ : st) {
    decode_array<T>(in.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, n);
}

void bm_copy_ceiling(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const auto in = inputs(n, 1.0f);
  std::vector<float> out(n);
  for (auto _ : st) {
    copy_array(in.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, n);
}

void bm_narrow_ceiling(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  const auto in = inputs(n, 1.0f);
  std::vector<std::uint8_t> out(n);
  for (auto _ : st) {
    narrow_array(in.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, n);
}

template <class T>
void reg(const std::string& name, const std::vector<std::int64_t>& sizes) {
  for (auto n : sizes) {
    benchmark::RegisterBenchmark(("from_float/" + name).c_str(), bm_encode<T>)->Arg(n);
    benchmark::RegisterBenchmark(("to_float/" + name).c_str(), bm_decode<T>)->Arg(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* smoke = std::getenv("PQ_BENCH_SMOKE");
  // 64 Ki floats (256 KiB, cache-resident) and 16 Mi floats (64 MiB, from memory).
  const std::vector<std::int64_t> sizes =
      smoke && std::string(smoke) == "1" ? std::vector<std::int64_t>{1024} : std::vector<std::int64_t>{1 << 16, 1 << 24};
  for (auto n : sizes) {
    benchmark::RegisterBenchmark("ceiling_float_copy", bm_copy_ceiling)->Arg(n);
    benchmark::RegisterBenchmark("ceiling_float_to_byte", bm_narrow_ceiling)->Arg(n);
  }
  reg<pq::fp8_e4m3>("fp8_e4m3", sizes);
  reg<pq::fp8_e5m2>("fp8_e5m2", sizes);
  reg<pq::fp6_e2m3>("fp6_e2m3", sizes);
  reg<pq::fp6_e3m2>("fp6_e3m2", sizes);
  reg<pq::fp4_e2m1>("fp4_e2m1", sizes);
  reg<pq::e8m0>("e8m0", sizes);
  reg<pq::bf16>("bf16", sizes);
  reg<pq::fp16>("fp16", sizes);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
