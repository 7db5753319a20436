#pragma once
// GPTQ (Frantar et al. 2022, arXiv:2210.17323) as llm-compressor runs it
// (`modifiers/gptq/gptq_quantize.py quantize_weight`), for any format with scale blocks:
//
//   scales: fixed from the ORIGINAL weight before the column loop (plan_scales: the
//           compressed-tensors observer's block scales, fp8/bf16/e8m0-rounded, and the
//           global scale of the fused group), so the stored scales are the ones the codes
//           were chosen under
//   order:  optional static activation order: columns by diag(H) descending (stable for
//           ties; torch's argsort is not, which only matters for exactly equal diagonals)
//   dead:   columns with H_jj == 0 get H_jj = 1 and weight 0
//   damp:   H += 0.01 · mean(diag H) · I
//   U:      upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU). llm-compressor computes
//           chol(cholesky_inverse(chol(H)), upper); we compute the same matrix as J·L⁻¹·J with
//           L = chol(J·H·J) (J reverses the index order: then H⁻¹ = (J L⁻ᵀ J)(J L⁻¹ J) and
//           J L⁻¹ J is upper triangular), one Cholesky and one triangular inverse instead of
//           two Cholesky and an inverse. Mathematically identical; not bit-identical in float32.
//           If H is not positive definite even after damping, U = I (round to nearest), as
//           llm-compressor falls back.
//   loop:   blocks of 128 columns; in a block, column k: q = F::quantize(scale of (row, k), w),
//           err = (w − deq(q)) / U_kk, later columns of the block −= err ⊗ U[k, k+1:];
//           after the block, the remaining columns −= Errᵀ-block · U[block, rest] (one GEMM)
//
// Working precision T: float (llm-compressor's GPTQ_PRECISION) or double (used by the tests
// to compare codes with llm-compressor run in float64, where rounding noise cannot flip codes).
// The work matrix is kept transposed ([cols][rows]) so a column is contiguous.
#include <prismaquant/linalg/blas.hpp>
#include <prismaquant/rounding/policy.hpp>

#include <algorithm>
#include <numeric>

namespace prismaquant::rounding {

struct gptq_options {
  int block = 128;          // columns per lazy-update block
  double damp = 0.01;       // fraction of mean(diag H) added to the diagonal
  bool act_order = true;    // static activation order (llm-compressor's default "static")
};

namespace detail {

// U (row-major, upper) with H⁻¹ = UᵀU, in place of H (row-major, symmetric). false: not PD.
template <class T>
bool inverse_cholesky_upper(std::vector<T>& h, std::int64_t n) {
  std::reverse(h.begin(), h.end());  // J H J
  if (!linalg::cholesky_lower(h.data(), static_cast<int>(n))) return false;
  if (!linalg::invert_lower(h.data(), static_cast<int>(n))) return false;
  std::reverse(h.begin(), h.end());  // J L⁻¹ J: upper triangle
  for (std::int64_t i = 1; i < n; ++i) std::fill(h.begin() + i * n, h.begin() + i * n + i, T(0));
  return true;
}

}  // namespace detail

// The column loop with a given permutation and inverse factor (exposed for tests).
template <class F, class T>
std::vector<typename F::code_type> gptq_column_loop(const weight_matrix& w, const scale_plan<F>& plan,
                                                    const std::vector<std::int64_t>& perm, const std::vector<char>& dead,
                                                    const std::vector<T>& u, int block) {
  using code_type = typename F::code_type;
  const std::int64_t rows = w.rows, n = w.cols;
  std::vector<code_type> codes(static_cast<std::size_t>(rows * n));
  std::vector<T> wt(static_cast<std::size_t>(n * rows));  // permuted, transposed work matrix
  for (std::int64_t k = 0; k < n; ++k) {
    T* col = wt.data() + k * rows;
    if (dead[static_cast<std::size_t>(k)]) continue;  // zero
    const std::int64_t oc = perm[static_cast<std::size_t>(k)];
    for (std::int64_t r = 0; r < rows; ++r) col[r] = static_cast<T>(w.values[static_cast<std::size_t>(r * n + oc)]);
  }
  const std::int64_t B = std::max(1, block);
  std::vector<T> err(static_cast<std::size_t>(B * rows));
  std::vector<const typename F::block_params*> bp(static_cast<std::size_t>(rows));
  for (std::int64_t i1 = 0; i1 < n; i1 += B) {
    const std::int64_t i2 = std::min(n, i1 + B);
    for (std::int64_t k = i1; k < i2; ++k) {
      const std::int64_t oc = perm[static_cast<std::size_t>(k)];
      const T d = u[static_cast<std::size_t>(k * n + k)];
      T* col = wt.data() + k * rows;
      T* e = err.data() + (k - i1) * rows;
      for (std::int64_t r = 0; r < rows; ++r) {
        const auto& p = plan.at(r, oc);
        const code_type q = F::quantize(p, static_cast<float>(col[r]));
        codes[static_cast<std::size_t>(r * n + oc)] = q;
        e[r] = (col[r] - static_cast<T>(F::dequantize(p, q))) / d;
      }
      for (std::int64_t k2 = k + 1; k2 < i2; ++k2) {
        const T h = u[static_cast<std::size_t>(k * n + k2)];
        T* c2 = wt.data() + k2 * rows;
        for (std::int64_t r = 0; r < rows; ++r) c2[r] -= e[r] * h;
      }
    }
    if (i2 < n)  // W[:, i2:] -= Err · U[i1:i2, i2:]  (transposed: Wt[i2:] -= U[i1:i2, i2:]ᵀ · Errᵀ)
      linalg::gemm(true, false, static_cast<int>(n - i2), static_cast<int>(rows), static_cast<int>(i2 - i1), T(-1),
                   u.data() + i1 * n + i2, static_cast<int>(n), err.data(), static_cast<int>(rows), T(1),
                   wt.data() + i2 * rows, static_cast<int>(rows));
  }
  return codes;
}

template <class T = float>
struct gptq_t {
  gptq_options opt{};

