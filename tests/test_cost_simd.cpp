// The host SIMD round trips (cost/simd.hpp) and their scalar twins (cost/element.hpp) against
// the formats' own scalar round trip (formats::round_trip<F>): bit-exact on random, tie, tiny,
// huge and edge values, for every built-in format and every MX scale-rule variant, at every
// SIMD width this build has (cost/simd_arch.hpp: the ISA levels compiled in and run by this CPU).
#include <prismaquant/cost/element.hpp>
#include <prismaquant/cost/simd.hpp>
#include <prismaquant/formats/list.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;

template <class L> struct as_tuple;
template <class... F> struct as_tuple<fm::format_list<F...>> { using type = std::tuple<F...>; };
using all_tuple = as_tuple<fm::all_formats>::type;
using variants_tuple = as_tuple<fm::mx_rule_variants>::type;

static std::uint32_t bits_of(float f) { std::uint32_t u; std::memcpy(&u, &f, 4); return u; }

// Under an emulator (PQ_EMULATED=1, set by cmake/aarch64-linux-gnu.cmake for QEMU, whose
// floating point is ~100x slower than the hardware's) the sweeps take a sparser sample.
static bool emulated() {
  const char* e = std::getenv("PQ_EMULATED");
  return e && std::string(e) == "1";
}

// f.template operator()<A>() for every xsimd architecture of the build that this CPU runs.
template <class Fn>
static void for_each_arch(Fn&& f) {
  pq::cost::simd::level_archs([&]<class A>() {
    if constexpr (!std::is_same_v<A, pq::cost::simd::scalar>)
      if (pq::cost::simd::cpu_has<A>()) f.template operator()<A>();
  });
}
static float from_bits(std::uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// Values that probe the rounding: random magnitudes over the whole float32 range, values on
// and next to every grid tie of the scaled element, zeros of both signs, subnormals.
template <class F, class A>
static void check_format() {
  namespace simd = pq::cost::simd;
  constexpr int W = simd::width_of<A>;
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-40, 40);
  std::uniform_int_distribution<std::uint32_t> anybits(0, 0xFFFFFFFFu);
  const fm::tensor_stats ts_list[] = {{1.0f, pq::dtype::BF16, 0.0f}, {3.7e-3f, pq::dtype::F32, 0.0f},
                                      {1e30f, pq::dtype::F32, 0.0f}, {0.0f, pq::dtype::F16, 0.0f}};
  std::int64_t mismatches = 0, checked = 0;
  for (const auto& ts : ts_list) {
    const auto tp = F::prepare(ts);
    const int blocks = emulated() ? 60 : 400;
    for (int blk = 0; blk < blocks; ++blk) {
      // a block range: random scale, sometimes zero, sometimes one-sided
      const float scale = std::ldexp(1.0f, expo(rng)) * (0.5f + std::fabs(uni(rng)));
      fm::block_range r;
      const int kind = blk % 5;
      if (kind == 0) r = {0.0f, 0.0f};
      else if (kind == 1) r = {-scale, 0.0f};
      else if (kind == 2) r = {0.0f, scale};
      else r = {-scale * std::fabs(uni(rng)), scale * std::fabs(uni(rng))};
      const auto bp = F::block_scale(tp, r);
      std::vector<float> xs;
      for (int k = 0; k < 64; ++k) xs.push_back(uni(rng) * scale);
      for (int k = 0; k < 16; ++k) xs.push_back(uni(rng) * scale * 1e3f);     // saturating
      for (int k = 0; k < 16; ++k) xs.push_back(uni(rng) * scale * 1e-6f);    // underflow
      // the switching points between neighbouring outputs (found by bisection): the last
      // input that rounds down, the first that rounds up, and the midpoint of the outputs
      for (int k = 0; k < 24; ++k) {
        const float a = fm::round_trip<F>(bp, uni(rng) * scale);
        float lo = a, hi = a, d = std::fabs(a) * 1e-7f + 1e-30f;
        for (int it = 0; it < 300 && fm::round_trip<F>(bp, hi) == a; ++it, d *= 2.0f) hi = a + d;
        if (!(fm::round_trip<F>(bp, hi) != a) || !std::isfinite(hi)) continue;
        while (std::nextafter(lo, hi) != hi) {
          const float mid = lo + (hi - lo) * 0.5f;
          if (mid == lo || mid == hi) break;
          (fm::round_trip<F>(bp, mid) == a ? lo : hi) = mid;
        }
        xs.push_back(lo);
        xs.push_back(hi);
        xs.push_back(0.5f * (a + fm::round_trip<F>(bp, hi)));
        xs.push_back(-lo);
        xs.push_back(-hi);
      }
      for (int k = 0; k < 16; ++k) {  // arbitrary finite bit patterns
        float f = from_bits(anybits(rng));
        if (!std::isfinite(f)) f = 0.0f;
        xs.push_back(f);
      }
      xs.push_back(0.0f); xs.push_back(-0.0f); xs.push_back(from_bits(1)); xs.push_back(-from_bits(0x007FFFFF));
      xs.push_back(3.4028235e38f); xs.push_back(-3.4028235e38f);
      while (xs.size() % W) xs.push_back(0.0f);
      for (std::size_t i = 0; i < xs.size(); i += W) {
        const auto y = simd::simd_round_trip<F>::apply(bp, simd::vf<A>::load_unaligned(&xs[i]));
        alignas(64) float out[W];
        y.store_aligned(out);
        for (int k = 0; k < W; ++k) {
          const float ref = fm::round_trip<F>(bp, xs[i + k]);
          ++checked;
          // equal values (+0 == -0 allowed only when both are zeros; the error is the same)
          if (!(out[k] == ref) && !(std::isnan(out[k]) && std::isnan(ref))) {
            if (mismatches < 5)
              WARN(F::name << ": x=" << xs[i + k] << " (0x" << std::hex << bits_of(xs[i + k]) << std::dec
                           << ") simd=" << out[k] << " ref=" << ref);
            ++mismatches;
          }
          // the scalar twin (cost/element.hpp: CUDA threads and CPU row tails)
          const float sc = pq::cost::element_round_trip<F>(bp, xs[i + k]);
          if (!(sc == ref) && !(std::isnan(sc) && std::isnan(ref))) {
            if (mismatches < 5)
              WARN(F::name << ": x=" << xs[i + k] << " (0x" << std::hex << bits_of(xs[i + k]) << std::dec
                           << ") scalar element=" << sc << " ref=" << ref);
            ++mismatches;
          }
        }
      }
    }
  }
  INFO(F::name << " at " << simd::level_name<A>() << " vectorised=" << simd::simd_round_trip<F>::vectorised
               << " checked " << checked);
  CHECK(checked > (emulated() ? 1500 : 10000));
  CHECK(mismatches == 0);
}

