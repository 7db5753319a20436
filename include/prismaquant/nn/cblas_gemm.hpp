#pragma once
// CPU BLAS backend: Debian's OpenBLAS through its cblas interface (link prismaquant::blas).
// OpenBLAS's own threads are switched off: the engine runs one product per thread, so results
// do not depend on the thread count (see nn/gemm.hpp).
#include <prismaquant/nn/gemm.hpp>

#include <cblas.h>

#include <algorithm>

namespace prismaquant::nn {

class cblas_gemm final : public gemm_backend {
 public:
  cblas_gemm() { openblas_set_num_threads(1); }
  std::string_view name() const noexcept override { return "openblas"; }
  void sgemm(const gemm_call& g) const override {
    if (g.m <= 0 || g.n <= 0) return;
    if (g.k <= 0) {  // C = beta·C (BLAS implementations differ on k == 0)
      for (std::int64_t i = 0; i < g.m; ++i)
        for (std::int64_t j = 0; j < g.n; ++j) {
          float& c = g.c[i * g.ldc + j];
          c = g.beta == 0.0f ? 0.0f : g.beta * c;
        }
      return;
    }
    cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(g.m), static_cast<blasint>(g.n), static_cast<blasint>(g.k), g.alpha, g.a,
                static_cast<blasint>(g.lda), g.b, static_cast<blasint>(g.ldb), g.beta, g.c,
                static_cast<blasint>(g.ldc));
  }
};

}  // namespace prismaquant::nn
