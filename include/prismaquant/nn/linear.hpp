#pragma once
// Linear (PyTorch nn.Linear without bias): y = x·Wᵀ, W row-major [out, in].
//   forward          y[m×out]  = x[m×in]·Wᵀ
//   backward_input   dx[m×in] (+)= dy[m×out]·W           (what the reverse sweep propagates)
//   weight_grad      G[out×in]  = dyᵀ·x                   (never needed to propagate; only the
//                                                         Fisher statistics ask for it)
// Leading dimensions let x, y, dy be column slices of fused buffers.
#include <prismaquant/nn/gemm.hpp>

namespace prismaquant::nn {

struct linear_weight {
  const float* w = nullptr;  // [out, in], row stride ldw
  std::int64_t out = 0, in = 0, ldw = 0;
};

inline void linear_forward(const gemm_backend& g, const linear_weight& w, const float* x, std::int64_t ldx,
                           std::int64_t m, float* y, std::int64_t ldy) {
  g.sgemm({false, true, m, w.out, w.in, 1.0f, x, ldx, w.w, w.ldw, 0.0f, y, ldy});
}

inline void linear_backward_input(const gemm_backend& g, const linear_weight& w, const float* dy, std::int64_t lddy,
                                  std::int64_t m, float* dx, std::int64_t lddx, bool accumulate) {
  g.sgemm({false, false, m, w.in, w.out, 1.0f, dy, lddy, w.w, w.ldw, accumulate ? 1.0f : 0.0f, dx, lddx});
}

inline void linear_weight_grad(const gemm_backend& g, std::int64_t out, std::int64_t in, const float* dy,
                               std::int64_t lddy, const float* x, std::int64_t ldx, std::int64_t m, float* grad,
                               std::int64_t ldg) {
  g.sgemm({true, false, out, in, m, 1.0f, dy, lddy, x, ldx, 0.0f, grad, ldg});
}

}  // namespace prismaquant::nn
