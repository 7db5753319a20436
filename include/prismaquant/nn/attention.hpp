#pragma once
// Causal grouped-query attention (the core between the projections), per sequence and head:
//   P = softmax(scale · Q Kᵀ + causal mask),  O = P V
// Query head h reads key/value head h / (heads / kv_heads). transformers' eager attention does
// the same in float32 (matmul, ·scale, +mask, softmax in float32, matmul).
// Backward (P kept from the forward when all of a batch's fit `keep_bytes`, else recomputed):
//   dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),  dQ = scale·dS K,  dK += scale·dSᵀ Q,  dV += Pᵀ dO
// Queries are processed in chunks of 64 so the products skip the masked upper blocks.
// Token t of the batch is row t / seq_len, position t % seq_len; q/k/v/o are [tokens × heads·d]
// with row strides, so they may be column slices of fused buffers.
#include <prismaquant/nn/gemm.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace prismaquant::nn {

struct attention_shape {
  std::int64_t heads = 0, kv_heads = 0, head_dim = 0, seq_len = 0;
  float scale = 0.0f;  // head_dim^-0.5
};

struct attention_scratch {
  std::vector<float> p, dp;       // [seq_len × seq_len]
  std::vector<float> kept;        // [seqs × heads × seq_len × seq_len] P of the last forward
  bool has_kept = false;
  std::size_t keep_bytes = 64u << 20;  // keep P when a batch's fit (saves the backward's Q Kᵀ and exp)
};

