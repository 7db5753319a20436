// Δloss proxies: formulas checked against a direct computation on explicit error matrices,
// consistency between proxies, compile-time needs, missing-statistic errors, NNLS and the
// calibrated-gain fit (NNLS against an exhaustive active-set search; scipy live in
// tests/live/test_nnls_scipy.py).
#include <catch2/catch.hpp>

#include <prismaquant/cost/request.hpp>
#include <prismaquant/proxies/calibrated_gain.hpp>
#include <prismaquant/proxies/registry.hpp>

#include <random>

namespace pq = prismaquant;
namespace px = prismaquant::proxy;


namespace st = prismaquant::stat;
// One vocabulary: what each proxy reads, and the cost pass's part of it.
static_assert(px::fisher_trace::needs::mask == st::list<st::fisher, st::sse>::mask);
static_assert(px::per_row_fisher::needs::mask == st::list<st::h_row, st::row_sse>::mask);
static_assert(px::act_weighted::needs::mask == st::list<st::fisher, st::xtx_diag, st::act_sse>::mask);
static_assert(px::calibrated_gain<px::per_row_fisher>::needs::mask.contains<st::row_sse>());
static_assert(px::delta_loss_proxy<px::calibrated_gain<px::fisher_trace>>);
static_assert(pq::cost::request_for<px::act_weighted::needs>::act_sse &&
              !pq::cost::request_for<px::act_weighted::needs>::sse);
static_assert(std::is_same_v<pq::cost::request_for<px::per_row_fisher::needs>, pq::cost::request<st::row_sse>>);
static_assert(px::act_weighted::needs::mask.only(st::stage::probe_linear) ==
              st::list<st::fisher, st::xtx_diag>::mask);
static_assert(px::fisher_trace_dloss(2.0, 8.0, 4.0) == 2.0);  // constexpr scalar math

namespace {
struct instance {
  pq::stats::linear_stats s;
  pq::stats::format_cost c;
  std::vector<double> E;  // error matrix out×in
  std::vector<double> h;  // per-row H
  std::vector<double> m;  // per-column E[x²]
};

instance make(std::mt19937_64& rng, int out, int in, bool uniform) {
  std::uniform_real_distribution<double> u(0.1, 2.0);
  std::normal_distribution<double> n(0.0, 0.01);
  instance I;
  I.s.name = "lin";
  I.s.out_features = out;
  I.s.in_features = in;
  I.s.rows_seen = 10;
  I.E.resize(static_cast<std::size_t>(out * in));
  for (auto& e : I.E) e = n(rng);
  I.h.resize(static_cast<std::size_t>(out));
  for (auto& v : I.h) v = uniform ? 0.5 : u(rng);
  I.m.resize(static_cast<std::size_t>(in));
  for (auto& v : I.m) v = uniform ? 3.0 : u(rng);
  double H = 0;
  for (double v : I.h) H += v;
  I.s.h_row_sum.resize(I.h.size());
  for (std::size_t r = 0; r < I.h.size(); ++r) I.s.h_row_sum[r] = I.h[r] * 10;
  I.s.fisher_sum = pq::stats::exact_sum(H * 10);
  I.s.xtx_diag.resize(I.m.size());
  for (std::size_t j = 0; j < I.m.size(); ++j) I.s.xtx_diag[j] = I.m[j] * 10;
  I.c.n = out * in;
  I.c.sse_row.assign(static_cast<std::size_t>(out), 0.0);
  double act = 0;
  for (int r = 0; r < out; ++r)
    for (int j = 0; j < in; ++j) {
      const double e2 = I.E[static_cast<std::size_t>(r * in + j)] * I.E[static_cast<std::size_t>(r * in + j)];
      I.c.sse_row[static_cast<std::size_t>(r)] += e2;
      I.c.sse += e2;
      act += I.m[static_cast<std::size_t>(j)] * e2;
      I.c.max_abs_err = std::max(I.c.max_abs_err, std::sqrt(e2));
    }
  I.c.act_sse = act;
  return I;
}
}  // namespace

