#pragma once
// One decoder layer's weights in float32, resident while the engine works on that layer
// (weights stay mmapped in the checkpoint; only one layer is ever dequantized). Linears come
// from a linear_weights provider; q/k/v are stacked into one [q_out + 2·kv_out, hidden] weight
// and each expert's w1/w3 into one [2·inter, hidden] weight, so each pair of siblings is one
// product. Norms, router and correction bias come from the checkpoint as they are.
#include <prismaquant/cost/parallel.hpp>
#include <prismaquant/engine/architecture.hpp>
#include <prismaquant/engine/linear_weights.hpp>
#include <prismaquant/nn/experts.hpp>
#include <prismaquant/nn/tensor.hpp>

#include <cstring>
#include <vector>

namespace prismaquant::engine {

struct layer_weights {
  int layer = -1;
  nn::tensor1 input_norm, post_norm, q_norm, k_norm, bias;
  nn::tensor2 qkv, o, router;
  std::vector<nn::tensor2> w13, w2;
  std::vector<std::uint8_t> active;  // per expert, 0 = pruned (empty: all active)
  // Simulated input quantization (linear_weights::input_quantizer): q/k/v share one, as they
  // share one input and, served, one fused scheme.
  nn::input_quantizer qkv_in, o_in;
  std::vector<nn::input_quantizer> w13_in, w2_in;

