#pragma once
// Rounding policies: how a weight's codes (and, for the sweep, its block scales) are chosen
// within a format. A policy is a type P with
//
//   std::string name() const;                                        "rtn", "gptq", ...
//   template <class F> std::vector<typename F::code_type>
//     codes(const weight_matrix&, const scale_plan<F>&, const calibration&) const;
//   template <class F> quantized<F>
//     quantize(const weight_matrix&, const formats::tensor_stats&, const calibration&) const;
//
// `codes` picks one code per element under fixed scales; `quantize` also fixes the scales
// (plan_scales, or the sweep's) and returns both. Any format with scale blocks composes with
// any policy: the policy sees the format only through F::quantize / F::dequantize and the
// plan's block params. Policies: rtn (rounding/rtn.hpp), gptq (rounding/gptq.hpp),
// swept<P> (rounding/scale_sweep.hpp: sweep the block scales, then P's codes).
#include <prismaquant/rounding/plan.hpp>

#include <concepts>

namespace prismaquant::rounding {

// What calibration gives a policy: H = Σ_t x_t x_tᵀ over the Linear's calibration inputs
// (any positive multiple: GPTQ and the sweep are invariant to its scale), row-major n x n
// with n = in_features; null when there is none.
struct calibration {
  const float* xtx = nullptr;
  std::int64_t n = 0;

  bool has_hessian() const noexcept { return xtx != nullptr && n > 0; }
  // diag(H) = Σ_t x_tj² (the sweep's E[a_j²] up to the token count); all ones without H.
  std::vector<double> act_sq(std::int64_t cols) const {
    std::vector<double> d(static_cast<std::size_t>(cols), 1.0);
    if (has_hessian())
      for (std::int64_t j = 0; j < cols; ++j) d[static_cast<std::size_t>(j)] = xtx[j * n + j];
    return d;
  }
};

template <class P, class F>
concept policy_for = requires(const P& p, const weight_matrix& w, const scale_plan<F>& plan,
                              const formats::tensor_stats& s, const calibration& c) {
  { p.name() } -> std::convertible_to<std::string>;
  { p.template codes<F>(w, plan, c) } -> std::same_as<std::vector<typename F::code_type>>;
  { p.template quantize<F>(w, s, c) } -> std::same_as<quantized<F>>;
};

// The codes a policy chooses under the default (observer) scales.
template <class F, class P>
quantized<F> quantize_with_default_scales(const P& p, const weight_matrix& w, const formats::tensor_stats& s,
                                          const calibration& c) {
  quantized<F> q;
  q.plan = plan_scales<F>(w, s);
  q.codes = p.template codes<F>(w, q.plan, c);
  return q;
}

}  // namespace prismaquant::rounding
