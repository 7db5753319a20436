// The CUDA cost pass (kernels/cost.cuh) against the scalar reference (cost/reference.hpp, the
// same reference the CPU pass is tested against in tests/test_cost_fused.cpp) on the same
// inputs: every built-in format at once, every input dtype, random and adversarial weights,
// several tensors batched into one launch. Sums within 2e-6 relative (float partial sums of
// 32 squares per thread and chunk, then double), max |error| within one float rounding.
// (The CPU SIMD engine is not included here: xsimd is host-only and nvcc does not compile it.)
// Exits 77 (skipped) without a GPU. Built by CMake for sm_90/sm_100; run by benchmarks/device/run.sh.
#include <kernels/cost.cuh>
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/formats/list.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;
namespace cost = prismaquant::cost;

namespace {

int failures = 0;
void expect(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    if (failures < 40) std::printf("FAIL: %s\n", what.c_str());
  }
}

struct host_weight {
  pq::dtype type;
  std::int64_t rows, cols;
  std::vector<std::uint8_t> bytes;
  std::vector<float> scale_inv;
};

host_weight make(pq::dtype type, std::int64_t rows, std::int64_t cols, bool adversarial, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::uniform_int_distribution<int> pick(0, 99);
  host_weight w{type, rows, cols, {}, {}};
  std::vector<float> v(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      float x = nd(rng);
      if (adversarial) {
        const int k = pick(rng);
        if (i % 7 == 3) x = 0.0f;
        else if (i % 7 == 5) x = 0.125f;
        else if ((j / 16) % 5 == 2) x = 0.0f;
        else if (k < 3) x *= 3000.0f;
        else if (k < 8) x *= 1e-30f;
      }
      v[static_cast<std::size_t>(i * cols + j)] = x;
    }
  if (type == pq::dtype::BF16 || type == pq::dtype::F16) {
    w.bytes.resize(v.size() * 2);
    for (std::size_t k = 0; k < v.size(); ++k) {
      const std::uint16_t b = static_cast<std::uint16_t>(type == pq::dtype::BF16 ? pq::bf16::from_float(v[k]).bits()
                                                                                 : pq::fp16::from_float(v[k]).bits());
      std::memcpy(&w.bytes[k * 2], &b, 2);
    }
  } else if (type == pq::dtype::F32) {
    w.bytes.resize(v.size() * 4);
    std::memcpy(w.bytes.data(), v.data(), w.bytes.size());
  } else {
    const std::int64_t sc = (cols + 127) / 128;
    w.scale_inv.assign(static_cast<std::size_t>(((rows + 127) / 128) * sc), 0.02f * 8.0f / 448.0f);
    w.bytes.resize(v.size());
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j)
        w.bytes[static_cast<std::size_t>(i * cols + j)] = static_cast<std::uint8_t>(
            pq::fp8_e4m3::from_float(v[static_cast<std::size_t>(i * cols + j)] /
                                     w.scale_inv[static_cast<std::size_t>((i / 128) * sc + j / 128)])
                .bits());
  }
  return w;
}

fm::weight_view host_view(const host_weight& w) {
  return fm::weight_view::from_bytes(w.bytes.data(), w.type, w.rows, w.cols, "w",
                                     w.scale_inv.empty() ? nullptr : w.scale_inv.data());
}

// w copied to the device (pointers appended to `owned`, freed by the caller), as a job.
pq::kernels::device_job upload(const host_weight& w, std::vector<void*>& owned) {
  void* d = nullptr;
  cudaMalloc(&d, w.bytes.size());
  cudaMemcpy(d, w.bytes.data(), w.bytes.size(), cudaMemcpyHostToDevice);
  owned.push_back(d);
  float* ds = nullptr;
  if (!w.scale_inv.empty()) {
    cudaMalloc(&ds, w.scale_inv.size() * 4);
    cudaMemcpy(ds, w.scale_inv.data(), w.scale_inv.size() * 4, cudaMemcpyHostToDevice);
    owned.push_back(ds);
  }
  pq::kernels::device_job j;
  j.weight = cost::to_plain(host_view(w));
  j.weight.data = d;
  j.weight.scale_inv = ds;
  return j;
}

}  // namespace

