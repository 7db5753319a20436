#pragma once
// RMSNorm, as transformers computes it in float32:  y = w ⊙ (x · r),  r = 1/sqrt(mean(x²) + eps),
// over groups of `dim` consecutive elements: a whole hidden row, a whole q/k projection
// (MiniMax-M2's qk-norm), or one head (Qwen3's per-head q/k norm, the weight shared by heads).
//   backward:  dx = r·(w⊙dy) − x·r³·Σ_j(w_j·dy_j·x_j)/dim        (no weight gradient)
// mean(x²) is summed in double and rounded once; r is kept per group for the backward.
// Rows of `per_row` groups each; ldx / ldy / lddy / lddx are row strides, so the input can be a
// column slice of a fused buffer.
#include <cmath>
#include <cstdint>

namespace prismaquant::nn {

struct rms_norm {
  const float* w = nullptr;  // [dim]
  std::int64_t dim = 0;
  float eps = 1e-6f;

  // rstd[rows*per_row] is written.
  void forward(const float* x, std::int64_t ldx, float* y, std::int64_t ldy, std::int64_t rows, std::int64_t per_row,
               float* rstd) const {
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t gi = 0; gi < per_row; ++gi) {
        const float* xr = x + r * ldx + gi * dim;
        float* yr = y + r * ldy + gi * dim;
        double ss = 0.0;
        for (std::int64_t j = 0; j < dim; ++j) ss += static_cast<double>(xr[j]) * xr[j];
        const float var = static_cast<float>(ss / static_cast<double>(dim));
        const float s = 1.0f / std::sqrt(var + eps);
        rstd[r * per_row + gi] = s;
        for (std::int64_t j = 0; j < dim; ++j) yr[j] = w[j] * (xr[j] * s);
      }
  }

  // dx (+)= the input gradient (dx must not alias x or dy).
  void backward(const float* x, std::int64_t ldx, const float* rstd, const float* dy, std::int64_t lddy, float* dx,
                std::int64_t lddx, std::int64_t rows, std::int64_t per_row, bool accumulate) const {
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t gi = 0; gi < per_row; ++gi) {
        const float* xr = x + r * ldx + gi * dim;
        const float* dyr = dy + r * lddy + gi * dim;
        float* dxr = dx + r * lddx + gi * dim;
        const double s = rstd[r * per_row + gi];
        double dot = 0.0;
        for (std::int64_t j = 0; j < dim; ++j) dot += static_cast<double>(w[j]) * dyr[j] * xr[j];
        const double c = s * s * s * dot / static_cast<double>(dim);
        for (std::int64_t j = 0; j < dim; ++j) {
          const float v = static_cast<float>(s * w[j] * dyr[j] - c * xr[j]);
          dxr[j] = accumulate ? dxr[j] + v : v;
        }
      }
  }
};

}  // namespace prismaquant::nn
