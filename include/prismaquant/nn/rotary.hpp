#pragma once
// Rotary position embedding, NeoX style ("rotate_half"), on the first `rot_dim` elements of each
// head (partial rotary: MiniMax-M2 rotates 64 of 128; Qwen3 rotates all of head_dim).
// Element i < h = rot_dim/2 pairs with i + h, at angle θ_i = pos · inv_freq_i,
// inv_freq_i = 1 / theta^(2i / rot_dim) — transformers' default rope, in float32 as it computes:
//   out_i     = x_i·cos θ_i − x_{i+h}·sin θ_i
//   out_{i+h} = x_{i+h}·cos θ_i + x_i·sin θ_i
// The backward is the transposed rotation (angle −θ). Position = token index within its row.
#include <cmath>
#include <cstdint>
#include <vector>

namespace prismaquant::nn {

struct rotary {
  std::int64_t rot_dim = 0;
  std::vector<float> cos, sin;  // [positions × rot_dim/2]

  rotary() = default;
  rotary(std::int64_t rot_dim_, double theta, std::int64_t positions) : rot_dim(rot_dim_) {
    const std::int64_t h = rot_dim / 2;
    cos.resize(static_cast<std::size_t>(positions * h));
    sin.resize(cos.size());
    std::vector<float> inv(static_cast<std::size_t>(h));
    for (std::int64_t i = 0; i < h; ++i) {
      // torch: arange(0, dim, 2, float) / dim, base ** that, 1.0 / that — each step in float32
      const float e = static_cast<float>(2 * i) / static_cast<float>(rot_dim);
      const float p = static_cast<float>(std::pow(theta, static_cast<double>(e)));
      inv[static_cast<std::size_t>(i)] = 1.0f / p;
    }
    for (std::int64_t pos = 0; pos < positions; ++pos)
      for (std::int64_t i = 0; i < h; ++i) {
        const float a = static_cast<float>(pos) * inv[static_cast<std::size_t>(i)];
        cos[static_cast<std::size_t>(pos * h + i)] = static_cast<float>(std::cos(static_cast<double>(a)));
        sin[static_cast<std::size_t>(pos * h + i)] = static_cast<float>(std::sin(static_cast<double>(a)));
      }
  }

  // x: tokens rows of `heads` heads of head_dim, row stride ldx; token t has position t % seq_len.
  // In place. sign = +1 forward, −1 backward (the transpose).
  void apply(float* x, std::int64_t ldx, std::int64_t tokens, std::int64_t heads, std::int64_t head_dim,
             std::int64_t seq_len, float sign) const {
    const std::int64_t h = rot_dim / 2;
    for (std::int64_t t = 0; t < tokens; ++t) {
      const std::int64_t pos = t % seq_len;
      const float* c = cos.data() + pos * h;
      const float* s = sin.data() + pos * h;
      for (std::int64_t hd = 0; hd < heads; ++hd) {
        float* v = x + t * ldx + hd * head_dim;
        for (std::int64_t i = 0; i < h; ++i) {
          const float a = v[i], b = v[i + h], sn = sign * s[i];
          v[i] = a * c[i] - b * sn;
          v[i + h] = b * c[i] + a * sn;
        }
      }
    }
  }
  void forward(float* x, std::int64_t ldx, std::int64_t tokens, std::int64_t heads, std::int64_t head_dim,
               std::int64_t seq_len) const {
    apply(x, ldx, tokens, heads, head_dim, seq_len, 1.0f);
  }
  void backward(float* dx, std::int64_t ldx, std::int64_t tokens, std::int64_t heads, std::int64_t head_dim,
                std::int64_t seq_len) const {
    apply(dx, ldx, tokens, heads, head_dim, seq_len, -1.0f);
  }
};

}  // namespace prismaquant::nn