TEST_CASE("proxies against a direct elementwise computation") {
  std::mt19937_64 rng(5);
  for (int t = 0; t < 20; ++t) {
    auto I = make(rng, 7 + t, 16, false);
    const int out = static_cast<int>(I.s.out_features), in = static_cast<int>(I.s.in_features);
    double H = 0, mbar = 0;
    for (double v : I.h) H += v;
    for (double v : I.m) mbar += v / in;
    // Elementwise Fisher diagonal models, summed over every weight:
    //   fisher_trace:   F_rj = H / n             (trace spread evenly)
    //   per_row_fisher: F_rj = H_r / in          (each row's share spread over its columns)
    //   act_weighted:   F_rj = (H / n)·m_j / m̄   (trace spread in proportion to column energy)
    double ft = 0, pr = 0, aw = 0;
    for (int r = 0; r < out; ++r)
      for (int j = 0; j < in; ++j) {
        const double e2 = std::pow(I.E[static_cast<std::size_t>(r * in + j)], 2);
        ft += 0.5 * (H / (out * in)) * e2;
        pr += 0.5 * (I.h[static_cast<std::size_t>(r)] / in) * e2;
        aw += 0.5 * (H / (out * in)) * (I.m[static_cast<std::size_t>(j)] / mbar) * e2;
      }
    REQUIRE(px::fisher_trace{}(I.s, "F", I.c) == Approx(ft).epsilon(1e-12));
    REQUIRE(px::per_row_fisher{}(I.s, "F", I.c) == Approx(pr).epsilon(1e-12));
    REQUIRE(px::act_weighted{}(I.s, "F", I.c) == Approx(aw).epsilon(1e-12));
  }
}

TEST_CASE("per-row and activation-weighted proxies reduce to fisher_trace when uniform") {
  std::mt19937_64 rng(6);
  auto I = make(rng, 9, 32, true);
  // uniform H_r but non-uniform SSE_r: per_row == trace holds only when H_r is uniform
  const double ft = px::fisher_trace{}(I.s, "F", I.c);
  REQUIRE(px::per_row_fisher{}(I.s, "F", I.c) == Approx(ft).epsilon(1e-12));
  REQUIRE(px::act_weighted{}(I.s, "F", I.c) == Approx(ft).epsilon(1e-12));
}

TEST_CASE("a proxy refuses costs that lack the statistics it declared") {
  std::mt19937_64 rng(7);
  auto I = make(rng, 5, 16, false);
  auto c = I.c;
  c.sse_row.clear();
  c.act_sse.reset();
  REQUIRE_THROWS_WITH(px::per_row_fisher{}(I.s, "NVFP4", c), Catch::Contains("needs per-row SSE"));
  REQUIRE_THROWS_WITH(px::act_weighted{}(I.s, "NVFP4", c), Catch::Contains("needs act_sse"));
  auto s = I.s;
  s.h_row_sum.clear();
  REQUIRE_THROWS_WITH(px::per_row_fisher{}(s, "NVFP4", I.c), Catch::Contains("h_row_sum"));
  REQUIRE_NOTHROW(px::fisher_trace{}(s, "NVFP4", c));
  REQUIRE(px::proxy_by_name("act_weighted").needs() == px::act_weighted::needs::mask);
  REQUIRE(px::proxy_by_name("act_weighted")(I.s, "F", I.c) == px::act_weighted{}(I.s, "F", I.c));
  REQUIRE_THROWS_WITH(px::proxy_by_name("nope"), Catch::Contains("known: fisher_trace"));
  REQUIRE((st::list<st::sse, st::row_sse>::mask).names() == "sse, sse_row");
}

// Exhaustive NNLS: the optimum is the unconstrained least squares on some support set whose
// solution is non-negative; try every support (outside reference for small n).
static double lsq_objective(const std::vector<double>& A, std::size_t m, std::size_t n, const std::vector<double>& b,
                            const std::vector<double>& x) {
  double s = 0;
  for (std::size_t i = 0; i < m; ++i) {
    double r = b[i];
    for (std::size_t j = 0; j < n; ++j) r -= A[i * n + j] * x[j];
    s += r * r;
  }
  return s;
}

TEST_CASE("NNLS equals an exhaustive search over supports") {
  std::mt19937_64 rng(8);
  std::normal_distribution<double> nd(0.0, 1.0);
  for (int t = 0; t < 300; ++t) {
    const std::size_t m = 3 + rng() % 8, n = 1 + rng() % 6;
    std::vector<double> A(m * n), b(m);
    for (auto& v : A) v = nd(rng);
    for (auto& v : b) v = nd(rng);
    const auto r = px::nnls(A, m, n, b);
    for (double v : r.x) REQUIRE(v >= 0.0);
    double best = lsq_objective(A, m, n, b, std::vector<double>(n, 0.0));
    for (std::size_t mask = 1; mask < (1u << n); ++mask) {
      std::vector<std::size_t> cols;
      for (std::size_t j = 0; j < n; ++j)
        if (mask >> j & 1) cols.push_back(j);
      if (cols.size() > m) continue;
      const auto z = px::detail::lstsq_cols(A, m, n, b, cols);
      std::vector<double> x(n, 0.0);
      bool ok = true;
      for (std::size_t c = 0; c < cols.size(); ++c) { x[cols[c]] = z[c]; ok = ok && z[c] >= 0; }
      if (ok) best = std::min(best, lsq_objective(A, m, n, b, x));
    }
    REQUIRE(lsq_objective(A, m, n, b, r.x) == Approx(best).epsilon(1e-9).margin(1e-12));
  }
}

