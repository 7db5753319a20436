// The engine's building blocks, each checked on its own: the BLAS backend against the reference
// loop, and every backward against central finite differences of its own forward (double-
// accumulating reference GEMMs, so the differences are not drowned in float32 noise). The
// re-routing terms are checked against re-running the MoE with the expert excluded. The outside
// reference for whole models is transformers (test_probe_golden.cpp).
#include <catch2/catch.hpp>

#include <prismaquant/engine/decoder_layer.hpp>
#include <prismaquant/nn/attention.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/nn/cross_entropy.hpp>
#include <prismaquant/nn/experts.hpp>
#include <prismaquant/nn/reroute.hpp>
#include <prismaquant/nn/rms_norm.hpp>
#include <prismaquant/nn/rotary.hpp>
#include <prismaquant/nn/router.hpp>

#include <functional>
#include <random>

namespace nn = prismaquant::nn;
namespace eng = prismaquant::engine;

namespace {

std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(r);
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// f: x -> y. Checks <backward(r), v> against (<r, f(x+εv)> − <r, f(x−εv)>) / 2ε.
void check_directional(const std::vector<float>& x, std::size_t ny,
                       const std::function<void(const std::vector<float>&, std::vector<float>&)>& f,
                       const std::function<void(const std::vector<float>& r, std::vector<float>& dx)>& back,
                       double eps, double tol, std::uint64_t seed = 7) {
  const auto r = randn(ny, seed);
  const auto v = randn(x.size(), seed + 1);
  std::vector<float> dx(x.size(), 0.0f);
  back(r, dx);
  const double analytic = dot(dx, v);
  std::vector<float> xp(x), xm(x), yp(ny), ym(ny);
  for (std::size_t i = 0; i < x.size(); ++i) {
    xp[i] = static_cast<float>(x[i] + eps * v[i]);
    xm[i] = static_cast<float>(x[i] - eps * v[i]);
  }
  f(xp, yp);
  f(xm, ym);
  const double numeric = (dot(r, yp) - dot(r, ym)) / (2 * eps);
  INFO("analytic " << analytic << " numeric " << numeric);
  REQUIRE(std::fabs(analytic - numeric) <= tol * (std::fabs(numeric) + 1e-3));
}

const nn::reference_gemm ref;

}  // namespace

TEST_CASE("OpenBLAS backend agrees with the reference loop for every transpose combination") {
  const nn::cblas_gemm blas;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const std::int64_t m = 37, n = 29, k = 53;
      const auto A = randn(static_cast<std::size_t>(m * k), 1), B = randn(static_cast<std::size_t>(k * n), 2);
      std::vector<float> c1 = randn(static_cast<std::size_t>(m * n), 3), c2 = c1;
      const nn::gemm_call g{ta == 1, tb == 1, m, n, k, 0.5f, A.data(), ta ? m : k, B.data(), tb ? k : n, 1.0f,
                            c1.data(), n};
      ref.sgemm(g);
      auto g2 = g;
      g2.c = c2.data();
      blas.sgemm(g2);
      for (std::size_t i = 0; i < c1.size(); ++i) REQUIRE(c2[i] == Approx(c1[i]).epsilon(1e-5).margin(1e-5));
    }
}

TEST_CASE("RMSNorm backward matches finite differences (whole row and per head)") {
  for (std::int64_t per_row : {1, 4}) {
    const std::int64_t rows = 3, dim = 16;
    const auto w = randn(static_cast<std::size_t>(dim), 11, 0.5f);
    const nn::rms_norm n{w.data(), dim, 1e-6f};
    const auto x = randn(static_cast<std::size_t>(rows * per_row * dim), 12);
    std::vector<float> rstd(static_cast<std::size_t>(rows * per_row));
    auto f = [&](const std::vector<float>& in, std::vector<float>& y) {
      std::vector<float> rs(rstd.size());
      n.forward(in.data(), per_row * dim, y.data(), per_row * dim, rows, per_row, rs.data());
    };
    auto b = [&](const std::vector<float>& r, std::vector<float>& dx) {
      std::vector<float> y(x.size());
      n.forward(x.data(), per_row * dim, y.data(), per_row * dim, rows, per_row, rstd.data());
      n.backward(x.data(), per_row * dim, rstd.data(), r.data(), per_row * dim, dx.data(), per_row * dim, rows, per_row,
                 false);
    };
    check_directional(x, x.size(), f, b, 1e-2, 2e-3);
  }
}