TEMPLATE_LIST_TEST_CASE("SIMD round trip equals the scalar format math", "[cost][simd]", all_tuple) {
  STATIC_REQUIRE(pq::cost::simd::simd_round_trip<TestType>::vectorised);
  for_each_arch([]<class A>() { check_format<TestType, A>(); });
}

TEMPLATE_LIST_TEST_CASE("SIMD round trip equals the scalar format math (MX rule variants)", "[cost][simd]",
                        variants_tuple) {
  for_each_arch([]<class A>() { check_format<TestType, A>(); });
}

template <class F, class A>
static void check_block_params() {
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-60, 30);
  const pq::dtype sources[] = {pq::dtype::BF16, pq::dtype::F16, pq::dtype::F32};
  std::int64_t bad = 0, n = 0;
  for (auto src : sources)
    for (float tamax : {1.0f, 0.02f, 7e-5f, 3000.0f}) {
      const auto tp = F::prepare(fm::tensor_stats{tamax, src, 0.0f});
      std::vector<float> lo, hi;
      for (int b = 0; b < 203; ++b) {
        const float m = tamax * std::ldexp(uni(rng), b % 7 == 0 ? expo(rng) : 0);
        const int kind = b % 6;
        lo.push_back(kind == 0 ? 0.0f : kind == 1 ? -m : -m * uni(rng));
        hi.push_back(kind == 0 ? 0.0f : kind == 2 ? m : m * uni(rng));
        if (kind == 3) lo.back() = 0.0f;
        if (b % 11 == 5) { lo.back() = -0x1p-140f; hi.back() = 0x1p-133f; }  // float32 subnormals
      }
      std::vector<typename F::block_params> out(lo.size());
      pq::cost::simd::simd_block_params<F>::template compute<A>(tp, lo.data(), hi.data(),
                                                                static_cast<std::int64_t>(lo.size()), out.data());
      for (std::size_t b = 0; b < lo.size(); ++b) {
        const auto ref = F::block_scale(tp, fm::block_range{lo[b], hi[b]});
        ++n;
        bool same = true;  // every field the seed formats' block params have
        const auto& got = out[b];
        if constexpr (requires { ref.eff; }) same = same && bits_of(ref.eff) == bits_of(got.eff);
        if constexpr (requires { ref.scale; }) same = same && bits_of(ref.scale) == bits_of(got.scale);
        if constexpr (requires { ref.zp; }) same = same && bits_of(ref.zp) == bits_of(got.zp);
        if constexpr (requires { ref.scale_code; }) same = same && ref.scale_code == got.scale_code;
        if (!same) {
          if (bad < 3) WARN(F::name << " block [" << lo[b] << ", " << hi[b] << "]");
          ++bad;
        }
      }
    }
  INFO(F::name << " at " << pq::cost::simd::level_name<A>()
               << " vectorised=" << pq::cost::simd::simd_block_params<F>::vectorised);
  CHECK(n > 2000);
  CHECK(bad == 0);
}

TEMPLATE_LIST_TEST_CASE("SIMD block params equal the scalar block_scale", "[cost][simd]", all_tuple) {
  for_each_arch([]<class A>() { check_block_params<TestType, A>(); });
}

