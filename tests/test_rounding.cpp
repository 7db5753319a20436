// Rounding policies (rounding/): laws that need no outside reference. The comparison with
// llm-compressor's own GPTQ is tests/test_gptq_llmc.cpp.
//   - RTN writes exactly what formats::encode writes, for every format with scale blocks
//   - the inverse Cholesky factor satisfies UᵀU·H = I and is upper triangular
//   - GPTQ with a diagonal Hessian is RTN (no error to spread); with a correlated one it
//     lowers tr(ΔW H ΔWᵀ) below RTN's
//   - the sweep never worsens its own objective, and the file decodes to the weight the
//     codes were chosen for (stored scales = scales used)
#include <catch2/catch.hpp>

#include <prismaquant/formats/list.hpp>
#include <prismaquant/rounding/gptq.hpp>
#include <prismaquant/rounding/output_error.hpp>
#include <prismaquant/rounding/rtn.hpp>
#include <prismaquant/rounding/scale_sweep.hpp>

#include <cmath>
#include <random>

namespace pf = prismaquant::formats;
namespace pr = prismaquant::rounding;

namespace {

pr::weight_matrix random_weight(std::int64_t rows, std::int64_t cols, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 0.02f);
  pr::weight_matrix w;
  w.rows = rows;
  w.cols = cols;
  w.name = "test.weight";
  w.values.resize(static_cast<std::size_t>(rows * cols));
  for (auto& v : w.values) v = n(g);
  w.values[3] = 0.11f;  // an outlier
  return w;
}

// H = XᵀX of correlated inputs, as activations are: a few shared directions plus noise.
std::vector<float> correlated_hessian(std::int64_t n, std::int64_t tokens, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  const int k = 8;
  std::vector<double> a(static_cast<std::size_t>(n * k));
  for (auto& v : a) v = nd(g);
  std::vector<double> h(static_cast<std::size_t>(n * n), 0.0);
  std::vector<double> x(static_cast<std::size_t>(n)), z(k);
  for (std::int64_t t = 0; t < tokens; ++t) {
    for (auto& v : z) v = nd(g);
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0.3 * nd(g);
      for (int m = 0; m < k; ++m) s += a[j * k + m] * z[m];
      x[j] = s;
    }
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) h[i * n + j] += x[i] * x[j];
  }
  return {h.begin(), h.end()};
}

template <class F>
void check_rtn_is_encode() {
  const auto w = random_weight(48, 256, 7);
  const pf::tensor_stats s = pf::measure(w.view());
  const pr::quantized<F> q = pr::rtn{}.quantize<F>(w, s, {});
  CHECK(q.encode() == pf::encode<F>(w.view(), s));
  CHECK(q.dequantize() == pf::decode<F>(q.encode()));
}

}  // namespace

TEST_CASE("RTN writes exactly what formats::encode writes", "[rounding]") {
  pf::all_formats::for_each([]<class F>() {
    if constexpr (pr::has_scale_blocks<F>) {
      INFO(F::name);
      check_rtn_is_encode<F>();
    }
  });
  check_rtn_is_encode<pf::mx_format<prismaquant::fp4_e2m1, pf::mx_scale_rule::ct>>();
}

TEST_CASE("inverse Cholesky factor: UᵀU = H⁻¹, upper triangular", "[rounding]") {
  const std::int64_t n = 40;
  const auto hf = correlated_hessian(n, 200, 3);
  std::vector<double> u(hf.begin(), hf.end());
  REQUIRE(pr::detail::inverse_cholesky_upper(u, n));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < i; ++j) REQUIRE(u[i * n + j] == 0.0);
  // (UᵀU) H = I
  double worst = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::int64_t k = 0; k < n; ++k) {
        double hinv_ik = 0;
        for (std::int64_t m = 0; m <= std::min(i, k); ++m) hinv_ik += u[m * n + i] * u[m * n + k];
        s += hinv_ik * hf[k * n + j];
      }
      worst = std::max(worst, std::abs(s - (i == j ? 1.0 : 0.0)));
    }
  CHECK(worst < 1e-9);
  std::vector<double> not_pd(static_cast<std::size_t>(n * n), 0.0);
  not_pd[0] = -1.0;
  CHECK_FALSE(pr::detail::inverse_cholesky_upper(not_pd, n));
}

TEST_CASE("GPTQ with a diagonal Hessian is round to nearest", "[rounding]") {
  const auto w = random_weight(32, 256, 11);
  std::vector<float> h(256 * 256, 0.0f);
  for (int j = 0; j < 256; ++j) h[j * 256 + j] = 1.0f + static_cast<float>(j % 5);
  const pr::calibration c{h.data(), 256};
  const pf::tensor_stats s = pf::measure(w.view());
  CHECK(pr::gptq{}.quantize<pf::nvfp4>(w, s, c).codes == pr::rtn{}.quantize<pf::nvfp4>(w, s, c).codes);
  CHECK(pr::gptq{}.quantize<pf::fp8_e4m3_channel>(w, s, c).codes ==
        pr::rtn{}.quantize<pf::fp8_e4m3_channel>(w, s, c).codes);
}