  std::vector<nn::expert_weights> experts() const {
    std::vector<nn::expert_weights> v(w13.size());
    for (std::size_t e = 0; e < v.size(); ++e) {
      v[e] = {w13[e].data(), w2[e].data(), nullptr, nullptr};
      if (e < w13_in.size()) v[e].in13 = &w13_in[e];
      if (e < w2_in.size()) v[e].in2 = &w2_in[e];
    }
    return v;
  }
};

struct top_weights {
  nn::tensor2 embed, lm_head;  // [vocab × hidden]
  nn::tensor1 final_norm;
};

namespace detail {
inline void to_tensor(const std::vector<float>& v, nn::tensor1& t) {
  nn::reshape(t, static_cast<std::int64_t>(v.size()));
  std::memcpy(t.data(), v.data(), v.size() * 4);
}
inline void to_tensor(const std::vector<float>& v, std::int64_t r, std::int64_t c, nn::tensor2& t) {
  nn::reshape(t, r, c);
  std::memcpy(t.data(), v.data(), v.size() * 4);
}
}  // namespace detail

inline void load_top(const checkpoint& ck, const architecture& a, top_weights& w) {
  detail::to_tensor(read_tensor(ck, a.embed, {a.vocab, a.hidden}), a.vocab, a.hidden, w.embed);
  detail::to_tensor(read_tensor(ck, a.lm_head, {a.vocab, a.hidden}), a.vocab, a.hidden, w.lm_head);
  detail::to_tensor(read_tensor(ck, a.final_norm, {a.hidden}), w.final_norm);
}

// Loads layer `n`; the Linears in parallel on `pool` (the provider must be thread-safe).
inline void load_layer(const checkpoint& ck, const architecture& a, const model::model_description& d, int n,
                       const linear_weights& lw, layer_weights& w, cost::thread_pool& pool) {
  const auto& t = a.layer[static_cast<std::size_t>(n)];
  const std::int64_t H = a.hidden, I = a.inter, E = a.experts;
  w.layer = n;
  const std::int64_t qn = a.qk_norm == qk_norm_kind::whole ? a.q_out() : a.head_dim;
  const std::int64_t kn = a.qk_norm == qk_norm_kind::whole ? a.kv_out() : a.head_dim;
  detail::to_tensor(read_tensor(ck, t.input_norm, {H}), w.input_norm);
  detail::to_tensor(read_tensor(ck, t.post_norm, {H}), w.post_norm);
  detail::to_tensor(read_tensor(ck, t.q_norm, {qn}), w.q_norm);
  detail::to_tensor(read_tensor(ck, t.k_norm, {kn}), w.k_norm);
  detail::to_tensor(read_tensor(ck, t.router + ".weight", {E, H}), E, H, w.router);
  if (!t.bias.empty()) detail::to_tensor(read_tensor(ck, t.bias, {E}), w.bias);
  else nn::reshape(w.bias, 0);
  nn::reshape(w.qkv, a.qkv_out(), H);
  nn::reshape(w.o, H, a.q_out());
  w.w13.resize(static_cast<std::size_t>(E));
  w.w2.resize(static_cast<std::size_t>(E));
  // jobs: 0..3 attention (q, k, v, o), then per expert gate, up, down
  const auto& L = d.linears;
  auto lin = [&](int i) -> const model::linear_info& { return L[static_cast<std::size_t>(i)]; };
  auto expect = [&](int i, std::int64_t out, std::int64_t in) {
    const auto& l = lin(i);
    if (l.out_features != out || l.in_features != in)
      throw error(l.name + ".weight", "shape [" + std::to_string(l.out_features) + ", " + std::to_string(l.in_features) +
                                          "] does not match the config, expected [" + std::to_string(out) + ", " +
                                          std::to_string(in) + "]");
  };
  expect(t.q, a.q_out(), H);
  expect(t.k, a.kv_out(), H);
  expect(t.v, a.kv_out(), H);
  expect(t.o, H, a.q_out());
  if (static_cast<std::int64_t>(t.experts.size()) != E)
    throw error(t.experts_prefix, "has " + std::to_string(t.experts.size()) + " experts, expected " + std::to_string(E));
  for (std::int64_t e = 0; e < E; ++e) {
    const auto& x = t.experts[static_cast<std::size_t>(e)];
    expect(x[0], I, H);
    expect(x[1], I, H);
    expect(x[2], H, I);
    nn::reshape(w.w13[static_cast<std::size_t>(e)], 2 * I, H);
    nn::reshape(w.w2[static_cast<std::size_t>(e)], H, I);
  }
  // Input quantizers: siblings that share an input must share its quantization.
  auto shared_input = [&](std::initializer_list<int> ids, const char* what) {
    nn::input_quantizer q = lw.input_quantizer(lin(*ids.begin()));
    for (int i : ids)
      if (lw.input_quantizer(lin(i)).scheme != q.scheme)
        throw error(lin(i).name, std::string("its input is quantized differently from its ") + what +
                                     " siblings' (they share one input): cannot simulate");
    return q;
  };
  w.qkv_in = shared_input({t.q, t.k, t.v}, "q/k/v");
  w.o_in = lw.input_quantizer(lin(t.o));
  w.w13_in.resize(static_cast<std::size_t>(E));
  w.w2_in.resize(static_cast<std::size_t>(E));
  for (std::int64_t e = 0; e < E; ++e) {
    const auto& x = t.experts[static_cast<std::size_t>(e)];
    w.w13_in[static_cast<std::size_t>(e)] = shared_input({x[0], x[1]}, "w1/w3");
    w.w2_in[static_cast<std::size_t>(e)] = lw.input_quantizer(lin(x[2]));
  }
  pool.parallel_for(4 + 3 * E, [&](std::int64_t j) {
    if (j == 0) lw.load(lin(t.q), w.qkv.data());
    else if (j == 1) lw.load(lin(t.k), w.qkv.data() + a.q_out() * H);
    else if (j == 2) lw.load(lin(t.v), w.qkv.data() + (a.q_out() + a.kv_out()) * H);
    else if (j == 3) lw.load(lin(t.o), w.o.data());
    else {
      const std::int64_t e = (j - 4) / 3, p = (j - 4) % 3;
      const auto& x = t.experts[static_cast<std::size_t>(e)];
      if (p == 0) lw.load(lin(x[0]), w.w13[static_cast<std::size_t>(e)].data());
      else if (p == 1) lw.load(lin(x[1]), w.w13[static_cast<std::size_t>(e)].data() + I * H);
      else lw.load(lin(x[2]), w.w2[static_cast<std::size_t>(e)].data());
    }
  });
}

}  // namespace prismaquant::engine