TEST_CASE("rotary: backward is the transpose, and position 0 is the identity") {
  const nn::rotary rope(8, 10000.0, 5);
  const std::int64_t heads = 2, hd = 12, S = 5;
  auto x = randn(static_cast<std::size_t>(S * heads * hd), 21);
  auto y = randn(x.size(), 22);
  auto Rx = x;
  rope.forward(Rx.data(), heads * hd, S, heads, hd, S);
  auto Rty = y;
  rope.backward(Rty.data(), heads * hd, S, heads, hd, S);
  REQUIRE(dot(Rx, y) == Approx(dot(x, Rty)).epsilon(1e-6));
  for (std::int64_t j = 0; j < heads * hd; ++j) REQUIRE(Rx[static_cast<std::size_t>(j)] == x[static_cast<std::size_t>(j)]);
  for (std::int64_t j = 8; j < hd; ++j) REQUIRE(Rx[static_cast<std::size_t>(hd * heads + j)] == x[static_cast<std::size_t>(hd * heads + j)]);
}

TEST_CASE("GQA causal attention: forward against a direct loop, backward against finite differences") {
  const nn::attention_shape s{4, 2, 8, 70, 1.0f / std::sqrt(8.0f)};  // 70: two query chunks
  const std::int64_t seqs = 2, n = seqs * s.seq_len, Q = s.heads * s.head_dim, K = s.kv_heads * s.head_dim;
  const auto q = randn(static_cast<std::size_t>(n * Q), 31, 0.5f), k = randn(static_cast<std::size_t>(n * K), 32, 0.5f),
             v = randn(static_cast<std::size_t>(n * K), 33);
  nn::attention_scratch sc;
  std::vector<float> o(static_cast<std::size_t>(n * Q));
  nn::attention_forward(ref, s, q.data(), Q, k.data(), K, v.data(), K, o.data(), Q, seqs, sc);
  // direct: row 1, head 3, position 40
  {
    const std::int64_t r = 1, h = 3, i = 40, kh = h / 2, d = s.head_dim;
    std::vector<double> sc2(static_cast<std::size_t>(i + 1));
    double mx = -1e300, sum = 0.0;
    for (std::int64_t j = 0; j <= i; ++j) {
      double a = 0.0;
      for (std::int64_t c = 0; c < d; ++c)
        a += static_cast<double>(q[static_cast<std::size_t>((r * s.seq_len + i) * Q + h * d + c)]) *
             k[static_cast<std::size_t>((r * s.seq_len + j) * K + kh * d + c)];
      sc2[static_cast<std::size_t>(j)] = a * s.scale;
      mx = std::max(mx, a * s.scale);
    }
    for (auto& a : sc2) sum += (a = std::exp(a - mx));
    for (std::int64_t c = 0; c < d; ++c) {
      double out = 0.0;
      for (std::int64_t j = 0; j <= i; ++j)
        out += sc2[static_cast<std::size_t>(j)] / sum * v[static_cast<std::size_t>((r * s.seq_len + j) * K + kh * d + c)];
      REQUIRE(o[static_cast<std::size_t>((r * s.seq_len + i) * Q + h * d + c)] == Approx(out).epsilon(1e-5).margin(1e-6));
    }
  }
  // backward, one input at a time
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
  auto run_back = [&](const std::vector<float>& r) {  // the backward follows its own forward (P may be kept)
    nn::attention_forward(ref, s, q.data(), Q, k.data(), K, v.data(), K, o.data(), Q, seqs, sc);
    nn::attention_backward(ref, s, q.data(), Q, k.data(), K, v.data(), K, r.data(), Q, dq.data(), Q, dk.data(), K,
                           dv.data(), K, seqs, sc);
  };
  for (int which = 0; which < 3; ++which) {
    const auto& x0 = which == 0 ? q : which == 1 ? k : v;
    auto f = [&](const std::vector<float>& x, std::vector<float>& y) {
      nn::attention_forward(ref, s, which == 0 ? x.data() : q.data(), Q, which == 1 ? x.data() : k.data(), K,
                            which == 2 ? x.data() : v.data(), K, y.data(), Q, seqs, sc);
    };
    auto b = [&](const std::vector<float>& r, std::vector<float>& dx) {
      run_back(r);
      dx = which == 0 ? dq : which == 1 ? dk : dv;
    };
    check_directional(x0, o.size(), f, b, 1e-2, 2e-3, 40 + static_cast<std::uint64_t>(which));
    // P kept from the forward or recomputed in the backward: the same gradients
    const auto kept = std::vector<float>(which == 0 ? dq : which == 1 ? dk : dv);
    sc.keep_bytes = 0;
    const auto r = randn(o.size(), 40 + static_cast<std::uint64_t>(which));
    run_back(r);
    REQUIRE(!sc.has_kept);
    REQUIRE((which == 0 ? dq : which == 1 ? dk : dv) == kept);
    sc.keep_bytes = 64u << 20;
  }
}

