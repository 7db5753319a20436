#pragma once
// Weights W + s·(Q(W) − W) for the Linears of a format map (Q: the round trip through the
// mapped format, engine/round_trip_weights.hpp), the source for the others. s = 1 is the
// quantized weight; s = −1 its mirror image about the source. Validation measures both: for
// Δloss(s) = s·a + s²·b + O(s³), (Δ(1) − Δ(−1))/2 is the first-order term ⟨∇L, ΔW⟩ (to O(s³))
// and (Δ(1) + Δ(−1))/2 the second-order one that ½·H·MSE predicts (to O(s⁴)).
#include <prismaquant/engine/round_trip_weights.hpp>

namespace prismaquant::engine {

class scaled_error_weights final : public linear_weights {
 public:
  scaled_error_weights(const checkpoint& ck, const model::model_description& d, std::map<std::string, std::string> fmt,
                       double scale)
      : src_(ck), rt_(ck, d, fmt), fmt_(std::move(fmt)), s_(static_cast<float>(scale)) {}

  void load(const model::linear_info& l, float* out) const override {
    if (!fmt_.count(l.name) || s_ == 1.0f) {
      rt_.load(l, out);
      return;
    }
    std::vector<float> w(static_cast<std::size_t>(l.out_features * l.in_features));
    src_.load(l, w.data());
    rt_.load(l, out);
    for (std::size_t i = 0; i < w.size(); ++i) out[i] = w[i] + s_ * (out[i] - w[i]);
  }

 private:
  source_weights src_;
  round_trip_weights rt_;
  std::map<std::string, std::string> fmt_;
  float s_;
};

}  // namespace prismaquant::engine