TEST_CASE("GPTQ lowers the output error below RTN, with the same scales", "[rounding]") {
  const auto w = random_weight(64, 256, 5);
  const auto h = correlated_hessian(256, 1024, 9);
  const pr::calibration c{h.data(), 256};
  const pf::tensor_stats s = pf::measure(w.view());
  auto check = [&]<class F>() {
    INFO(F::name);
    const auto r = pr::rtn{}.quantize<F>(w, s, c);
    for (bool act_order : {false, true}) {
      pr::gptq g;
      g.opt.act_order = act_order;
      g.opt.block = 64;  // several blocks: exercises the lazy block update
      const auto q = g.quantize<F>(w, s, c);
      // same plan: the file stores the scales the codes were chosen under
      CHECK(q.encode().tensors.size() == r.encode().tensors.size());
      for (std::size_t t = 0; t < q.encode().tensors.size(); ++t)
        if (q.encode().tensors[t].suffix != "weight_packed" && q.encode().tensors[t].suffix != "weight")
          CHECK(q.encode().tensors[t].bytes == r.encode().tensors[t].bytes);
      const double e_rtn = pr::output_error(w.values.data(), r.dequantize().data(), w.rows, w.cols, h.data());
      const double e_gptq = pr::output_error(w.values.data(), q.dequantize().data(), w.rows, w.cols, h.data());
      CHECK(e_gptq < 0.8 * e_rtn);
      CHECK(pf::decode<F>(q.encode()) == q.dequantize());
    }
  };
  check.operator()<pf::nvfp4>();
  check.operator()<pf::nvfp4a16>();
  check.operator()<pf::mx_format<prismaquant::fp4_e2m1, pf::mx_scale_rule::ct>>();
  check.operator()<pf::fp8_e4m3_channel>();
  check.operator()<pf::int4_w4a16_g128>();
}

TEST_CASE("GPTQ: dead columns quantize to zero; no Hessian is an error", "[rounding]") {
  auto w = random_weight(16, 64, 2);
  auto h = correlated_hessian(64, 300, 4);
  for (int k = 0; k < 64; ++k) h[5 * 64 + k] = h[k * 64 + 5] = 0.0f;  // input 5 never fires
  const pr::calibration c{h.data(), 64};
  const pf::tensor_stats s = pf::measure(w.view());
  const auto q = pr::gptq{}.quantize<pf::nvfp4>(w, s, c);
  for (int i = 0; i < 16; ++i) CHECK(q.codes[static_cast<std::size_t>(i * 64 + 5)] == 0);
  CHECK_THROWS_WITH(pr::gptq{}.quantize<pf::nvfp4>(w, s, {}), Catch::Contains("test.weight") && Catch::Contains("Hessian"));
  std::vector<float> small(32 * 32, 1.0f);
  CHECK_THROWS_WITH(pr::gptq{}.quantize<pf::nvfp4>(w, s, pr::calibration{small.data(), 32}),
                    Catch::Contains("input columns"));
}

TEST_CASE("scale sweep: never worse on its objective, stores the scales its codes used", "[rounding]") {
  const auto w = random_weight(32, 256, 13);
  const auto h = correlated_hessian(256, 512, 17);
  const pr::calibration c{h.data(), 256};
  const auto a2 = c.act_sq(256);
  const pf::tensor_stats s = pf::measure(w.view());
  auto objective = [&](const std::vector<float>& deq) {
    double e = 0;
    for (std::int64_t i = 0; i < w.rows; ++i)
      for (std::int64_t j = 0; j < w.cols; ++j) {
        const double d = w.values[i * w.cols + j] - deq[i * w.cols + j];
        e += a2[j] * d * d;
      }
    return e;
  };
  auto check = [&]<class F>() {
    INFO(F::name);
    const auto r = pr::rtn{}.quantize<F>(w, s, c);
    const auto sw = pr::swept<pr::rtn>{}.quantize<F>(w, s, c);
    CHECK(objective(sw.dequantize()) <= objective(r.dequantize()));
    CHECK(pf::decode<F>(sw.encode()) == sw.dequantize());
    CHECK((sw.encode() == pf::encode<F>(w.view(), s) || objective(sw.dequantize()) < objective(r.dequantize())));
    const auto sg = pr::swept<pr::gptq>{}.quantize<F>(w, s, c);
    CHECK(pf::decode<F>(sg.encode()) == sg.dequantize());
    CHECK(pr::swept<pr::gptq>{}.name() == "gptq+sweep");
  };
  check.operator()<pf::nvfp4>();
  check.operator()<pf::fp8_e4m3_channel>();
  check.operator()<pf::int4_w4a16_g128>();
  // NVFP4: a block whose codes all sit on the grid of a 0.8x scale picks a smaller scale
  pr::weight_matrix g;
  g.rows = 1; g.cols = 16; g.name = "grid.weight";
  const float vals[16] = {6, 4, 3, 2, 1.5, 1, 0.5, 0, -6, -4, -3, -2, -1.5, -1, -0.5, 0};
  for (float v : vals) g.values.push_back(v * 0.8f);
  g.values[0] = 6.5f * 0.8f;  // the block max sits between grid points of the default scale
  const auto base = pr::rtn{}.quantize<pf::nvfp4>(g, pf::measure(g.view()), {});
  const auto best = pr::swept<pr::rtn>{}.quantize<pf::nvfp4>(g, pf::measure(g.view()), {});
  auto sse = [&](const std::vector<float>& d) {
    double e = 0;
    for (int j = 0; j < 16; ++j) e += (g.values[j] - d[j]) * (g.values[j] - d[j]);
    return e;
  };
  CHECK(sse(best.dequantize()) < 0.5 * sse(base.dequantize()));
  CHECK(best.encode().at("weight_scale").bytes != base.encode().at("weight_scale").bytes);
  CHECK(best.encode().at("weight_global_scale").bytes == base.encode().at("weight_global_scale").bytes);
}
