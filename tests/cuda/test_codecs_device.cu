// The element codecs in device code: from_float, from_float_nonsaturating and to_float of
// every type run in a kernel and must equal the host results bit for bit; for the fp8/fp6/
// fp4 types the device results must also equal NVIDIA's conversions evaluated on the device
// (hardware cvt where the architecture has it). Exits 77 without a GPU.
#include <prismaquant/core/codecs.hpp>

#include <cuda_fp4.h>
#include <cuda_fp6.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace pq = prismaquant;

#define PQ_CUDA_CHECK(call)                                                              \
  do {                                                                                   \
    cudaError_t e_ = (call);                                                             \
    if (e_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(1);                                                                      \
    }                                                                                    \
  } while (0)

namespace {

// NVIDIA's own conversion on the device for the types it has a saturating RN form of;
// 0xFFFF where it has none (bf16/fp16 do not saturate, e8m0 has no RN).
template <class T>
__device__ unsigned nv_device(float x) {
  if constexpr (std::is_same_v<T, pq::fp8_e4m3>) return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3);
  else if constexpr (std::is_same_v<T, pq::fp8_e5m2>) return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2);
  else if constexpr (std::is_same_v<T, pq::fp6_e2m3>) return __nv_cvt_float_to_fp6(x, __NV_E2M3, cudaRoundNearest);
  else if constexpr (std::is_same_v<T, pq::fp6_e3m2>) return __nv_cvt_float_to_fp6(x, __NV_E3M2, cudaRoundNearest);
  else if constexpr (std::is_same_v<T, pq::fp4_e2m1>) return __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest);
  else return 0xFFFFu;
}

template <class T>
__global__ void encode(const float* x, unsigned* sat, unsigned* nonsat, unsigned* nv, std::size_t n) {
  for (std::size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    sat[i] = T::from_float(x[i]).bits();
    nonsat[i] = T::from_float_nonsaturating(x[i]).bits();
    nv[i] = nv_device<T>(x[i]);
  }
}

template <class T>
__global__ void decode(float* out, unsigned codes) {
  for (unsigned c = blockIdx.x * blockDim.x + threadIdx.x; c < codes; c += gridDim.x * blockDim.x)
    out[c] = T::from_bits(c).to_float();
}

