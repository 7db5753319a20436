// GPU timing of the fused cost pass (kernels/cost.cuh) on MiniMax-M2.7 shapes, for 1, 4 and
// all formats, next to a measured device-to-device cudaMemcpy of the same bytes.
//   experts: 256 x w1 [1536, 3072] bf16 (one layer's w1), one launch for all 256
//   attention: q [6144, 3072], k, v [1024, 3072], o [3072, 6144] bf16, one launch
//   experts fp8: 256 x [1536, 3072] F8_E4M3 + 128x128 scale_inv (the checkpoint's own form)
// Times are wall time of evaluate_device (pre-pass + pass + reductions + result copies), median
// of 5 after one warm-up. GB/s counts weight bytes read once. Writes a table to stdout.
#include <kernels/cost.cuh>
#include <prismaquant/formats/list.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;
namespace cost = prismaquant::cost;

__device__ inline unsigned hash32(unsigned long long x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
  return static_cast<unsigned>(x);
}
// ~N(0, 0.02) (Irwin-Hall of 4 uniforms), as bf16 bits or as fp8 codes of x / (0.16/448)
__global__ void fill(void* p, long long n, bool fp8, unsigned seed) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float u = 0;
    for (int k = 0; k < 4; ++k) u += (hash32(i * 4 + k + (unsigned long long)seed * 0x9E3779B97F4A7C15ULL) >> 8) * (1.0f / 16777216.0f);
    const float x = (u - 2.0f) * 0.0346f;
    if (fp8) static_cast<unsigned char*>(p)[i] = (unsigned char)pq::fp8_e4m3::from_float(x / (0.16f / 448.0f)).bits();
    else static_cast<unsigned short*>(p)[i] = (unsigned short)pq::bf16::from_float(x).bits();
  }
}

struct set {
  std::string name;
  std::vector<pq::kernels::device_job> jobs;
  long long bytes = 0;
  void* base = nullptr;
};

set make(const std::string& name, int n, long long rows, long long cols, bool fp8, float** scales) {
  set s;
  s.name = name;
  const long long per = rows * cols * (fp8 ? 1 : 2);
  s.bytes = per * n;
  pq::kernels::detail::check(cudaMalloc(&s.base, s.bytes), "cudaMalloc weights");
  fill<<<1024, 256>>>(s.base, rows * cols * n, fp8, 7);
  const long long ns = ((rows + 127) / 128) * ((cols + 127) / 128);
  if (fp8 && *scales == nullptr) {
    std::vector<float> h(ns * 256, 0.16f / 448.0f);
    cudaMalloc(scales, h.size() * 4);
    cudaMemcpy(*scales, h.data(), h.size() * 4, cudaMemcpyHostToDevice);
  }
  for (int t = 0; t < n; ++t) {
    pq::kernels::device_job j;
    j.weight.data = static_cast<char*>(s.base) + per * t;
    j.weight.rows = rows;
    j.weight.cols = cols;
    j.weight.type = fp8 ? cost::weight_dtype::fp8_e4m3_block128 : cost::weight_dtype::bf16;
    j.weight.scale_inv = fp8 ? *scales + ns * t : nullptr;
    j.name = name;
    s.jobs.push_back(j);
  }
  return s;
}
void add(set& s, const std::string& name, long long rows, long long cols) {
  set t = make(name, 1, rows, cols, false, nullptr);
  s.jobs.push_back(t.jobs[0]);
  s.bytes += t.bytes;
}

template <class F>
double time_ms(F&& f) {
  f();
  cudaDeviceSynchronize();
  std::vector<double> v;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    cudaDeviceSynchronize();
    v.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(v.begin(), v.end());
  return v[2];
}

using req = cost::request<cost::stat::sse, cost::stat::max_abs>;
using one = fm::format_list<fm::nvfp4>;
using four = fm::format_list<fm::nvfp4, fm::mxfp8_e4m3, fm::fp8_source, fm::bf16_passthrough>;

int main() {
  int n_dev = 0;
  if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  float* scales = nullptr;
  std::vector<set> sets;
  sets.push_back(make("experts256_w1_1536x3072_bf16", 256, 1536, 3072, false, &scales));
  {
    set a = make("attn_q", 1, 6144, 3072, false, &scales);
    add(a, "attn_k", 1024, 3072);
    add(a, "attn_v", 1024, 3072);
    add(a, "attn_o", 3072, 6144);
    a.name = "attention_qkvo_bf16";
    sets.push_back(a);
  }
  sets.push_back(make("experts256_w1_1536x3072_fp8", 256, 1536, 3072, true, &scales));
  cudaDeviceSynchronize();

  std::printf("\n| tensors | MB | memcpy D2D GB/s (bytes/time; it also writes them) | 1 fmt GB/s | 4 fmt GB/s | all %zu GB/s |\n", fm::all_formats::size);
  std::printf("|---|---|---|---|---|---|\n");
  for (auto& s : sets) {
    void *src = nullptr, *dst = nullptr;  // the ceiling: a copy of the same number of bytes
    pq::kernels::detail::check(cudaMalloc(&src, s.bytes), "cudaMalloc");
    pq::kernels::detail::check(cudaMalloc(&dst, s.bytes), "cudaMalloc");
    const double copy = time_ms([&] { cudaMemcpy(dst, src, s.bytes, cudaMemcpyDeviceToDevice); });
    cudaFree(src);
    cudaFree(dst);
    const double t1 = time_ms([&] { pq::kernels::evaluate_device<one, req>(s.jobs); });
    const double t4 = time_ms([&] { pq::kernels::evaluate_device<four, req>(s.jobs); });
    const double ta = time_ms([&] { pq::kernels::evaluate_device<fm::all_formats, req>(s.jobs); });
    auto gbs = [&](double ms) { return s.bytes / ms / 1e6; };
    std::printf("| %s (%zu) | %.0f | %.0f | %.0f (%.2f ms) | %.0f (%.2f ms) | %.0f (%.2f ms) |\n", s.name.c_str(),
                s.jobs.size(), s.bytes / 1e6, gbs(copy), gbs(t1), t1, gbs(t4), t4, gbs(ta), ta);
  }
  return 0;
}
