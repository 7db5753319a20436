#pragma once
// SwiGLU experts of a MoE block (w1 = gate, w3 = up, w2 = down):
//   f_e(x) = w2 · (silu(w1 x) ⊙ (w3 x)),   y_t = Σ_{selected e} g_e(t) · f_e(x_t)
// Experts are added into y in ascending id, as transformers' loop over hit experts does.
// Each expert's share of the batch is kept (a tape) for the backward and for observers:
// its tokens, inputs x, z = [w1 x | w3 x], w2's input a = silu(z1)⊙z3, output f, and after the
// backward the deltas df = g·dy (at w2's output) and dz = [dz1 | dz3] (at w1/w3's outputs).
// w1 and w3 are one fused weight [2I × H] (rows 0..I−1 = w1): one product for both.
#include <prismaquant/nn/input_quantizer.hpp>
#include <prismaquant/nn/linear.hpp>
#include <prismaquant/nn/router.hpp>
#include <prismaquant/nn/tensor.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace prismaquant::nn {

struct expert_weights {
  const float* w13 = nullptr;  // [2I × H]
  const float* w2 = nullptr;   // [H × I]
  const input_quantizer* in13 = nullptr;  // simulated input quantization of w1/w3, and of w2
  const input_quantizer* in2 = nullptr;
};

struct expert_share {              // one expert's tokens of a batch
  std::vector<std::int32_t> token;  // ascending token index
  std::vector<std::int32_t> slot;   // the token's top-k slot holding this expert
  tensor2 x, z, a, f;               // [m×H], [m×2I], [m×I], [m×H]
  tensor2 sig;                      // [m×I] sigmoid(z1), kept for the backward
  tensor2 df, dz, da;               // backward: [m×H], [m×2I], [m×I]
  std::int64_t m() const { return static_cast<std::int64_t>(token.size()); }
};

struct moe_tape {
  std::vector<expert_share> experts;  // [E]
  std::vector<std::int32_t> row;      // [tokens × k]: row of (t, slot) in its expert's share
};

namespace detail {

// z = x·[w1|w3]ᵀ, a = silu(z1)·z3 (silu(z) = z·sigmoid(z), sigmoid kept in sig when given),
// f = a·w2ᵀ for the m rows of x.
inline void swiglu_forward(const gemm_backend& g, const expert_weights& w, std::int64_t H, std::int64_t I,
                           const float* x, std::int64_t m, tensor2& z, tensor2& a, float* f, std::int64_t ldf,
                           tensor2* sig = nullptr) {
  reshape(z, m, 2 * I);
  reshape(a, m, I);
  if (sig) reshape(*sig, m, I);
  std::vector<float> xq, aq;
  linear_forward(g, {w.w13, 2 * I, H, H}, quantized_input(w.in13, x, m, H, xq), H, m, z.data(), 2 * I);
  for (std::int64_t r = 0; r < m; ++r) {
    const float* zr = z.data() + r * 2 * I;
    float* ar = a.data() + r * I;
    float* sr = sig ? sig->data() + r * I : nullptr;
    for (std::int64_t j = 0; j < I; ++j) {
      const float sg = 1.0f / (1.0f + std::exp(-zr[j]));
      if (sr) sr[j] = sg;
      ar[j] = (zr[j] * sg) * zr[I + j];  // torch: silu(z1) * z3, silu = z * sigmoid(z)
    }
  }
  linear_forward(g, {w.w2, H, I, I}, quantized_input(w.in2, a.data(), m, I, aq), I, m, f, ldf);
}
}  // namespace detail

// Dispatch tokens to experts (routing order), run each expert, combine. y is overwritten.
inline void experts_forward(const gemm_backend& g, std::int64_t H, std::int64_t I,
                            const std::vector<expert_weights>& w, const float* x, std::int64_t ldx,
                            const routing& rt, moe_tape& tape, float* y, std::int64_t ldy) {
  const int E = rt.experts, k = rt.k;
  tape.experts.resize(static_cast<std::size_t>(E));
  tape.row.resize(static_cast<std::size_t>(rt.tokens * k));
  for (auto& s : tape.experts) {
    s.token.clear();
    s.slot.clear();
  }
  for (std::int64_t t = 0; t < rt.tokens; ++t)
    for (int a = 0; a < k; ++a) {
      auto& s = tape.experts[static_cast<std::size_t>(rt.expert[static_cast<std::size_t>(t * k + a)])];
      tape.row[static_cast<std::size_t>(t * k + a)] = static_cast<std::int32_t>(s.token.size());
      s.token.push_back(static_cast<std::int32_t>(t));
      s.slot.push_back(a);
    }
  for (std::int64_t t = 0; t < rt.tokens; ++t) std::memset(y + t * ldy, 0, static_cast<std::size_t>(H) * 4);
  for (int e = 0; e < E; ++e) {
    auto& s = tape.experts[static_cast<std::size_t>(e)];
    const std::int64_t m = s.m();
    if (m == 0) continue;
    reshape(s.x, m, H);
    reshape(s.f, m, H);
    for (std::int64_t r = 0; r < m; ++r)
      std::memcpy(s.x.data() + r * H, x + s.token[static_cast<std::size_t>(r)] * ldx, static_cast<std::size_t>(H) * 4);
    detail::swiglu_forward(g, w[static_cast<std::size_t>(e)], H, I, s.x.data(), m, s.z, s.a, s.f.data(), H, &s.sig);
    for (std::int64_t r = 0; r < m; ++r) {
      const std::int64_t t = s.token[static_cast<std::size_t>(r)];
      const float gw = rt.weight[static_cast<std::size_t>(t * k + s.slot[static_cast<std::size_t>(r)])];
      const float* fr = s.f.data() + r * H;
      float* yr = y + t * ldy;
      for (std::int64_t j = 0; j < H; ++j) yr[j] += fr[j] * gw;
    }
  }
}