TEST_CASE("routers: selection, weights and backward (sigmoid + bias, softmax with and without norm_topk_prob)") {
  const int E = 6, k = 2;
  const std::int64_t T = 5;
  const auto bias = randn(E, 51, 0.3f);
  for (int kind = 0; kind < 3; ++kind) {
    nn::router_spec spec;
    spec.kind = kind == 0 ? nn::router_kind::sigmoid_bias : nn::router_kind::softmax;
    spec.experts = E;
    spec.top_k = k;
    spec.norm_topk = kind != 2;
    spec.bias = kind == 0 ? bias.data() : nullptr;
    const auto logits = randn(static_cast<std::size_t>(T * E), 52);
    nn::routing rt;
    nn::route(spec, logits.data(), E, T, rt);
    for (std::int64_t t = 0; t < T; ++t) {  // the chosen beat every other by the selection score
      const float* l = logits.data() + t * E;
      std::vector<double> score(E), choice(E);
      double z = 0.0, mx = -1e300;
      for (int e = 0; e < E; ++e) mx = std::max(mx, static_cast<double>(l[e]));
      for (int e = 0; e < E; ++e) z += std::exp(l[e] - mx);
      for (int e = 0; e < E; ++e) {
        score[static_cast<std::size_t>(e)] = kind == 0 ? 1.0 / (1.0 + std::exp(-static_cast<double>(l[e]))) : std::exp(l[e] - mx) / z;
        choice[static_cast<std::size_t>(e)] = score[static_cast<std::size_t>(e)] + (kind == 0 ? bias[static_cast<std::size_t>(e)] : 0.0);
      }
      const int* sel = rt.expert.data() + t * k;
      for (int e = 0; e < E; ++e)
        if (e != sel[0] && e != sel[1]) {
          REQUIRE(choice[static_cast<std::size_t>(e)] <= choice[static_cast<std::size_t>(sel[1])]);
          REQUIRE((rt.next[static_cast<std::size_t>(t)] == e || choice[static_cast<std::size_t>(e)] <= choice[static_cast<std::size_t>(rt.next[static_cast<std::size_t>(t)])]));
        }
      const double zs = score[static_cast<std::size_t>(sel[0])] + score[static_cast<std::size_t>(sel[1])];
      for (int a = 0; a < k; ++a) {
        const double want = kind == 2 ? score[static_cast<std::size_t>(sel[a])] : score[static_cast<std::size_t>(sel[a])] / zs;
        REQUIRE(rt.weight[static_cast<std::size_t>(t * k + a)] == Approx(want).epsilon(1e-6));
      }
    }
    // backward: weights as a function of logits, selection held fixed
    auto f = [&](const std::vector<float>& x, std::vector<float>& y) {
      nn::routing r2;
      nn::route(spec, x.data(), E, T, r2);
      REQUIRE(r2.expert == rt.expert);
      y = r2.weight;
    };
    auto b = [&](const std::vector<float>& r, std::vector<float>& dx) {
      nn::route_backward(spec, rt, r.data(), dx.data(), E);
    };
    check_directional(logits, rt.weight.size(), f, b, 1e-3, 2e-3, 60 + static_cast<std::uint64_t>(kind));
  }
}