std::uint32_t fbits(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

std::vector<float> inputs() {
  std::vector<float> in;
  std::uint64_t s = 0x5EED0003;  // splitmix64, fixed seed
  auto next = [&s] {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (int i = 0; i < 1'000'000; ++i) {  // random bit patterns, NaNs included
    std::uint32_t b = static_cast<std::uint32_t>(next());
    float f;
    std::memcpy(&f, &b, 4);
    in.push_back(f);
  }
  // Dense around the small types' ranges: every multiple of 2^-12 in [-80, 80] hits every
  // fp4/fp6/fp8 midpoint there exactly, plus random values in [-70000, 70000].
  for (int k = -80 * 4096; k <= 80 * 4096; ++k) in.push_back(static_cast<float>(k) * 0x1p-12f);
  for (int i = 0; i < 1'000'000; ++i)
    in.push_back(static_cast<float>((static_cast<double>(next() >> 11) * 0x1p-53 * 2 - 1) * 70000));
  return in;
}

template <class T>
int check_type(const char* name, const std::vector<float>& x, float* dx, unsigned* d_sat, unsigned* d_ns, unsigned* d_nv,
               float* d_dec) {
  const std::size_t n = x.size();
  encode<T><<<1024, 256>>>(dx, d_sat, d_ns, d_nv, n);
  PQ_CUDA_CHECK(cudaGetLastError());
  const unsigned codes = 1u << T::bit_width;
  decode<T><<<(codes + 255) / 256, 256>>>(d_dec, codes);
  PQ_CUDA_CHECK(cudaGetLastError());
  PQ_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<unsigned> sat(n), ns(n), nv(n);
  std::vector<float> dec(codes);
  PQ_CUDA_CHECK(cudaMemcpy(sat.data(), d_sat, n * sizeof(unsigned), cudaMemcpyDeviceToHost));
  PQ_CUDA_CHECK(cudaMemcpy(ns.data(), d_ns, n * sizeof(unsigned), cudaMemcpyDeviceToHost));
  PQ_CUDA_CHECK(cudaMemcpy(nv.data(), d_nv, n * sizeof(unsigned), cudaMemcpyDeviceToHost));
  PQ_CUDA_CHECK(cudaMemcpy(dec.data(), d_dec, codes * sizeof(float), cudaMemcpyDeviceToHost));
  std::size_t bad = 0, bad_nv = 0, nv_n = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned hs = T::from_float(x[i]).bits(), hn = T::from_float_nonsaturating(x[i]).bits();
    if (sat[i] != hs || ns[i] != hn) {
      if (bad++ < 5)
        std::fprintf(stderr, "%s x=%a: device sat 0x%x nonsat 0x%x, host 0x%x 0x%x\n", name, x[i], sat[i], ns[i], hs, hn);
    }
    // NaN input is left out here: PTX leaves some cvt NaN results to the hardware; the
    // host test pins our NaN codes to NVIDIA's host conversions.
    if (nv[i] != 0xFFFFu && x[i] == x[i]) {
      ++nv_n;
      if (nv[i] != sat[i] && bad_nv++ < 5)
        std::fprintf(stderr, "%s x=%a: device from_float 0x%x, NVIDIA on device 0x%x\n", name, x[i], sat[i], nv[i]);
    }
  }
  for (unsigned c = 0; c < codes; ++c) {
    const float h = T::from_bits(c).to_float();
    if (fbits(h) != fbits(dec[c]) && !(h != h && dec[c] != dec[c])) {
      if (bad++ < 10) std::fprintf(stderr, "%s code 0x%x: device %a host %a\n", name, c, dec[c], h);
    }
  }
  std::printf("%-9s %zu inputs + %u codes device vs host: %zu mismatches; %zu non-NaN inputs vs NVIDIA on device: %zu mismatches\n",
              name, n, codes, bad, nv_n, bad_nv);
  return bad + bad_nv ? 1 : 0;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  const auto x = inputs();
  const std::size_t n = x.size();
  float *dx = nullptr, *d_dec = nullptr;
  unsigned *d_sat = nullptr, *d_ns = nullptr, *d_nv = nullptr;
  PQ_CUDA_CHECK(cudaMalloc(&dx, n * sizeof(float)));
  PQ_CUDA_CHECK(cudaMalloc(&d_sat, n * sizeof(unsigned)));
  PQ_CUDA_CHECK(cudaMalloc(&d_ns, n * sizeof(unsigned)));
  PQ_CUDA_CHECK(cudaMalloc(&d_nv, n * sizeof(unsigned)));
  PQ_CUDA_CHECK(cudaMalloc(&d_dec, 65536 * sizeof(float)));
  PQ_CUDA_CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  int fails = 0;
  fails += check_type<pq::fp8_e4m3>("fp8_e4m3", x, dx, d_sat, d_ns, d_nv, d_dec);
  fails += check_type<pq::fp8_e5m2>("fp8_e5m2", x, dx, d_sat, d_ns, d_nv, d_dec);
  fails += check_type<pq::fp6_e2m3>("fp6_e2m3", x, dx, d_sat, d_ns, d_nv, d_dec);
  fails += check_type<pq::fp6_e3m2>("fp6_e3m2", x, dx, d_sat, d_ns, d_nv, d_dec);
  fails += check_type<pq::fp4_e2m1>("fp4_e2m1", x, dx, d_sat, d_ns, d_nv, d_dec);
  fails += check_type<pq::e8m0>("e8m0", x, dx, d_sat, d_ns, d_nv, d_dec);
  fails += check_type<pq::bf16>("bf16", x, dx, d_sat, d_ns, d_nv, d_dec);
  fails += check_type<pq::fp16>("fp16", x, dx, d_sat, d_ns, d_nv, d_dec);
  cudaFree(dx);
  cudaFree(d_sat);
  cudaFree(d_ns);
  cudaFree(d_nv);
  cudaFree(d_dec);
  std::printf(fails ? "FAILED\n" : "device codecs agree with host and NVIDIA\n");
  return fails ? 1 : 0;
}
