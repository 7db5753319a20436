// Format recipes against outside references: worked examples from papers/ct-recipe.md
// (derived from compressed-tensors itself, §1.4 and §1.8), CT's pack_to_int32 docstring,
// and brute force (nearest grid value by exhaustive search; libm log2/floor/ceil/nearbyint)
// on many random values. Byte-for-byte parity with CT's own output is tests/test_ct_parity.cpp.
#include <prismaquant/formats/all.hpp>

#include <catch2/catch.hpp>

#include <cfenv>
#include <cmath>
#include <random>

namespace fm = prismaquant::formats;
namespace pq = prismaquant;

TEST_CASE("NVFP4 worked example (ct-recipe.md §1.8)", "[formats][nvfp4]") {
  const float row[16] = {0, .25f, .5f, -.75f, 1, 1.25f, -1.5f, 2, 2.5f, -3, 3.5f, 4, -5, 6, 7, -12};
  const auto e = fm::encode<fm::nvfp4>(fm::weight_view(row, 1, 16, "t"));
  CHECK(e.at("weight_global_scale").get<float>(0) == 224.0f);
  CHECK(e.at("weight_scale").bytes == std::vector<std::uint8_t>{0x7E});
  CHECK(e.at("weight_packed").bytes == std::vector<std::uint8_t>{0x00, 0x90, 0x11, 0x2A, 0xB2, 0x44, 0x5C, 0xF6});
  CHECK(e.at("input_global_scale").get<float>(0) == 1.0f);  // no activation amax given
  CHECK_FALSE(fm::encode<fm::nvfp4a16>(fm::weight_view(row, 1, 16, "t")).contains("input_global_scale"));
}

TEST_CASE("NVFP4 nibble packing (ct-recipe.md §1.4)", "[formats][nvfp4]") {
  // pack_fp4_to_uint8([-0.5,-6,-0.5,-1.5,-1,6,0,-0]) -> F9 B9 7A 80 (the -0 here is a
  // negative value that rounded to zero: code 0x8)
  const float v[8] = {-0.5f, -6, -0.5f, -1.5f, -1, 6, 0, -0.1f};
  auto e = fm::encoded_weight::allocate(1, 8, fm::nvfp4::layout(1, 8, {}));
  fm::nvfp4::block_params unit;
  unit.eff = 1.0f;
  for (int j = 0; j < 8; ++j) fm::nvfp4::store_code(e, 0, j, fm::nvfp4::quantize(unit, v[j]));
  CHECK(e.tensors[0].bytes == std::vector<std::uint8_t>{0xF9, 0xB9, 0x7A, 0x80});
  CHECK(fm::nvfp4::quantize(unit, -0.0f) == 0x0);  // CT: an input -0.0 packs as +0
}

TEST_CASE("NVFP4 bf16 recipe: ct-recipe.md §1.3 worked example", "[formats][nvfp4]") {
  // tensor amax 42.75 -> gs = 63; block amax 0.01282 (bf16) -> s_f = 0.140625;
  // w = 0.00390625 -> w / (s_f / gs) = 1.7499999 -> 1.5 (code 3), not the tie 1.75 -> 2.
  std::vector<pq::bf16> w(32, pq::bf16::from_float(0.0f));
  w[0] = pq::bf16::from_float(42.75f);
  w[16] = pq::bf16::from_float(0.01282f);
  w[17] = pq::bf16::from_float(0.00390625f);
  const auto e = fm::encode<fm::nvfp4a16>(fm::weight_view(w.data(), 1, 32, "t"));
  CHECK(e.at("weight_global_scale").get<float>(0) == 63.0f);
  CHECK(pq::fp8_e4m3::from_bits(e.at("weight_scale").bytes[1]).to_float() == 0.140625f);
  CHECK((e.at("weight_packed").bytes[8] >> 4) == 0x3);
  // the global scale rounds through bf16 twice: bf16(bf16(1/A) * 2688)
  const float A = pq::bf16::from_float(0.3f).to_float();
  const float r = pq::bf16::from_float(1.0f / A).to_float();
  CHECK(fm::nvfp4::prepare(fm::tensor_stats{A, pq::dtype::BF16}).global_scale == pq::bf16::from_float(r * 2688.0f).to_float());
  // zero tensor: gs = 1 (bf16 overflow), all blocks 0x20
  std::vector<pq::bf16> z(32, pq::bf16::from_float(0.0f));
  const auto ez = fm::encode<fm::nvfp4a16>(fm::weight_view(z.data(), 1, 32, "z"));
  CHECK(ez.at("weight_global_scale").get<float>(0) == 1.0f);
  CHECK(ez.at("weight_scale").bytes == std::vector<std::uint8_t>{0x20, 0x20});
}

