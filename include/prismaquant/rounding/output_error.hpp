#pragma once
// The output error of a quantized Linear over its calibration inputs:
//   tr(ΔW H ΔWᵀ) = Σ_t ‖ΔW x_t‖²,  ΔW = W − Ŵ,  H = Σ_t x_t x_tᵀ
// (what GPTQ minimises; export_report.json lists it per Linear for RTN and the chosen
// rounding). Double accumulation; H row-major n x n.
#include <prismaquant/linalg/blas.hpp>

#include <cstdint>
#include <vector>

namespace prismaquant::rounding {

inline double output_error(const float* w, const float* w_hat, std::int64_t rows, std::int64_t cols, const float* h) {
  std::vector<double> dw(static_cast<std::size_t>(rows * cols)), hd(static_cast<std::size_t>(cols * cols));
  for (std::size_t k = 0; k < dw.size(); ++k) dw[k] = static_cast<double>(w[k]) - static_cast<double>(w_hat[k]);
  for (std::size_t k = 0; k < hd.size(); ++k) hd[k] = h[k];
  std::vector<double> t(static_cast<std::size_t>(rows * cols));  // ΔW H
  linalg::gemm(false, false, static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(cols), 1.0, dw.data(),
               static_cast<int>(cols), hd.data(), static_cast<int>(cols), 0.0, t.data(), static_cast<int>(cols));
  double s = 0;
  for (std::size_t k = 0; k < dw.size(); ++k) s += t[k] * dw[k];
  return s;
}

}  // namespace prismaquant::rounding