TEST_CASE("calibrated gains recover per-format gains from measured points") {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const std::map<std::string, double> truth = {{"BF16", 0.0}, {"MXFP8_E4M3", 0.7}, {"NVFP4", 2.5}};
  std::vector<px::dloss_measurement> pts;
  for (int i = 0; i < 12; ++i) {
    px::dloss_measurement p;
    for (auto& [f, g] : truth) {
      p.base_dloss_by_format[f] = u(rng);
      p.measured += g * p.base_dloss_by_format[f];
    }
    pts.push_back(p);
  }
  auto cg = px::calibrated_gain<px::fisher_trace>::fit(pts);
  for (auto& [f, g] : truth) REQUIRE(cg.gain(f) == Approx(g).margin(1e-9));
  REQUIRE(cg.residual_norm < 1e-9);
  REQUIRE(cg.gain("UNSEEN") == 1.0);
  // Decorated proxy: gain × base.
  auto I = [&] { std::mt19937_64 r2(1); return make(r2, 4, 16, false); }();
  REQUIRE(cg(I.s, "NVFP4", I.c) == Approx(2.5 * px::fisher_trace{}(I.s, "NVFP4", I.c)));
  // A format whose best gain would be negative is clamped at zero by NNLS.
  std::vector<px::dloss_measurement> neg = {{{{"A", 1.0}, {"B", 1.0}}, 0.5}, {{{"A", 2.0}, {"B", 0.0}}, 2.0},
                                            {{{"A", 0.0}, {"B", 1.0}}, -1.0}};
  auto cn = px::calibrated_gain<px::fisher_trace>::fit(neg);
  REQUIRE(cn.gain("B") == 0.0);
  REQUIRE(cn.gain("A") > 0.0);
  REQUIRE_THROWS_AS(px::calibrated_gain<px::fisher_trace>::fit({}), pq::error);
}

TEST_CASE("per_token_fisher: the trace proxy with the per-token empirical Fisher") {
  // Per-token gradients g_t = δ_t x_tᵀ of one batch of T tokens: the per-token trace
  // Σ_t ‖g_t‖² = Σ_t ‖δ_t‖²‖x_t‖², the per-batch one ‖Σ_t g_t‖² (with cross terms).
  std::mt19937_64 rng(11);
  std::normal_distribution<double> n(0.0, 1.0);
  const int out = 5, in = 7, T = 6;
  std::vector<std::vector<double>> d(T, std::vector<double>(out)), x(T, std::vector<double>(in));
  for (auto& v : d)
    for (auto& e : v) e = n(rng);
  for (auto& v : x)
    for (auto& e : v) e = n(rng);
  double token = 0, batch = 0;
  for (int r = 0; r < out; ++r)
    for (int j = 0; j < in; ++j) {
      double g = 0;
      for (int t = 0; t < T; ++t) {
        token += std::pow(d[t][r] * x[t][j], 2);
        g += d[t][r] * x[t][j];
      }
      batch += g * g;
    }
  pq::stats::linear_stats s;
  s.name = "lin";
  s.out_features = out;
  s.in_features = in;
  s.rows_seen = T;
  s.fisher_sum = pq::stats::exact_sum(batch);
  s.fisher_token_sum = pq::stats::exact_sum(token);
  pq::stats::format_cost c;
  c.n = out * in;
  c.sse = 0.35;
  const double mse = c.sse / c.n;
  REQUIRE(px::per_token_fisher{}(s, "F", c) == Approx(0.5 * token / T * mse).epsilon(1e-12));
  REQUIRE(px::fisher_trace{}(s, "F", c) == Approx(0.5 * batch / T * mse).epsilon(1e-12));
  REQUIRE(px::proxy_by_name("per_token_fisher").name() == "per_token_fisher");
  s.fisher_token_sum.reset();
  REQUIRE_THROWS_WITH(px::per_token_fisher{}(s, "NVFP4", c), Catch::Contains("fisher_token_sum"));
}