TEST_CASE("SwiGLU experts: backward against finite differences, re-routing terms against re-running without the expert") {
  const std::int64_t H = 16, I = 8, T = 9;
  const int E = 5, k = 2;
  std::vector<std::vector<float>> w13, w2;
  std::vector<nn::expert_weights> ew;
  for (int e = 0; e < E; ++e) {
    w13.push_back(randn(static_cast<std::size_t>(2 * I * H), 70 + static_cast<std::uint64_t>(e), 0.3f));
    w2.push_back(randn(static_cast<std::size_t>(H * I), 80 + static_cast<std::uint64_t>(e), 0.3f));
  }
  for (int e = 0; e < E; ++e) ew.push_back({w13[static_cast<std::size_t>(e)].data(), w2[static_cast<std::size_t>(e)].data()});
  nn::router_spec spec;
  spec.experts = E;
  spec.top_k = k;
  const auto bias = randn(E, 90, 0.2f);
  spec.bias = bias.data();
  const auto logits = randn(static_cast<std::size_t>(T * E), 91);
  nn::routing rt;
  nn::route(spec, logits.data(), E, T, rt);
  const auto x = randn(static_cast<std::size_t>(T * H), 92);
  nn::moe_tape tape;
  std::vector<float> y(static_cast<std::size_t>(T * H));
  nn::experts_forward(ref, H, I, ew, x.data(), H, rt, tape, y.data(), H);
  auto f = [&](const std::vector<float>& xin, std::vector<float>& out) {
    nn::moe_tape t2;
    nn::experts_forward(ref, H, I, ew, xin.data(), H, rt, t2, out.data(), H);
  };
  nn::tensor2 dxs;
  auto b = [&](const std::vector<float>& r, std::vector<float>& dx) {
    std::vector<float> dweight(static_cast<std::size_t>(T * k));
    std::fill(dx.begin(), dx.end(), 0.0f);
    nn::experts_backward(ref, H, I, ew, rt, tape, r.data(), H, dweight.data(), dx.data(), H, dxs);
  };
  check_directional(x, y.size(), f, b, 1e-2, 2e-3);

  // re-routing: Δy for (t, slot a) equals the MoE output with that expert masked minus y
  nn::tensor2 f_next, sx, sz, sa, sf;
  nn::experts_forward_choice(ref, H, I, ew, x.data(), H, rt.next, f_next, sx, sz, sa, sf);
  const auto delta = randn(static_cast<std::size_t>(T * H), 93);
  std::vector<double> rdot(static_cast<std::size_t>(T * k)), rsq(rdot.size());
  nn::reroute_terms(spec, rt, tape, f_next, delta.data(), H, H, rdot.data(), rsq.data());
  for (std::int64_t t = 0; t < T; ++t)
    for (int a = 0; a < k; ++a) {
      std::vector<std::uint8_t> active(E, 1);
      active[static_cast<std::size_t>(rt.expert[static_cast<std::size_t>(t * k + a)])] = 0;
      auto s2 = spec;
      s2.active = active.data();
      nn::routing r2;
      nn::route(s2, logits.data() + t * E, E, 1, r2);
      nn::moe_tape t2;
      std::vector<float> y2(static_cast<std::size_t>(H));
      nn::experts_forward(ref, H, I, ew, x.data() + t * H, H, r2, t2, y2.data(), H);
      double d = 0.0, s = 0.0;
      for (std::int64_t j = 0; j < H; ++j) {
        const double dy = static_cast<double>(y2[static_cast<std::size_t>(j)]) - y[static_cast<std::size_t>(t * H + j)];
        d += delta[static_cast<std::size_t>(t * H + j)] * dy;
        s += dy * dy;
      }
      REQUIRE(rdot[static_cast<std::size_t>(t * k + a)] == Approx(d).epsilon(1e-4).margin(1e-5));
      REQUIRE(rsq[static_cast<std::size_t>(t * k + a)] == Approx(s).epsilon(1e-4).margin(1e-6));
    }
}

TEST_CASE("cross-entropy gradient matches finite differences") {
  const std::int64_t V = 11;
  const auto l = randn(static_cast<std::size_t>(V), 101, 2.0f);
  std::vector<float> g(static_cast<std::size_t>(V));
  nn::cross_entropy_grad(l.data(), V, 3, 1.7, g.data());
  for (std::int64_t j = 0; j < V; ++j) {
    auto lp = l, lm = l;
    lp[static_cast<std::size_t>(j)] += 1e-2f;
    lm[static_cast<std::size_t>(j)] -= 1e-2f;
    const double num = 1.7 * (nn::cross_entropy(lp.data(), V, 3) - nn::cross_entropy(lm.data(), V, 3)) /
                       (static_cast<double>(lp[static_cast<std::size_t>(j)]) - lm[static_cast<std::size_t>(j)]);
    REQUIRE(g[static_cast<std::size_t>(j)] == Approx(num).epsilon(1e-3).margin(1e-5));
  }
  const auto w = nn::token_weights({1.0, 2.0, 9.0, 0.01}, nn::token_weighting::clamped);
  REQUIRE(w[0] == Approx(1.0 / 3.0025));
  REQUIRE(w[2] == Approx(9.0 / 3.0025));
  REQUIRE(w[3] == 0.25);
}