namespace {
// Nearest value of a sorted non-negative grid (codes = index), ties to the even index.
unsigned nearest_even(const std::vector<double>& grid, double a) {
  unsigned best = 0;
  for (unsigned k = 1; k < grid.size(); ++k) {
    const double db = std::fabs(grid[best] - a), dk = std::fabs(grid[k] - a);
    if (dk < db || (dk == db && (k % 2 == 0))) best = k;
  }
  return best;
}
}  // namespace

TEST_CASE("fp4 element rounding equals brute force on the E2M1 grid", "[formats][nvfp4][mx]") {
  const std::vector<double> grid{0, .5, 1, 1.5, 2, 3, 4, 6};
  std::mt19937 g(1);
  std::uniform_real_distribution<float> u(-7.0f, 7.0f);
  fm::nvfp4::block_params unit;
  unit.eff = 1.0f;
  int n = 0;
  for (int k = 0; k < 200000; ++k) {
    float x = k < 64 ? static_cast<float>(k - 32) * 0.25f : u(g);  // all quarter-step ties too
    const double a = std::min(std::fabs(static_cast<double>(x)), 6.0);
    const unsigned mag = nearest_even(grid, a);
    const unsigned expect = x == 0.0f ? 0u : ((x < 0 ? 8u : 0u) | mag);
    n += fm::nvfp4::quantize(unit, x) == expect;
  }
  CHECK(n == 200000);
}

TEST_CASE("MX shared exponents equal the rules computed with libm", "[formats][mx]") {
  std::mt19937 g(2);
  std::uniform_real_distribution<float> m(1.0f, 2.0f);
  std::uniform_int_distribution<int> ex(-130, 126);
  auto check = [&]<class Elem>(int emax, double maxv) {
    for (int k = 0; k < 100000; ++k) {
      const float a = std::ldexp(m(g), ex(g));
      if (!(a > 0) || !std::isfinite(a)) continue;
      const double l = std::log2(static_cast<double>(a));
      auto clamp = [](double e) { return static_cast<int>(std::max(-127.0, std::min(127.0, e))); };
      const int floor_e = clamp(std::floor(l) - emax);
      int rceil_e = static_cast<int>(std::ceil(std::log2(static_cast<double>(a) / maxv)));
      if (maxv * std::ldexp(1.0, rceil_e) < a) ++rceil_e;  // guard log2 rounding
      if (maxv * std::ldexp(1.0, rceil_e - 1) >= a) --rceil_e;
      int fe = 0;
      const double frac = std::frexp(static_cast<double>(a), &fe) * 2.0;  // in [1, 2)
      const int ct_e = clamp((fe - 1) + (frac >= 1.75 ? 1 : 0) - emax);
      REQUIRE(fm::mx_shared_exponent<Elem>(fm::mx_scale_rule::ocp_floor, a) == floor_e);
      REQUIRE(fm::mx_shared_exponent<Elem>(fm::mx_scale_rule::rceil, a) == std::max(-127, std::min(127, rceil_e)));
      if (std::fpclassify(a) == FP_NORMAL) REQUIRE(fm::mx_shared_exponent<Elem>(fm::mx_scale_rule::ct, a) == ct_e);
    }
    CHECK(fm::mx_shared_exponent<Elem>(fm::mx_scale_rule::ocp_floor, 0.0f) == -127);
    CHECK(fm::mx_shared_exponent<Elem>(fm::mx_scale_rule::ct, 0.0f) == -127);
  };
  check.operator()<pq::fp4_e2m1>(2, 6.0);
  check.operator()<pq::fp6_e2m3>(2, 7.5);
  check.operator()<pq::fp6_e3m2>(4, 28.0);
  check.operator()<pq::fp8_e4m3>(8, 448.0);
  check.operator()<pq::fp8_e5m2>(15, 57344.0);
}

