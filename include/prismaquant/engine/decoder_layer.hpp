#pragma once
// One decoder layer assembled from the building blocks, forward and backward over one batch
// of whole sequences:
//   a  = rms_in(x);  [q|k|v] = a·W_qkvᵀ;  q, k = qk_norm(q), qk_norm(k);  rotary(q, k)
//   x1 = x + W_o·attention(q, k, v)
//   h  = rms_post(x1);  route(h·W_routerᵀ);  out = x1 + Σ_selected g·SwiGLU_e(h)
// The backward re-uses the forward's tape (the engine recomputes the forward of the layer from
// its cached input first) and turns dL/d(out) into dL/dx in place. Observers see each Linear's
// inputs and output gradients and each router's routing (engine/observer.hpp); the layer
// computes the re-routing terms only when an observer asks for them.
#include <prismaquant/engine/architecture.hpp>
#include <prismaquant/engine/layer_weights.hpp>
#include <prismaquant/engine/observer.hpp>
#include <prismaquant/nn/attention.hpp>
#include <prismaquant/nn/experts.hpp>
#include <prismaquant/nn/linear.hpp>
#include <prismaquant/nn/reroute.hpp>
#include <prismaquant/nn/rms_norm.hpp>
#include <prismaquant/nn/rotary.hpp>
#include <prismaquant/nn/router.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace prismaquant::engine {

// Everything one batch's forward leaves for its backward, and the backward's scratch; one per
// worker thread, reused from batch to batch.
struct layer_tape {
  const float* x = nullptr;  // the layer input [tokens × hidden] (owned by the caller)
  std::int64_t tokens = 0, seqs = 0;
  nn::tensor2 a, qkv, q, k, o, x1, h, logits, y;
  std::vector<float> r_in, r_post, r_q, r_k;
  nn::routing rt;
  nn::moe_tape moe;
  nn::attention_scratch att;
  // backward
  nn::tensor2 dh, dx1, dqkv, dproj, dlogits, dxs, f_next, sx, sz, sa, sf;
  std::vector<float> dweight;
  std::vector<double> out_norm, rr_dot, rr_sq;
};

class decoder_layer {
 public:
  decoder_layer(const architecture& a, const nn::gemm_backend& g, const nn::rotary& rope, std::int64_t seq_len)
      : a_(a), g_(g), rope_(rope), S_(seq_len) {}

  // out [tokens × hidden] may not alias x. x must stay valid until backward() returns.
  void forward(const layer_weights& w, const float* x, std::int64_t seqs, float* out, layer_tape& tp,
               layer_observer* obs = nullptr) const {
    const std::int64_t n = seqs * S_, H = a_.hidden, Q = a_.q_out(), K = a_.kv_out(), QKV = a_.qkv_out();
    tp.x = x;
    tp.tokens = n;
    tp.seqs = seqs;
    nn::reshape(tp.a, n, H);
    tp.r_in.resize(static_cast<std::size_t>(n));
    norm(w.input_norm, H).forward(x, H, tp.a.data(), H, n, 1, tp.r_in.data());
    nn::reshape(tp.qkv, n, QKV);
    std::vector<float> in_q;  // the quantized copy of a Linear's input, when simulated
    nn::linear_forward(g_, {w.qkv.data(), QKV, H, H}, nn::quantized_input(&w.qkv_in, tp.a.data(), n, H, in_q), H, n,
                       tp.qkv.data(), QKV);
    nn::reshape(tp.q, n, Q);
    nn::reshape(tp.k, n, K);
    const auto [qn, kn, qg, kg] = qk_norms(w);
    tp.r_q.resize(static_cast<std::size_t>(n * qg));
    tp.r_k.resize(static_cast<std::size_t>(n * kg));
    qn.forward(tp.qkv.data(), QKV, tp.q.data(), Q, n, qg, tp.r_q.data());
    kn.forward(tp.qkv.data() + Q, QKV, tp.k.data(), K, n, kg, tp.r_k.data());
    rope_.forward(tp.q.data(), Q, n, a_.heads, a_.head_dim, S_);
    rope_.forward(tp.k.data(), K, n, a_.kv_heads, a_.head_dim, S_);
    nn::reshape(tp.o, n, Q);
    nn::attention_forward(g_, shape(), tp.q.data(), Q, tp.k.data(), K, tp.qkv.data() + Q + K, QKV, tp.o.data(), Q,
                          seqs, tp.att);
    nn::reshape(tp.x1, n, H);
    nn::linear_forward(g_, {w.o.data(), H, Q, Q}, nn::quantized_input(&w.o_in, tp.o.data(), n, Q, in_q), Q, n,
                       tp.x1.data(), H);
    add(x, tp.x1.data(), n * H);
    nn::reshape(tp.h, n, H);
    tp.r_post.resize(static_cast<std::size_t>(n));
    norm(w.post_norm, H).forward(tp.x1.data(), H, tp.h.data(), H, n, 1, tp.r_post.data());
    nn::reshape(tp.logits, n, a_.experts);
    nn::linear_forward(g_, {w.router.data(), a_.experts, H, H}, tp.h.data(), H, n, tp.logits.data(), a_.experts);
    nn::route(router(w), tp.logits.data(), a_.experts, n, tp.rt);
    nn::reshape(tp.y, n, H);
    nn::experts_forward(g_, H, a_.inter, w.experts(), tp.h.data(), H, tp.rt, tp.moe, tp.y.data(), H);
    for (std::int64_t i = 0; i < n * H; ++i) out[i] = tp.x1.data()[i] + tp.y.data()[i];

    if (obs && obs->needs().linear_inputs) {
      const auto& t = a_.layer[static_cast<std::size_t>(w.layer)];
      obs->linear_forward({t.q, tp.a.data(), H, nullptr, 0, n, H, Q});
      obs->linear_forward({t.k, tp.a.data(), H, nullptr, 0, n, H, K});
      obs->linear_forward({t.v, tp.a.data(), H, nullptr, 0, n, H, K});
      obs->linear_forward({t.o, tp.o.data(), Q, nullptr, 0, n, Q, H});
      for (int e = 0; e < a_.experts; ++e) {
        const auto& s = tp.moe.experts[static_cast<std::size_t>(e)];
        if (s.m() == 0) continue;
        const auto& x3 = t.experts[static_cast<std::size_t>(e)];
        obs->linear_forward({x3[0], s.x.data(), H, nullptr, 0, s.m(), H, a_.inter});
        obs->linear_forward({x3[1], s.x.data(), H, nullptr, 0, s.m(), H, a_.inter});
        obs->linear_forward({x3[2], s.a.data(), a_.inter, nullptr, 0, s.m(), a_.inter, H});
      }
    }
  }