  std::string name() const { return "gptq"; }

  template <class F>
  std::vector<typename F::code_type> codes(const weight_matrix& w, const scale_plan<F>& plan,
                                           const calibration& c) const {
    const std::int64_t n = w.cols;
    if (!c.has_hessian()) throw error(w.name, "GPTQ needs the Linear's calibration Hessian (XᵀX); none was given");
    if (c.n != n)
      throw error(w.name, "Hessian is " + std::to_string(c.n) + "x" + std::to_string(c.n) + " but the weight has " +
                              std::to_string(n) + " input columns");
    std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
    std::iota(perm.begin(), perm.end(), std::int64_t{0});
    if (opt.act_order)
      std::stable_sort(perm.begin(), perm.end(),
                       [&](std::int64_t a, std::int64_t b) { return c.xtx[a * n + a] > c.xtx[b * n + b]; });
    std::vector<T> h(static_cast<std::size_t>(n * n));
    for (std::int64_t a = 0; a < n; ++a) {
      const float* src = c.xtx + perm[static_cast<std::size_t>(a)] * n;
      for (std::int64_t b = 0; b < n; ++b) h[static_cast<std::size_t>(a * n + b)] = static_cast<T>(src[perm[static_cast<std::size_t>(b)]]);
    }
    std::vector<char> dead(static_cast<std::size_t>(n), 0);
    T mean = 0;
    for (std::int64_t k = 0; k < n; ++k) {
      T& d = h[static_cast<std::size_t>(k * n + k)];
      if (d == T(0)) {
        dead[static_cast<std::size_t>(k)] = 1;
        d = T(1);
      }
      mean += d;
    }
    mean /= static_cast<T>(n);
    const T damp = static_cast<T>(opt.damp) * mean;
    for (std::int64_t k = 0; k < n; ++k) h[static_cast<std::size_t>(k * n + k)] += damp;
    if (!detail::inverse_cholesky_upper(h, n)) {  // llm-compressor: fall back to round to nearest
      std::fill(h.begin(), h.end(), T(0));
      for (std::int64_t k = 0; k < n; ++k) h[static_cast<std::size_t>(k * n + k)] = T(1);
    }
    return gptq_column_loop<F, T>(w, plan, perm, dead, h, opt.block);
  }

  template <class F>
  quantized<F> quantize(const weight_matrix& w, const formats::tensor_stats& s, const calibration& c) const {
    return quantize_with_default_scales<F>(*this, w, s, c);
  }
};

using gptq = gptq_t<float>;

}  // namespace prismaquant::rounding
