#pragma once
// Next-token cross-entropy over float32 logits, per predicted position:
//   CE_t = logsumexp(logits_t) − logits_t[target_t]          (natural log; in double)
//   dCE_t/dlogits_t = softmax(logits_t) − onehot(target_t)
// The probe weights each position by a constant w_t (nn::token_weights below), so a batch's
// loss is Σ_t w_t·CE_t and its gradient w_t·(softmax − onehot).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace prismaquant::nn {

inline double cross_entropy(const float* logits, std::int64_t vocab, int target) {
  float mx = logits[0];
  for (std::int64_t j = 1; j < vocab; ++j) mx = std::max(mx, logits[j]);
  double s = 0.0;
  for (std::int64_t j = 0; j < vocab; ++j) s += std::exp(static_cast<double>(logits[j]) - mx);
  return static_cast<double>(mx) + std::log(s) - static_cast<double>(logits[target]);
}

// dlogits = w·(softmax − onehot(target)).
inline void cross_entropy_grad(const float* logits, std::int64_t vocab, int target, double w, float* dlogits) {
  float mx = logits[0];
  for (std::int64_t j = 1; j < vocab; ++j) mx = std::max(mx, logits[j]);
  double s = 0.0;
  for (std::int64_t j = 0; j < vocab; ++j) s += std::exp(static_cast<double>(logits[j]) - mx);
  const double lse = static_cast<double>(mx) + std::log(s);
  for (std::int64_t j = 0; j < vocab; ++j)
    dlogits[j] = static_cast<float>(w * (std::exp(static_cast<double>(logits[j]) - lse) - (j == target ? 1.0 : 0.0)));
}

enum class token_weighting { clamped, none };

// w_t = clamp(CE_t / mean(CE), 0.25, 4) over the batch's positions (constants, no gradient), or 1.
inline std::vector<double> token_weights(const std::vector<double>& ce, token_weighting how) {
  std::vector<double> w(ce.size(), 1.0);
  if (how == token_weighting::none || ce.empty()) return w;
  double mean = 0.0;
  for (double c : ce) mean += c;
  mean /= static_cast<double>(ce.size());
  for (std::size_t i = 0; i < ce.size(); ++i) w[i] = mean > 0.0 ? std::clamp(ce[i] / mean, 0.25, 4.0) : 1.0;
  return w;
}

}  // namespace prismaquant::nn
