// Example 01: the cost of one MiniMax-M2.7-shaped layer under the seed formats.
//
// A MiniMax-M2.7 layer holds attention q [6144, 3072], k and v [1024, 3072], o [3072, 6144]
// and 256 experts, each w1/w3 [1536, 3072] and w2 [3072, 1536]. This example builds random
// bf16 weights of realistic scale (N(0, 0.02) with a heavy tail) for the attention and FOUR
// experts (so it runs in seconds on a laptop), runs the fused cost pass — one read of each
// weight for all formats at once — and prints, per format, the weight MSE over the layer,
// the largest error and the bits per parameter.
//
// How to add a statistic: the request is a compile-time list, e.g.
//   using req = pq::cost::request<pq::cost::stat::sse, pq::cost::stat::row_sse,
//                                 pq::cost::stat::act_sse, pq::cost::stat::max_abs>;
// (act_sse needs a per-input-column vector, job::act). A new statistic kind is a new tag in
// cost/request.hpp plus one `if constexpr` accumulation line in cost/chunk.hpp (scalar and
// CUDA) and cost/simd_chunk.hpp (CPU SIMD).
// How to add a format: write a type that models formats::scalar_format (name, block_rows/
// block_cols, prepare, block_scale, quantize, dequantize; docs/formats.md) and put it in the
// format_list below. It works in the fused pass unchanged (its element round trip runs lane by
// lane); for full SIMD speed, specialise cost::simd::simd_round_trip<YourFormat> (cost/simd.hpp)
// and add it to tests/test_cost_simd.cpp, which checks it bit for bit against your scalar code.
#include <prismaquant/cost/engine.hpp>
#include <prismaquant/formats/list.hpp>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;

int main() {
  using seed_formats = fm::format_list<fm::nvfp4, fm::mxfp8_e4m3, fm::fp8_source, fm::bf16_passthrough>;
  using req = pq::cost::request<pq::cost::stat::sse, pq::cost::stat::max_abs>;

  struct linear {
    std::string name;
    std::int64_t rows, cols;
    int group = -1;  // fused siblings (vLLM serves q/k/v and each expert's w1/w3 as one Linear)
  };
  std::vector<linear> layer = {{"self_attn.q_proj", 6144, 3072, 0},
                               {"self_attn.k_proj", 1024, 3072, 0},
                               {"self_attn.v_proj", 1024, 3072, 0},
                               {"self_attn.o_proj", 3072, 6144}};
  const int experts = 4;  // of 256
  for (int e = 0; e < experts; ++e)
    for (const char* p : {"w1", "w3"})
      layer.push_back({"block_sparse_moe.experts." + std::to_string(e) + "." + p, 1536, 3072, 1 + e});
  for (int e = 0; e < experts; ++e) layer.push_back({"block_sparse_moe.experts." + std::to_string(e) + ".w2", 3072, 1536});

  std::mt19937 rng(2026);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::uniform_int_distribution<int> tail(0, 999);
  std::vector<std::vector<pq::bf16>> data;
  std::vector<pq::cost::job> jobs;
  std::int64_t params = 0;
  for (const auto& l : layer) {
    std::vector<pq::bf16> w(static_cast<std::size_t>(l.rows * l.cols));
    for (auto& x : w) x = pq::bf16::from_float(nd(rng) * (tail(rng) == 0 ? 12.0f : 1.0f));
    data.push_back(std::move(w));
    params += l.rows * l.cols;
  }
  for (std::size_t i = 0; i < layer.size(); ++i)
    // A group shares one NVFP4 global scale (the max amax of its members), as the checkpoint will.
    jobs.push_back({fm::weight_view(data[i].data(), layer[i].rows, layer[i].cols, layer[i].name), nullptr,
                    std::nullopt, layer[i].group});

  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<pq::cost::tensor_cost> costs = pq::cost::evaluate<seed_formats, req>(std::span<const pq::cost::job>(jobs));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::printf("MiniMax-M2.7-shaped layer (attention + %d of 256 experts): %zu Linears, %.1f M params, bf16\n",
              experts, layer.size(), static_cast<double>(params) / 1e6);
  std::printf("fused cost pass: %.2f s, %.2f GB/s of bf16 weight, %zu formats at once\n\n", secs,
              2.0 * static_cast<double>(params) / secs / 1e9, seed_formats::size);
  std::printf("%-12s %14s %14s %10s\n", "format", "weight MSE", "max |error|", "bits/param");
  std::size_t i = 0;
  int failures = 0;
  seed_formats::for_each([&]<class F>() {
    double sse = 0.0, bytes = 0.0;
    float mx = 0.0f;
    for (std::size_t t = 0; t < layer.size(); ++t) {
      sse += costs[t].formats[i].sse;
      mx = std::max(mx, costs[t].formats[i].max_abs);
      bytes += static_cast<double>(F::storage_bytes(layer[t].rows, layer[t].cols));
    }
    const double mse = sse / static_cast<double>(params);
    std::printf("%-12s %14.4e %14.4e %10.3f\n", std::string(F::name).c_str(), mse, static_cast<double>(mx),
                8.0 * bytes / static_cast<double>(params));
    // Sanity (this example is also a test): BF16 is exact on a bf16 source; NVFP4 is the
    // coarsest of the four.
    if (F::name == "BF16" && sse != 0.0) ++failures;
    if (F::name == "NVFP4" && !(mse > costs[0].formats[1].mse())) ++failures;
    ++i;
  });
  return failures == 0 ? 0 : 1;
}