TEST_CASE("CT pack_to_int32 layout (docstring example, zero points along dim 0)", "[formats][int]") {
  // pack_to_int32([1, 2], num_bits=8) == 33409: codes 129, 130 at bits 0 and 8
  pq::formats::encoded_tensor t{"p", pq::dtype::I32, {1, 1}, std::vector<std::uint8_t>(4, 0)};
  fm::detail::store_packed(t, 8, 2, 0, 0, 1 + 128);
  fm::detail::store_packed(t, 8, 2, 0, 1, 2 + 128);
  CHECK(t.get<std::int32_t>(0) == 33409);
  // 3 bits: 10 codes per word, the 11th starts the next word; rows are padded
  pq::formats::encoded_tensor u{"p", pq::dtype::I32, {2, 2}, std::vector<std::uint8_t>(16, 0)};
  for (int j = 0; j < 11; ++j) fm::detail::store_packed(u, 3, 11, 1, j, 7);
  CHECK(u.get<std::int32_t>(0) == 0);
  CHECK(u.get<std::uint32_t>(2) == 0x3FFFFFFFu);
  CHECK(u.get<std::uint32_t>(3) == 7u);
}

TEST_CASE("INT formats quantize like nearbyint on clamp(x / eff + zp)", "[formats][int]") {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  std::mt19937 g(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  auto check = [&]<class F>() {
    for (int rep = 0; rep < 200; ++rep) {
      fm::block_range r;
      std::vector<float> xs(64);
      for (auto& x : xs) r.add(x = n(g) + (F::symmetric ? 0.0f : 0.7f));
      const auto bp = F::block_scale(typename F::tensor_params{}, r);
      for (float x : xs) {
        const double v = std::max<double>(F::qmin, std::min<double>(F::qmax, x / bp.eff + bp.zp));
        const int q = static_cast<int>(std::nearbyint(v));
        REQUIRE(static_cast<int>(F::quantize(bp, x)) + F::qmin == q);
        REQUIRE(F::dequantize(bp, F::quantize(bp, x)) == (static_cast<float>(q) - bp.zp) * bp.eff);
      }
      if constexpr (F::symmetric) {  // amax maps to qmax: the block's extreme is on the grid
        CHECK(std::fabs(bp.eff * F::qmax - r.amax()) <= r.amax() * 0.01f);
      }
    }
  };
  check.operator()<fm::int4_w4a16_g128>();
  check.operator()<fm::int8_w8a16>();
  check.operator()<fm::int4_w4a16_asym_g128>();
  check.operator()<fm::int8_w8a16_asym>();
}

TEST_CASE("shape legality and CT tensor names", "[formats]") {
  std::vector<float> w(4 * 48, 0.5f);
  CHECK_THROWS_WITH(fm::encode<fm::nvfp4>(fm::weight_view(w.data(), 4, 24, "m.w")),
                    Catch::Contains("m.w") && Catch::Contains("divisible by 16"));
  CHECK_THROWS_WITH(fm::encode<fm::mxfp4>(fm::weight_view(w.data(), 4, 48, "m.w")), Catch::Contains("divisible by 32"));
  const auto e = fm::encode<fm::int4_w4a16_asym_g128>(fm::weight_view(w.data(), 2, 96, "m.w"));
  CHECK(e.at("weight_shape").get<std::int64_t>(0) == 2);
  CHECK(e.at("weight_shape").get<std::int64_t>(1) == 96);
  CHECK(e.contains("weight_zero_point"));
  CHECK(e.at("weight_zero_point").shape == std::vector<std::int64_t>{1, 1});
  std::vector<pq::bf16> b(8 * 64, pq::bf16::from_float(0.25f));
  const auto f8 = fm::encode<fm::fp8_e4m3_channel>(fm::weight_view(b.data(), 8, 64, "m.w"));
  CHECK(f8.at("weight_scale").type == pq::dtype::BF16);  // the weight's dtype, as CT
  CHECK(f8.at("weight_scale").shape == std::vector<std::int64_t>{8, 1});
  CHECK(f8.total_bytes() == fm::fp8_e4m3_channel::storage_bytes(8, 64));
  CHECK(fm::encode<fm::fp8_e4m3_tensor>(fm::weight_view(b.data(), 8, 64, "m.w")).at("weight_scale").shape ==
        std::vector<std::int64_t>{1});
}