// Outputs f_e(x_t) of one chosen expert per token (e = choice[t], −1 = none: row left zero),
// forward only: the re-routing statistics' replacement experts. out [tokens × H].
inline void experts_forward_choice(const gemm_backend& g, std::int64_t H, std::int64_t I,
                                   const std::vector<expert_weights>& w, const float* x, std::int64_t ldx,
                                   const std::vector<int>& choice, tensor2& out, tensor2& xs, tensor2& z, tensor2& a,
                                   tensor2& f) {
  const std::int64_t T = static_cast<std::int64_t>(choice.size());
  reshape(out, T, H);
  std::fill(out.begin(), out.end(), 0.0f);
  const int E = static_cast<int>(w.size());
  std::vector<std::vector<std::int32_t>> tokens(static_cast<std::size_t>(E));
  for (std::int64_t t = 0; t < T; ++t)
    if (choice[static_cast<std::size_t>(t)] >= 0) tokens[static_cast<std::size_t>(choice[static_cast<std::size_t>(t)])].push_back(static_cast<std::int32_t>(t));
  for (int e = 0; e < E; ++e) {
    const auto& tk = tokens[static_cast<std::size_t>(e)];
    const std::int64_t m = static_cast<std::int64_t>(tk.size());
    if (m == 0) continue;
    reshape(xs, m, H);
    reshape(f, m, H);
    for (std::int64_t r = 0; r < m; ++r)
      std::memcpy(xs.data() + r * H, x + tk[static_cast<std::size_t>(r)] * ldx, static_cast<std::size_t>(H) * 4);
    detail::swiglu_forward(g, w[static_cast<std::size_t>(e)], H, I, xs.data(), m, z, a, f.data(), H);
    for (std::int64_t r = 0; r < m; ++r)
      std::memcpy(out.data() + tk[static_cast<std::size_t>(r)] * H, f.data() + r * H, static_cast<std::size_t>(H) * 4);
  }
}

// Backward from dy (= dL/dy, [tokens × H]). Writes dweight[tokens × k] = dy_t · f_e(t) (the
// router's input gradient), accumulates the experts' input gradient into dx, and leaves df / dz
// in the tape.
inline void experts_backward(const gemm_backend& g, std::int64_t H, std::int64_t I,
                             const std::vector<expert_weights>& w, const routing& rt, moe_tape& tape,
                             const float* dy, std::int64_t lddy, float* dweight, float* dx, std::int64_t lddx,
                             tensor2& dxs) {
  const int E = rt.experts, k = rt.k;
  for (int e = 0; e < E; ++e) {
    auto& s = tape.experts[static_cast<std::size_t>(e)];
    const std::int64_t m = s.m();
    if (m == 0) continue;
    const auto& we = w[static_cast<std::size_t>(e)];
    reshape(s.df, m, H);
    reshape(s.dz, m, 2 * I);
    reshape(s.da, m, I);
    for (std::int64_t r = 0; r < m; ++r) {
      const std::int64_t t = s.token[static_cast<std::size_t>(r)];
      const std::size_t ts = static_cast<std::size_t>(t * k + s.slot[static_cast<std::size_t>(r)]);
      const float gw = rt.weight[ts];
      const float* dyr = dy + t * lddy;
      const float* fr = s.f.data() + r * H;
      float* dfr = s.df.data() + r * H;
      double dot = 0.0;
      for (std::int64_t j = 0; j < H; ++j) {
        dot += static_cast<double>(dyr[j]) * fr[j];
        dfr[j] = dyr[j] * gw;
      }
      dweight[ts] = static_cast<float>(dot);
    }
    // da = df·w2;  dz3 = da ⊙ silu(z1);  dz1 = da ⊙ z3 ⊙ silu'(z1)
    linear_backward_input(g, {we.w2, H, I, I}, s.df.data(), H, m, s.da.data(), I, false);
    for (std::int64_t r = 0; r < m; ++r) {
      const float* zr = s.z.data() + r * 2 * I;
      const float* sgr = s.sig.data() + r * I;
      const float* dar = s.da.data() + r * I;
      float* dzr = s.dz.data() + r * 2 * I;
      for (std::int64_t j = 0; j < I; ++j) {
        const float z1 = zr[j], z3 = zr[I + j];
        const float sg = sgr[j];
        const float sl = z1 * sg;
        dzr[I + j] = dar[j] * sl;
        dzr[j] = dar[j] * z3 * (sg * (1.0f + z1 * (1.0f - sg)));
      }
    }
    reshape(dxs, m, H);
    linear_backward_input(g, {we.w13, 2 * I, H, H}, s.dz.data(), 2 * I, m, dxs.data(), H, false);
    for (std::int64_t r = 0; r < m; ++r) {
      float* dxr = dx + s.token[static_cast<std::size_t>(r)] * lddx;
      const float* sr = dxs.data() + r * H;
      for (std::int64_t j = 0; j < H; ++j) dxr[j] += sr[j];
    }
  }
}

}  // namespace prismaquant::nn
