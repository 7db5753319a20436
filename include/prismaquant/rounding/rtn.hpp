#pragma once
// Round to nearest: each element's code is F::quantize under its block's scale — exactly
// what formats::encode writes (tests/test_rounding.cpp checks byte equality).
#include <prismaquant/rounding/policy.hpp>

namespace prismaquant::rounding {

struct rtn {
  std::string name() const { return "rtn"; }
  template <class F>
  std::vector<typename F::code_type> codes(const weight_matrix& w, const scale_plan<F>& p, const calibration&) const {
    return nearest_codes<F>(w, p);
  }
  template <class F>
  quantized<F> quantize(const weight_matrix& w, const formats::tensor_stats& s, const calibration& c) const {
    return quantize_with_default_scales<F>(*this, w, s, c);
  }
};

}  // namespace prismaquant::rounding