TEST_CASE("decoder layer: backward matches finite differences for both assemblies") {
  for (auto qk : {eng::qk_norm_kind::whole, eng::qk_norm_kind::per_head}) {
    eng::architecture a;
    a.hidden = 32, a.heads = 4, a.kv_heads = 2, a.head_dim = 8, a.rot_dim = qk == eng::qk_norm_kind::whole ? 4 : 8;
    a.vocab = 10, a.max_positions = 64, a.inter = 12, a.layers = 1, a.experts = 6, a.top_k = 2;
    a.qk_norm = qk;
    a.router = qk == eng::qk_norm_kind::whole ? nn::router_kind::sigmoid_bias : nn::router_kind::softmax;
    a.norm_topk = true;
    eng::layer_tensors t;
    t.q = 0, t.k = 1, t.v = 2, t.o = 3;
    for (int e = 0; e < a.experts; ++e) t.experts.push_back({4 + 3 * e, 5 + 3 * e, 6 + 3 * e});
    a.layer.push_back(t);
    eng::layer_weights w;
    w.layer = 0;
    auto fill1 = [](nn::tensor1& v, std::int64_t n, std::uint64_t seed, float base) {
      nn::reshape(v, n);
      const auto r = randn(static_cast<std::size_t>(n), seed, 0.1f);
      for (std::int64_t i = 0; i < n; ++i) v(static_cast<std::size_t>(i)) = base + r[static_cast<std::size_t>(i)];
    };
    auto fill2 = [](nn::tensor2& m, std::int64_t r, std::int64_t c, std::uint64_t seed, float sc) {
      nn::reshape(m, r, c);
      const auto v = randn(static_cast<std::size_t>(r * c), seed, sc);
      std::copy(v.begin(), v.end(), m.begin());
    };
    const std::int64_t qn = qk == eng::qk_norm_kind::whole ? a.q_out() : a.head_dim;
    const std::int64_t kn = qk == eng::qk_norm_kind::whole ? a.kv_out() : a.head_dim;
    fill1(w.input_norm, a.hidden, 1, 1.0f);
    fill1(w.post_norm, a.hidden, 2, 1.0f);
    fill1(w.q_norm, qn, 3, 1.0f);
    fill1(w.k_norm, kn, 4, 1.0f);
    fill1(w.bias, a.experts, 5, 0.0f);
    fill2(w.qkv, a.qkv_out(), a.hidden, 6, 0.3f);
    fill2(w.o, a.hidden, a.q_out(), 7, 0.3f);
    fill2(w.router, a.experts, a.hidden, 8, 0.5f);
    w.w13.resize(static_cast<std::size_t>(a.experts));
    w.w2.resize(static_cast<std::size_t>(a.experts));
    for (int e = 0; e < a.experts; ++e) {
      fill2(w.w13[static_cast<std::size_t>(e)], 2 * a.inter, a.hidden, 10 + static_cast<std::uint64_t>(e), 0.3f);
      fill2(w.w2[static_cast<std::size_t>(e)], a.hidden, a.inter, 20 + static_cast<std::uint64_t>(e), 0.3f);
    }
    const std::int64_t S = 9, seqs = 2, n = seqs * S;
    const nn::rotary rope(a.rot_dim, 10000.0, S);
    const eng::decoder_layer layer(a, ref, rope, S);
    const auto x = randn(static_cast<std::size_t>(n * a.hidden), 200);
    eng::layer_tape tape;
    std::vector<float> out(x.size());
    layer.forward(w, x.data(), seqs, out.data(), tape);
    const auto routing = tape.rt.expert;
    auto f = [&](const std::vector<float>& xin, std::vector<float>& y) {
      eng::layer_tape t2;
      layer.forward(w, xin.data(), seqs, y.data(), t2);
      REQUIRE(t2.rt.expert == routing);  // the perturbation must not change the selection
    };
    auto b = [&](const std::vector<float>& r, std::vector<float>& dx) {
      layer.forward(w, x.data(), seqs, out.data(), tape);
      dx = r;
      layer.backward(w, tape, dx.data());
    };
    check_directional(x, out.size(), f, b, 1e-3, 3e-3, 300);
  }
}