  // d: on entry dL/d(out) [tokens × hidden], on return dL/dx. Needs the tape of forward().
  void backward(const layer_weights& w, layer_tape& tp, float* d, layer_observer* obs = nullptr) const {
    const std::int64_t n = tp.tokens, H = a_.hidden, Q = a_.q_out(), K = a_.kv_out(), QKV = a_.qkv_out();
    const std::int64_t E = a_.experts, I = a_.inter;
    const int k = a_.top_k;
    const observer_needs needs = obs ? obs->needs() : observer_needs{};
    const auto& t = a_.layer[static_cast<std::size_t>(w.layer)];
    const auto ew = w.experts();
    const auto spec = router(w);

    // MoE: dy = d
    nn::reshape(tp.dh, n, H);
    std::fill(tp.dh.begin(), tp.dh.end(), 0.0f);
    tp.dweight.assign(static_cast<std::size_t>(n * k), 0.0f);
    nn::experts_backward(g_, H, I, ew, tp.rt, tp.moe, d, H, tp.dweight.data(), tp.dh.data(), H, tp.dxs);
    if (needs.router) {
      tp.out_norm.resize(static_cast<std::size_t>(n * k));
      for (std::int64_t i = 0; i < n * k; ++i) {
        const auto& s = tp.moe.experts[static_cast<std::size_t>(tp.rt.expert[static_cast<std::size_t>(i)])];
        const float* f = s.f.data() + static_cast<std::int64_t>(tp.moe.row[static_cast<std::size_t>(i)]) * H;
        double ss = 0.0;
        for (std::int64_t j = 0; j < H; ++j) ss += static_cast<double>(f[j]) * f[j];
        tp.out_norm[static_cast<std::size_t>(i)] = std::sqrt(ss);
      }
      router_rows rr{w.layer, n, k, a_.experts, tp.rt.expert.data(), tp.rt.weight.data(), tp.out_norm.data(),
                     nullptr, nullptr};
      if (needs.reroute) {
        nn::experts_forward_choice(g_, H, I, ew, tp.h.data(), H, tp.rt.next, tp.f_next, tp.sx, tp.sz, tp.sa, tp.sf);
        tp.rr_dot.resize(static_cast<std::size_t>(n * k));
        tp.rr_sq.resize(static_cast<std::size_t>(n * k));
        nn::reroute_terms(spec, tp.rt, tp.moe, tp.f_next, d, H, H, tp.rr_dot.data(), tp.rr_sq.data());
        rr.reroute_dot = tp.rr_dot.data();
        rr.reroute_sq = tp.rr_sq.data();
      }
      obs->router_backward(rr);
    }
    if (needs.linear_grads)
      for (int e = 0; e < a_.experts; ++e) {
        const auto& s = tp.moe.experts[static_cast<std::size_t>(e)];
        if (s.m() == 0) continue;
        const auto& x3 = t.experts[static_cast<std::size_t>(e)];
        obs->linear_backward({x3[0], s.x.data(), H, s.dz.data(), 2 * I, s.m(), H, I});
        obs->linear_backward({x3[1], s.x.data(), H, s.dz.data() + I, 2 * I, s.m(), H, I});
        obs->linear_backward({x3[2], s.a.data(), I, s.df.data(), H, s.m(), I, H});
      }
    nn::reshape(tp.dlogits, n, E);
    nn::route_backward(spec, tp.rt, tp.dweight.data(), tp.dlogits.data(), E);
    nn::linear_backward_input(g_, {w.router.data(), E, H, H}, tp.dlogits.data(), E, n, tp.dh.data(), H, true);

    // post-attention norm + residual: dx1 = d + rms_post'(dh)
    nn::reshape(tp.dx1, n, H);
    std::memcpy(tp.dx1.data(), d, static_cast<std::size_t>(n * H) * 4);
    norm(w.post_norm, H).backward(tp.x1.data(), H, tp.r_post.data(), tp.dh.data(), H, tp.dx1.data(), H, n, 1, true);

    // attention
    nn::reshape(tp.dqkv, n, QKV);
    nn::reshape(tp.dproj, n, QKV);
    float* dob = tp.dproj.data();  // o_proj's input gradient [n × Q], scratch until dproj is written
    nn::linear_backward_input(g_, {w.o.data(), H, Q, Q}, tp.dx1.data(), H, n, dob, Q, false);
    if (needs.linear_grads) obs->linear_backward({t.o, tp.o.data(), Q, tp.dx1.data(), H, n, Q, H});
    nn::attention_backward(g_, shape(), tp.q.data(), Q, tp.k.data(), K, tp.qkv.data() + Q + K, QKV, dob, Q,
                           tp.dqkv.data(), QKV, tp.dqkv.data() + Q, QKV, tp.dqkv.data() + Q + K, QKV, tp.seqs, tp.att);
    rope_.backward(tp.dqkv.data(), QKV, n, a_.heads, a_.head_dim, S_);
    rope_.backward(tp.dqkv.data() + Q, QKV, n, a_.kv_heads, a_.head_dim, S_);
    const auto [qn, kn, qg, kg] = qk_norms(w);
    qn.backward(tp.qkv.data(), QKV, tp.r_q.data(), tp.dqkv.data(), QKV, tp.dproj.data(), QKV, n, qg, false);
    kn.backward(tp.qkv.data() + Q, QKV, tp.r_k.data(), tp.dqkv.data() + Q, QKV, tp.dproj.data() + Q, QKV, n, kg, false);
    for (std::int64_t r = 0; r < n; ++r)
      std::memcpy(tp.dproj.data() + r * QKV + Q + K, tp.dqkv.data() + r * QKV + Q + K, static_cast<std::size_t>(K) * 4);
    if (needs.linear_grads) {
      obs->linear_backward({t.q, tp.a.data(), H, tp.dproj.data(), QKV, n, H, Q});
      obs->linear_backward({t.k, tp.a.data(), H, tp.dproj.data() + Q, QKV, n, H, K});
      obs->linear_backward({t.v, tp.a.data(), H, tp.dproj.data() + Q + K, QKV, n, H, K});
    }
    // da = dproj·W_qkv (reuses dh), then d = dx1 + rms_in'(da)
    nn::linear_backward_input(g_, {w.qkv.data(), QKV, H, H}, tp.dproj.data(), QKV, n, tp.dh.data(), H, false);
    std::memcpy(d, tp.dx1.data(), static_cast<std::size_t>(n * H) * 4);
    norm(w.input_norm, H).backward(tp.x, H, tp.r_in.data(), tp.dh.data(), H, d, H, n, 1, true);
  }

