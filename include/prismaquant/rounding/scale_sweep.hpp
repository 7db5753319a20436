#pragma once
// The scale sweep: per scale block, try 32 scales in [0.5, 1.5]·s0 and keep the one with the
// smallest activation-weighted error Σ_j E[a_j²]·(w_ij − ŵ_ij)², only where it beats the
// block's default scale s0 (ties keep s0). Then a code policy (rtn, gptq) chooses codes under
// the swept scales, so the file stores exactly the scale its codes used.
//
// A candidate is F::block_scale applied to the block's range scaled by f = 0.5 + k/31
// (k = 0..31): the format's own rounding of the scale (e4m3 for NVFP4, the source dtype for
// FP8, a power of two for MX) applies to every candidate, so any format with scale blocks
// composes. E[a_j²] is diag(XᵀX) (all ones without calibration).
//
// Why scales are swept BEFORE GPTQ rather than after: GPTQ's codes deliberately differ from
// round-to-nearest to cancel earlier columns' errors; re-choosing a block's scale afterwards
// by a per-element objective would undo that compensation, and GPTQ needs its scales fixed
// before the column loop.
#include <prismaquant/rounding/policy.hpp>
#include <prismaquant/rounding/rtn.hpp>

namespace prismaquant::rounding {

struct sweep_options {
  int candidates = 32;
  double lo = 0.5, hi = 1.5;
};

// Replaces each block's params in `plan` by the best candidate; returns how many blocks changed.
template <class F>
std::size_t sweep_scales(scale_plan<F>& plan, const weight_matrix& w, const std::vector<double>& act_sq,
                         const sweep_options& o = {}) {
  std::size_t changed = 0;
  for (std::int64_t bi = 0; bi < plan.nbr; ++bi)
    for (std::int64_t bj = 0; bj < plan.nbc; ++bj) {
      const std::int64_t i0 = bi * plan.bh, i1 = std::min(w.rows, i0 + plan.bh);
      const std::int64_t j0 = bj * plan.bw, j1 = std::min(w.cols, j0 + plan.bw);
      auto cost = [&](const typename F::block_params& bp) {
        double s = 0;
        for (std::int64_t i = i0; i < i1; ++i) {
          const float* row = w.row(i);
          for (std::int64_t j = j0; j < j1; ++j) {
            const double d = static_cast<double>(row[j]) - static_cast<double>(formats::round_trip<F>(bp, row[j]));
            s += act_sq[static_cast<std::size_t>(j)] * d * d;
          }
        }
        return s;
      };
      auto& cur = plan.blocks[static_cast<std::size_t>(bi * plan.nbc + bj)];
      const formats::block_range r = block_range_of<F>(w, plan, bi, bj);
      double best = cost(cur);
      for (int k = 0; k < o.candidates; ++k) {
        const double f = o.candidates > 1 ? o.lo + (o.hi - o.lo) * k / (o.candidates - 1) : 1.0;
        const typename F::block_params cand =
            F::block_scale(plan.tp, formats::block_range{static_cast<float>(r.min * f), static_cast<float>(r.max * f)});
        const double c = cost(cand);
        if (c < best) {
          best = c;
          cur = cand;
          ++changed;
        }
      }
    }
  return changed;
}

// Swept scales, then Codes' codes under them: swept<rtn>, swept<gptq>.
template <class Codes>
struct swept {
  Codes inner{};
  sweep_options opt{};

  std::string name() const { return inner.name() + "+sweep"; }
  template <class F>
  std::vector<typename F::code_type> codes(const weight_matrix& w, const scale_plan<F>& plan,
                                           const calibration& c) const {
    return inner.template codes<F>(w, plan, c);
  }
  template <class F>
  quantized<F> quantize(const weight_matrix& w, const formats::tensor_stats& s, const calibration& c) const {
    quantized<F> q;
    q.plan = plan_scales<F>(w, s);
    sweep_scales<F>(q.plan, w, c.act_sq(w.cols), opt);
    q.codes = inner.template codes<F>(w, q.plan, c);
    return q;
  }
};

}  // namespace prismaquant::rounding
