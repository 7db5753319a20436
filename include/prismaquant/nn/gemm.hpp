#pragma once
// The one GEMM interface of the model engine. Every matrix product of a forward, a backward or a
// statistic goes through `gemm_backend::sgemm`, so the reference loop (tests), CPU BLAS
// (nn/cblas_gemm.hpp) and later a device BLAS are interchangeable.
//
// Contract: C[m×n] = alpha·op(A)·op(B) + beta·C, row-major, float32; op(A) is m×k (A is stored
// k×m when ta), op(B) is k×n (B is stored n×k when tb); leading dimensions are row strides.
// beta == 0 overwrites C (NaN in C is not propagated). One call is computed by the calling thread
// only: the engine parallelises over batches, so a product's rounding never depends on the
// thread count.
#include <cstdint>
#include <string_view>

namespace prismaquant::nn {

struct gemm_call {
  bool ta = false, tb = false;
  std::int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  std::int64_t lda = 0;
  const float* b = nullptr;
  std::int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  std::int64_t ldc = 0;
};

class gemm_backend {
 public:
  virtual ~gemm_backend() = default;
  virtual std::string_view name() const noexcept = 0;
  virtual void sgemm(const gemm_call& g) const = 0;
};

// Plain loops with double accumulation: slow, simple, and the reference the blocks' tests use.
class reference_gemm final : public gemm_backend {
 public:
  std::string_view name() const noexcept override { return "reference"; }
  void sgemm(const gemm_call& g) const override {
    for (std::int64_t i = 0; i < g.m; ++i)
      for (std::int64_t j = 0; j < g.n; ++j) {
        double acc = 0.0;
        for (std::int64_t p = 0; p < g.k; ++p) {
          const float a = g.ta ? g.a[p * g.lda + i] : g.a[i * g.lda + p];
          const float b = g.tb ? g.b[j * g.ldb + p] : g.b[p * g.ldb + j];
          acc += static_cast<double>(a) * static_cast<double>(b);
        }
        float& c = g.c[i * g.ldc + j];
        const double prev = g.beta == 0.0f ? 0.0 : static_cast<double>(g.beta) * static_cast<double>(c);
        c = static_cast<float>(static_cast<double>(g.alpha) * acc + prev);
      }
  }
};

}  // namespace prismaquant::nn