  nn::attention_shape shape() const {
    return {a_.heads, a_.kv_heads, a_.head_dim, S_, static_cast<float>(1.0 / std::sqrt(static_cast<double>(a_.head_dim)))};
  }
  nn::router_spec router(const layer_weights& w) const {
    nn::router_spec r;
    r.kind = a_.router;
    r.experts = a_.experts;
    r.top_k = a_.top_k;
    r.norm_topk = a_.norm_topk;
    r.bias = w.bias.size() ? w.bias.data() : nullptr;
    r.active = w.active.empty() ? nullptr : w.active.data();
    return r;
  }

 private:
  nn::rms_norm norm(const nn::tensor1& w, std::int64_t dim) const { return {w.data(), dim, a_.eps}; }
  struct qk_pair {
    nn::rms_norm q, k;
    std::int64_t q_groups, k_groups;  // groups per token
  };
  qk_pair qk_norms(const layer_weights& w) const {
    if (a_.qk_norm == qk_norm_kind::whole) return {norm(w.q_norm, a_.q_out()), norm(w.k_norm, a_.kv_out()), 1, 1};
    return {norm(w.q_norm, a_.head_dim), norm(w.k_norm, a_.head_dim), a_.heads, a_.kv_heads};
  }
  static void add(const float* x, float* y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] + y[i];
  }

  const architecture& a_;
  const nn::gemm_backend& g_;
  const nn::rotary& rope_;
  std::int64_t S_;
};

}  // namespace prismaquant::engine