int main() {
  int n_dev = 0;
  if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s\n", prop.name);

  using fmts = fm::all_formats;
  const pq::dtype dtypes[] = {pq::dtype::BF16, pq::dtype::F16, pq::dtype::F32, pq::dtype::F8_E4M3};
  const std::int64_t shapes[][2] = {{64, 256}, {130, 384}, {5, 16}, {37, 3072}};
  unsigned seed = 100;
  for (auto dt : dtypes)
    for (bool adv : {false, true}) {
      std::vector<host_weight> hw;
      std::vector<void*> dptr;
      std::vector<pq::kernels::device_job> jobs;
      std::vector<float> act(3072);
      for (std::size_t k = 0; k < act.size(); ++k) act[k] = 0.5f + static_cast<float>(k % 17) * 0.25f;
      float* dact = nullptr;
      cudaMalloc(&dact, act.size() * 4);
      cudaMemcpy(dact, act.data(), act.size() * 4, cudaMemcpyHostToDevice);
      for (auto& sh : shapes) {
        bool legal = true;
        fmts::for_each([&]<class F>() {
          try {
            F::check_shape(sh[0], sh[1], "s");
          } catch (const pq::error&) {
            legal = false;
          }
        });
        if (!legal) continue;
        hw.push_back(make(dt, sh[0], sh[1], adv, ++seed));
      }
      for (auto& w : hw) {
        pq::kernels::device_job j = upload(w, dptr);
        j.act = dact;
        jobs.push_back(j);
      }
      const auto gpu = pq::kernels::evaluate_device<fmts, cost::all_stats>(jobs);
      for (std::size_t t = 0; t < hw.size(); ++t) {
        std::size_t f = 0;
        fmts::for_each([&]<class F>() {
          const cost::error_stats c =
              cost::reference_stats<F>(host_view(hw[t]), std::span<const float>(act.data(), hw[t].cols));
          const auto& g = gpu[t].formats[f++];
          const std::string what = std::string(pq::dtype_name(dt)) + (adv ? " adversarial " : " random ") +
                                   std::to_string(hw[t].rows) + "x" + std::to_string(hw[t].cols) + " " +
                                   std::string(F::name);
          auto close = [](double a, double b, double tol) { return std::fabs(a - b) <= tol * std::fabs(b) + 1e-30; };
          expect(g.format == F::name, what + " name");
          expect(close(g.sse, c.sum_sq, 2e-6), what + " sse gpu=" + std::to_string(g.sse) + " ref=" + std::to_string(c.sum_sq));
          expect(close(g.act_sse, c.weighted_sq, 2e-6), what + " act_sse");
          expect(close(g.max_abs, c.max_abs, 1e-7), what + " max_abs gpu=" + std::to_string(g.max_abs) +
                                                       " ref=" + std::to_string(c.max_abs));
          std::size_t bad = 0;
          for (std::size_t r = 0; r < c.row_sq.size(); ++r) bad += !close(g.row_sse[r], c.row_sq[r], 2e-6);
          expect(bad == 0 && g.row_sse.size() == c.row_sq.size(), what + " row_sse");
        });
      }
      for (void* p : dptr) cudaFree(p);
      cudaFree(dact);
    }
  {  // a job group (fused siblings) shares the merge of its members' stats, as on the CPU
    std::vector<host_weight> hw = {make(pq::dtype::BF16, 64, 256, false, 900), make(pq::dtype::BF16, 64, 256, true, 901)};
    std::vector<pq::kernels::device_job> jobs;
    std::vector<void*> dptr;
    for (auto& w : hw) {
      pq::kernels::device_job j = upload(w, dptr);
      j.group = 3;
      jobs.push_back(j);
    }
    const auto shared = fm::measure_group({host_view(hw[0]), host_view(hw[1])});
    const auto gpu = pq::kernels::evaluate_device<fm::format_list<fm::nvfp4>, cost::request<cost::stat::sse>>(jobs);
    for (std::size_t t = 0; t < hw.size(); ++t) {
      const double ref = cost::reference_stats<fm::nvfp4>(host_view(hw[t]), shared).sum_sq;
      expect(std::fabs(gpu[t].formats[0].sse - ref) <= 2e-6 * ref + 1e-30,
             "group member " + std::to_string(t) + " sse gpu=" + std::to_string(gpu[t].formats[0].sse) +
                 " ref=" + std::to_string(ref));
    }
    for (void* p : dptr) cudaFree(p);
  }
  std::printf("%s: %d failures\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
