#pragma once
// MoE routers: which top-k experts a token goes to and with what weight g.
//   sigmoid_bias (MiniMax-M2):  s = sigmoid(logits); select top_k of s + e_score_correction_bias;
//                               g = s / Σ_selected s   (unbiased scores, renormalised)
//   softmax (Qwen3-MoE):        p = softmax(logits); select top_k of p;
//                               g = p / Σ_selected p  if norm_topk_prob, else g = p
// (transformers' MiniMaxM2TopKRouter / Qwen3MoeTopKRouter, float32.) Selection is not
// differentiated; the backward maps dL/dg to dL/dlogits through the weights alone.
// `next` is the best expert outside the selection by the same selection score: the router's
// choice when one selected expert is excluded (the re-routing the saliency statistics price).
// Experts can be switched off (`active`, an expert-pruned model): they are never selected and
// a softmax router normalises over the active ones only, as a router with those rows removed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace prismaquant::nn {

enum class router_kind { sigmoid_bias, softmax };

struct router_spec {
  router_kind kind = router_kind::sigmoid_bias;
  int experts = 0;
  int top_k = 0;
  bool norm_topk = true;                  // softmax only (sigmoid_bias always renormalises)
  const float* bias = nullptr;            // sigmoid_bias: e_score_correction_bias [experts]
  const std::uint8_t* active = nullptr;   // [experts] 0 = pruned; null = all active
  bool renormalises() const noexcept { return kind == router_kind::sigmoid_bias || norm_topk; }
};

struct routing {
  std::int64_t tokens = 0;
  int k = 0, experts = 0;
  std::vector<int> expert;    // [tokens × k], best selection score first
  std::vector<float> weight;  // [tokens × k] g
  std::vector<float> score;   // [tokens × experts] s (sigmoid) or p (softmax); 0 when inactive
  std::vector<int> next;      // [tokens] best unselected active expert, −1 if none
};

namespace detail {
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
}  // namespace detail

inline void route(const router_spec& r, const float* logits, std::int64_t ld, std::int64_t tokens, routing& out) {
  const int E = r.experts, k = r.top_k;
  out.tokens = tokens;
  out.k = k;
  out.experts = E;
  out.expert.resize(static_cast<std::size_t>(tokens * k));
  out.weight.resize(out.expert.size());
  out.score.resize(static_cast<std::size_t>(tokens * E));
  out.next.resize(static_cast<std::size_t>(tokens));
  std::vector<float> choice(static_cast<std::size_t>(E));
  std::vector<int> order(static_cast<std::size_t>(E));
  constexpr float off = -std::numeric_limits<float>::infinity();
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* l = logits + t * ld;
    float* sc = out.score.data() + t * E;
    int n_active = 0;
    if (r.kind == router_kind::sigmoid_bias) {
      for (int e = 0; e < E; ++e) {
        const bool on = !r.active || r.active[e];
        sc[e] = on ? detail::sigmoid(l[e]) : 0.0f;
        choice[static_cast<std::size_t>(e)] = on ? sc[e] + (r.bias ? r.bias[e] : 0.0f) : off;
        n_active += on;
      }
    } else {
      float mx = off;
      for (int e = 0; e < E; ++e)
        if (!r.active || r.active[e]) mx = std::max(mx, l[e]);
      double sum = 0.0;
      for (int e = 0; e < E; ++e) {
        const bool on = !r.active || r.active[e];
        sc[e] = on ? std::exp(l[e] - mx) : 0.0f;
        sum += sc[e];
        n_active += on;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int e = 0; e < E; ++e) {
        sc[e] *= inv;
        choice[static_cast<std::size_t>(e)] = (!r.active || r.active[e]) ? sc[e] : off;
      }
    }
    // top_k + 1 by choice score, ties to the lower expert id
    for (int e = 0; e < E; ++e) order[static_cast<std::size_t>(e)] = e;
    const int keep = std::min(E, k + 1);
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int a, int b) {
      const float ca = choice[static_cast<std::size_t>(a)], cb = choice[static_cast<std::size_t>(b)];
      return ca != cb ? ca > cb : a < b;
    });
    int* sel = out.expert.data() + t * k;
    float* g = out.weight.data() + t * k;
    double z = 0.0;
    for (int a = 0; a < k; ++a) {
      sel[a] = order[static_cast<std::size_t>(a)];
      z += sc[sel[a]];
    }
    const float zf = static_cast<float>(z);
    for (int a = 0; a < k; ++a) g[a] = r.renormalises() ? sc[sel[a]] / zf : sc[sel[a]];
    out.next[static_cast<std::size_t>(t)] = (keep > k && n_active > k) ? order[static_cast<std::size_t>(k)] : -1;
  }
}

// dlogits[tokens × experts] (ld) from dweight[tokens × k] = dL/dg.
inline void route_backward(const router_spec& r, const routing& rt, const float* dweight, float* dlogits,
                           std::int64_t ld) {
  const int E = rt.experts, k = rt.k;
  std::vector<double> ds(static_cast<std::size_t>(E));
  for (std::int64_t t = 0; t < rt.tokens; ++t) {
    const int* sel = rt.expert.data() + t * k;
    const float* g = rt.weight.data() + t * k;
    const float* dg = dweight + t * k;
    const float* sc = rt.score.data() + t * E;
    float* dl = dlogits + t * ld;
    std::fill(ds.begin(), ds.end(), 0.0);
    if (r.renormalises()) {  // g_a = s_a / Z:  ds_a = (dg_a − Σ_b dg_b g_b) / Z
      double z = 0.0, dot = 0.0;
      for (int a = 0; a < k; ++a) {
        z += sc[sel[a]];
        dot += static_cast<double>(dg[a]) * g[a];
      }
      for (int a = 0; a < k; ++a) ds[static_cast<std::size_t>(sel[a])] = (dg[a] - dot) / z;
    } else {
      for (int a = 0; a < k; ++a) ds[static_cast<std::size_t>(sel[a])] = dg[a];
    }
    if (r.kind == router_kind::sigmoid_bias) {
      for (int e = 0; e < E; ++e) dl[e] = static_cast<float>(ds[static_cast<std::size_t>(e)] * sc[e] * (1.0 - sc[e]));
    } else {  // softmax: dl_e = p_e (ds_e − Σ p·ds)
      double dot = 0.0;
      for (int e = 0; e < E; ++e) dot += sc[e] * ds[static_cast<std::size_t>(e)];
      for (int e = 0; e < E; ++e) dl[e] = static_cast<float>(sc[e] * (ds[static_cast<std::size_t>(e)] - dot));
    }
  }
}

// Weights after excluding the expert in slot `a` of token t: slot a now holds rt.next[t].
// Returns false when there is no next expert (top_k == active experts).
inline bool reroute_weights(const router_spec& r, const routing& rt, std::int64_t t, int a, double* g_new) {
  const int k = rt.k, E = rt.experts;
  const int n = rt.next[static_cast<std::size_t>(t)];
  if (n < 0) return false;
  const int* sel = rt.expert.data() + t * k;
  const float* sc = rt.score.data() + t * E;
  double z = 0.0;
  for (int b = 0; b < k; ++b) {
    g_new[b] = b == a ? sc[n] : sc[sel[b]];
    z += g_new[b];
  }
  if (r.renormalises())
    for (int b = 0; b < k; ++b) g_new[b] /= z;
  return true;
}

}  // namespace prismaquant::nn