namespace detail {
inline constexpr std::int64_t attn_chunk = 64;

// Rows [r0, r1) of P (ld S) hold scale·Q Kᵀ over keys [0, r1); turn them into causal softmax rows.
inline void causal_softmax_rows(float* p, std::int64_t S, std::int64_t r0, std::int64_t r1) {
  for (std::int64_t i = r0; i < r1; ++i) {
    float* row = p + i * S;
    float mx = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j <= i; ++j) mx = std::max(mx, row[j]);
    double sum = 0.0;
    for (std::int64_t j = 0; j <= i; ++j) {
      row[j] = std::exp(row[j] - mx);
      sum += row[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (std::int64_t j = 0; j <= i; ++j) row[j] *= inv;
    for (std::int64_t j = i + 1; j < r1; ++j) row[j] = 0.0f;
  }
}

// P for one (sequence, head): scores of every query chunk over its visible keys, softmaxed.
inline void attention_probs(const gemm_backend& g, const attention_shape& s, const float* q, std::int64_t ldq,
                            const float* k, std::int64_t ldk, float* p) {
  const std::int64_t S = s.seq_len, d = s.head_dim;
  for (std::int64_t r0 = 0; r0 < S; r0 += attn_chunk) {
    const std::int64_t r1 = std::min(S, r0 + attn_chunk);
    g.sgemm({false, true, r1 - r0, r1, d, s.scale, q + r0 * ldq, ldq, k, ldk, 0.0f, p + r0 * S, S});
    causal_softmax_rows(p, S, r0, r1);
  }
}
}  // namespace detail

// o[tokens × heads·d] for `seqs` sequences of seq_len tokens.
inline void attention_forward(const gemm_backend& g, const attention_shape& s, const float* q, std::int64_t ldq,
                              const float* k, std::int64_t ldk, const float* v, std::int64_t ldv, float* o,
                              std::int64_t ldo, std::int64_t seqs, attention_scratch& sc) {
  const std::int64_t S = s.seq_len, d = s.head_dim, group = s.heads / s.kv_heads;
  const std::size_t all = static_cast<std::size_t>(seqs * s.heads * S * S);
  sc.has_kept = all * sizeof(float) <= sc.keep_bytes;
  if (sc.has_kept) sc.kept.resize(all);
  else sc.p.resize(static_cast<std::size_t>(S * S));
  for (std::int64_t r = 0; r < seqs; ++r)
    for (std::int64_t h = 0; h < s.heads; ++h) {
      const std::int64_t kh = h / group;
      const float* qh = q + r * S * ldq + h * d;
      const float* kk = k + r * S * ldk + kh * d;
      const float* vv = v + r * S * ldv + kh * d;
      float* oh = o + r * S * ldo + h * d;
      float* p = sc.has_kept ? sc.kept.data() + (r * s.heads + h) * S * S : sc.p.data();
      detail::attention_probs(g, s, qh, ldq, kk, ldk, p);
      for (std::int64_t r0 = 0; r0 < S; r0 += detail::attn_chunk) {
        const std::int64_t r1 = std::min(S, r0 + detail::attn_chunk);
        g.sgemm({false, false, r1 - r0, d, r1, 1.0f, p + r0 * S, S, vv, ldv, 0.0f, oh + r0 * ldo, ldo});
      }
    }
}

// dq is overwritten; dk and dv are overwritten too (zeroed here, then accumulated over the
// query heads of each group).
inline void attention_backward(const gemm_backend& g, const attention_shape& s, const float* q, std::int64_t ldq,
                               const float* k, std::int64_t ldk, const float* v, std::int64_t ldv, const float* dout,
                               std::int64_t lddo, float* dq, std::int64_t lddq, float* dk, std::int64_t lddk,
                               float* dv, std::int64_t lddv, std::int64_t seqs, attention_scratch& sc) {
  const std::int64_t S = s.seq_len, d = s.head_dim, group = s.heads / s.kv_heads;
  if (!sc.has_kept) sc.p.resize(static_cast<std::size_t>(S * S));
  sc.dp.resize(static_cast<std::size_t>(S * S));
  float* dp = sc.dp.data();
  for (std::int64_t r = 0; r < seqs; ++r) {
    for (std::int64_t t = 0; t < S; ++t) {
      std::fill_n(dk + (r * S + t) * lddk, s.kv_heads * d, 0.0f);
      std::fill_n(dv + (r * S + t) * lddv, s.kv_heads * d, 0.0f);
    }
    for (std::int64_t h = 0; h < s.heads; ++h) {
      const std::int64_t kh = h / group;
      const float* qh = q + r * S * ldq + h * d;
      const float* kk = k + r * S * ldk + kh * d;
      const float* vv = v + r * S * ldv + kh * d;
      const float* doh = dout + r * S * lddo + h * d;
      float* dqh = dq + r * S * lddq + h * d;
      float* dkk = dk + r * S * lddk + kh * d;
      float* dvv = dv + r * S * lddv + kh * d;
      float* p = sc.has_kept ? sc.kept.data() + (r * s.heads + h) * S * S : sc.p.data();
      if (!sc.has_kept) detail::attention_probs(g, s, qh, ldq, kk, ldk, p);
      for (std::int64_t r0 = 0; r0 < S; r0 += detail::attn_chunk) {
        const std::int64_t r1 = std::min(S, r0 + detail::attn_chunk), m = r1 - r0;
        // dP = dO Vᵀ over the visible keys
        g.sgemm({false, true, m, r1, d, 1.0f, doh + r0 * lddo, lddo, vv, ldv, 0.0f, dp + r0 * S, S});
        for (std::int64_t i = r0; i < r1; ++i) {
          float* pr = p + i * S;
          float* dr = dp + i * S;
          double dot = 0.0;
          for (std::int64_t j = 0; j <= i; ++j) dot += static_cast<double>(pr[j]) * dr[j];
          const float D = static_cast<float>(dot);
          for (std::int64_t j = 0; j <= i; ++j) dr[j] = pr[j] * (dr[j] - D);
          for (std::int64_t j = i + 1; j < r1; ++j) dr[j] = 0.0f;
        }
        // dQ = scale·dS K;  dK += scale·dSᵀ Q;  dV += Pᵀ dO
        g.sgemm({false, false, m, d, r1, s.scale, dp + r0 * S, S, kk, ldk, 0.0f, dqh + r0 * lddq, lddq});
        g.sgemm({true, false, r1, d, m, s.scale, dp + r0 * S, S, qh + r0 * ldq, ldq, 1.0f, dkk, lddk});
        g.sgemm({true, false, r1, d, m, 1.0f, p + r0 * S, S, doh + r0 * lddo, lddo, 1.0f, dvv, lddv});
      }
    }
  }
}

}  // namespace prismaquant::nn