// The element rounding itself, over a stride of all 2^32 float32 bit patterns (NaN excluded;
// +-inf saturate): SIMD minifloat_round<Elem> against Elem::from_float(y).to_float(), and the
// CT double rounding round_via<Elem, bf16 | f16> against the scalar round_through and cast. Numeric equality (a value rounding to zero may come back +0 where the codec gives -0).
using elem_tuple = std::tuple<pq::fp4_e2m1, pq::fp6_e2m3, pq::fp6_e3m2, pq::fp8_e4m3, pq::fp8_e5m2, pq::fp16, pq::bf16>;
// The values of a block: the codec's results once (and the scalar twins checked against them),
// then every SIMD width against those.
template <class TestType>
static void check_rounding() {
  namespace simd = pq::cost::simd;
  // prime: every exponent, and mantissas of every residue (under emulation ~1 M values)
  const std::uint64_t stride = emulated() ? 4093 : 251;
  constexpr bool cast_ok = TestType::max_finite() <= 57344.0f;  // round_via is defined for such casts
  constexpr std::size_t block = 4096;
  std::vector<float> in, ref, ref2, ref3;
  std::int64_t bad = 0, checked = 0;
  std::vector<std::string> widths;
  auto flush = [&] {
    const std::size_t n = in.size();
    ref.resize(n);
    ref2.resize(n);
    ref3.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      ref[k] = TestType::from_float(in[k]).to_float();
      ref2[k] = TestType::from_float(fm::detail::round_through(pq::dtype::BF16, in[k])).to_float();
      ref3[k] = TestType::from_float(fm::detail::round_through(pq::dtype::F16, in[k])).to_float();
      if constexpr (TestType::max_finite() <= 65504.0f) {  // the scalar twins (not bf16: EMAX 127)
        bool ok = pq::cost::element::minifloat_round<TestType>(in[k]) == ref[k];
        if constexpr (cast_ok)
          ok = ok && pq::cost::element::round_via<TestType>(pq::dtype::BF16, in[k]) == ref2[k] &&
               pq::cost::element::round_via<TestType>(pq::dtype::F16, in[k]) == ref3[k];
        if (!ok && ++bad <= 5) WARN("scalar element twin differs at x=" << in[k]);
      }
    }
    for_each_arch([&]<class A>() {
      constexpr int W = simd::width_of<A>;
      alignas(64) float x[W], out[W], out2[W], out3[W];
      for (std::size_t k0 = 0; k0 < n; k0 += W) {
        const int m = static_cast<int>(std::min<std::size_t>(W, n - k0));
        for (int k = 0; k < W; ++k) x[k] = k < m ? in[k0 + static_cast<std::size_t>(k)] : 0.0f;
        const auto y = simd::vf<A>::load_aligned(x);
        simd::minifloat_round<TestType>(y).store_aligned(out);
        if constexpr (cast_ok) {
          simd::round_via<TestType, pq::dtype::BF16>(y).store_aligned(out2);
          simd::round_via<TestType, pq::dtype::F16>(y).store_aligned(out3);
        }
        for (int k = 0; k < m; ++k) {
          const std::size_t i = k0 + static_cast<std::size_t>(k);
          if (!(out[k] == ref[i]) || (cast_ok && (!(out2[k] == ref2[i]) || !(out3[k] == ref3[i])))) {
            if (++bad <= 5)
              WARN(simd::level_name<A>() << " x=" << x[k] << " (0x" << std::hex << bits_of(x[k]) << std::dec
                                         << "): " << out[k] << " vs " << ref[i] << ", via bf16 " << out2[k] << " vs "
                                         << ref2[i] << ", via f16 " << out3[k] << " vs " << ref3[i]);
          }
          ++checked;
        }
      }
      if (widths.size() < 8 && std::find(widths.begin(), widths.end(), simd::level_name<A>()) == widths.end())
        widths.emplace_back(simd::level_name<A>());
    });
    in.clear();
  };
  for (std::uint64_t b = 0; b < (1ull << 32); b += stride) {
    const float f = from_bits(static_cast<std::uint32_t>(b));
    if (std::isnan(f)) continue;
    in.push_back(f);
    if (in.size() == block) flush();
  }
  for (float f : {0.0f, -0.0f, INFINITY, -INFINITY, TestType::max_finite(), -TestType::max_finite(), 65504.0f,
                  65520.0f, 65536.0f, -65536.0f, 3.4e38f})
    in.push_back(f);
  flush();
  std::string names;
  for (const auto& w : widths) names += (names.empty() ? "" : ", ") + w;
  INFO(checked << " values at " << names);
  CHECK(checked > (emulated() ? 1000000 : 17000000) * static_cast<std::int64_t>(widths.size()));
  CHECK(!widths.empty());
  CHECK(bad == 0);
}

TEMPLATE_LIST_TEST_CASE("SIMD minifloat rounding equals the scalar codec", "[cost][simd]", elem_tuple) {
  check_rounding<TestType>();
}
