#pragma once
// Host SIMD (xsimd) twins of the formats' element round trips, bit-exact with the scalar
// formats::round_trip<F> (tests/test_cost_simd.cpp checks every format on millions of values).
//
// Every seed format's element step is "minifloat RNE, saturating, of x / s, times s":
//   NVFP4  e2m1, s = eff          MX*   elem, s = 2^e (x / s == x * (1/s) exactly)
//   FP8_E4M3 / FP8_SOURCE  e4m3, s = amax/448             BF16  bf16, no scale
// A format without a specialisation of simd_round_trip gets the scalar code lane by lane:
// correct, just slower (so a user's new format works in the fused pass unchanged).
// Host-only (xsimd); never included by CUDA code.
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/formats/bf16.hpp>
#include <prismaquant/formats/format.hpp>
#include <prismaquant/formats/fp8.hpp>
#include <prismaquant/formats/fp8_source.hpp>
#include <prismaquant/formats/intn.hpp>
#include <prismaquant/formats/mx.hpp>
#include <prismaquant/formats/nvfp4.hpp>

#include <xsimd/xsimd.hpp>

#include <cstdint>

namespace prismaquant::cost::simd {

using vf = xsimd::batch<float>;
using vu = xsimd::batch<std::uint32_t>;
inline constexpr int width = static_cast<int>(vf::size);

inline vu as_u(vf x) noexcept { return xsimd::bitwise_cast<vu>(x); }
inline vf as_f(vu x) noexcept { return xsimd::bitwise_cast<vf>(x); }
inline vf vabs(vf x) noexcept { return as_f(as_u(x) & vu(0x7FFFFFFFu)); }

// a >= 0 finite (already clamped to the type's max finite): RNE onto the grid of a minifloat
// with M mantissa bits and smallest normal 2^EMIN. With e the exponent of max(a, 2^EMIN), the
// grid spacing is 2^(e-M); adding m = 2^(e+23-M) (whose float32 ulp is exactly that spacing,
// and a < 2^(e+1) <= m keeps the sum in [m, 2m]) makes the FPU round a to the grid, ties to
// even; subtracting m back is exact. 5 operations, no select (the subnormal range is the
// e = EMIN case). Needs EMAX + 23 - M <= 127 (m must be a finite float32): true for the 4-,
// 6- and 8-bit types and fp16; bf16 (EMAX 127) takes the integer form: round the float32
// significand to M bits (a carry moves into the exponent, which is exactly right), with the
// same magic-number add for the subnormal range.
template <int M, int EMIN, int EMAX>
inline vf round_grid(vf a) noexcept {
  static_assert(23 - M >= 1, "round_grid: M must be < 23");
  if constexpr (EMAX + 23 - M <= 127) {
    const vu e = as_u(xsimd::max(a, vf(prismaquant::detail::pow2f(EMIN)))) & vu(0x7F800000u);
    const vf m = as_f(e + vu(static_cast<std::uint32_t>(23 - M) << 23));
    return (a + m) - m;
  } else {
    constexpr int sh = 23 - M;
    const vu b = as_u(a);
    const vu lsb = (b >> sh) & vu(1u);
    const vu rn = (b + vu((1u << (sh - 1)) - 1u) + lsb) & vu(~((1u << sh) - 1u));
    const vf magic(prismaquant::detail::pow2f(EMIN - M + 23));
    const vf rs = (a + magic) - magic;
    return xsimd::select(a < vf(prismaquant::detail::pow2f(EMIN)), rs, as_f(rn));
  }
}

// floor(log2(x)) of a positive finite float, at compile time.
constexpr int floor_log2_c(float x) {
  int e = 0;
  while (x >= 2.0f) { x *= 0.5f; ++e; }
  while (x < 1.0f) { x *= 2.0f; --e; }
  return e;
}

// Elem::from_float(y).to_float() for finite y (saturating RNE), as a batch.
template <class Elem>
inline vf minifloat_round(vf y) noexcept {
  using T = typename Elem::traits;
  const vu sign = as_u(y) & vu(0x80000000u);
  const vf a = xsimd::min(vabs(y), vf(Elem::max_finite()));  // min(inf, max) = max: saturates
  return as_f(as_u(round_grid<T::mant_bits, T::emin, floor_log2_c(Elem::max_finite())>(a)) | sign);
}

// formats::detail::round_through(t, y) for finite y: RNE to bf16 / f16 (their overflow to inf
// only happens where the e4m3 cast that follows saturates anyway), identity otherwise.
inline vf round_through(dtype t, vf y) noexcept {
  if (t == dtype::BF16) return minifloat_round<bf16>(y);
  if (t == dtype::F16) return minifloat_round<fp16>(y);
  return y;
}

// Primary template: lane-by-lane scalar fallback (exact by construction).
template <class F>
struct simd_round_trip {
  static constexpr bool vectorised = false;
  static vf apply(const typename F::block_params& bp, vf x) noexcept {
    alignas(64) float t[width];
    x.store_aligned(t);
    for (int k = 0; k < width; ++k) t[k] = formats::round_trip<F>(bp, t[k]);
    return vf::load_aligned(t);
  }
};

template <bool W4A4>
struct simd_round_trip<formats::nvfp4_format<W4A4>> {
  static constexpr bool vectorised = true;
  static vf apply(const typename formats::nvfp4_format<W4A4>::block_params& bp, vf x) noexcept {
    const vf eff(bp.eff);
    return minifloat_round<fp4_e2m1>(x / eff) * eff;
  }
};

template <class Elem, formats::mx_scale_rule Rule>
struct simd_round_trip<formats::mx_format<Elem, Rule>> {
  static constexpr bool vectorised = true;
  static vf apply(const typename formats::mx_format<Elem, Rule>::block_params& bp, vf x) noexcept {
    // scale = 2^e with e in [-127, 127], so 1/scale is an exact float32 and x * (1/scale)
    // rounds the same exact value x * 2^-e as x / scale does.
    const vf s(bp.scale);
    vf q = x * vf(1.0f / bp.scale);
    if constexpr (Rule == formats::mx_scale_rule::ct) q = round_through(bp.source, q);
    return minifloat_round<Elem>(q) * s;
  }
};

template <bool PerTensor>
struct simd_round_trip<formats::fp8_e4m3_format<PerTensor>> {
  static constexpr bool vectorised = true;
  static vf apply(const typename formats::fp8_e4m3_format<PerTensor>::block_params& bp, vf x) noexcept {
    const vf s(bp.scale);
    return minifloat_round<fp8_e4m3>(round_through(bp.source, x / s)) * s;  // CT's double rounding
  }
};

template <>
struct simd_round_trip<formats::fp8_source> {
  static constexpr bool vectorised = true;
  static vf apply(const formats::fp8_source::block_params& bp, vf x) noexcept {
    const vf s(bp.scale);
    return minifloat_round<fp8_e4m3>(x / s) * s;
  }
};

template <int Bits, std::int64_t Group, bool Sym, formats::int_scale_kind Scale, class Name>
struct simd_round_trip<formats::int_format<Bits, Group, Sym, Scale, Name>> {
  using F = formats::int_format<Bits, Group, Sym, Scale, Name>;
  static constexpr bool vectorised = true;
  static vf apply(const typename F::block_params& bp, vf x) noexcept {
    const vf eff(bp.eff), zp(bp.zp);
    vf v = x / eff + zp;  // two roundings, as the scalar code (no fma: a division is not fused)
    v = xsimd::min(xsimd::max(v, vf(static_cast<float>(F::qmin))), vf(static_cast<float>(F::qmax)));
    const vf big(12582912.0f);  // 1.5 * 2^23: F::rne
    const vf q = (v + big) - big;
    return (q - zp) * eff;
  }
};

template <>
struct simd_round_trip<formats::bf16_passthrough> {
  static constexpr bool vectorised = true;
  static vf apply(const formats::bf16_passthrough::block_params&, vf x) noexcept {
    return minifloat_round<bf16>(x);
  }
};

// e4m3 code of v, an e4m3 value > 0: normal -> exponent/mantissa bits rebiased; subnormal
// (< 2^-6) -> v * 2^9, an integer 1..7.
inline vu e4m3_code(vf v) noexcept {
  const vu normal = (as_u(v) >> 20) - vu(120u << 3);
  const vu sub = as_u(v * vf(512.0f) + vf(8388608.0f)) & vu(0x7FFFFFu);
  return as_u(xsimd::select(v < vf(0x1p-6f), as_f(sub), as_f(normal)));
}

// ---- block params for many blocks at once -------------------------------------------------
// simd_block_params<F>::compute(tp, lo, hi, n, out): out[b] = F::block_scale(tp, {lo[b], hi[b]})
// for b < n. The primary template calls the format's scalar code per block; a specialisation
// computes `width` blocks per step and fills the fields the element round trip reads
// (tests/test_cost_simd.cpp checks them against F::block_scale).
template <class F>
struct simd_block_params {
  static constexpr bool vectorised = false;
  static void compute(const typename F::tensor_params& tp, const float* lo, const float* hi, std::int64_t n,
                      typename F::block_params* out) noexcept {
    for (std::int64_t b = 0; b < n; ++b) out[b] = F::block_scale(tp, formats::block_range{lo[b], hi[b]});
  }
};

// NVFP4 (formats/nvfp4.hpp): a6 = amax_b / 6 rounded through the observer dtype (bf16 / f16
// sources: RNE to that type, no overflow possible), s_f = e4m3(gs * a6), 0 -> 0.125, eff = s_f / gs.
template <bool W4A4>
struct simd_block_params<formats::nvfp4_format<W4A4>> {
  using F = formats::nvfp4_format<W4A4>;
  static constexpr bool vectorised = true;
  static void compute(const typename F::tensor_params& tp, const float* lo, const float* hi, std::int64_t n,
                      typename F::block_params* out) noexcept {
    std::int64_t b = 0;
    if constexpr (vectorised) {
      const vf gs(tp.global_scale), six(6.0f), eps(0.125f), zero(0.0f);
      for (; b + width <= n; b += width) {
        const vf mn = vf::load_unaligned(lo + b), mx = vf::load_unaligned(hi + b);
        const vf amax = xsimd::select(zero - mn > mx, zero - mn, mx);
        vf a6 = amax / six;
        const dtype o = formats::detail::observer_dtype(tp.source);
        if (o == dtype::BF16) a6 = minifloat_round<bf16>(a6);
        else if (o == dtype::F16) a6 = minifloat_round<fp16>(a6);
        vf sf = minifloat_round<fp8_e4m3>(gs * a6);
        sf = xsimd::select(sf == zero, eps, sf);
        const vu code = e4m3_code(sf);
        alignas(64) float e[width];
        alignas(64) std::uint32_t c[width];
        (sf / gs).store_aligned(e);
        code.store_aligned(c);
        for (int k = 0; k < width; ++k) {
          out[b + k].eff = e[k];
          out[b + k].scale_code = static_cast<std::uint8_t>(c[k]);
        }
      }
    }
    for (; b < n; ++b) out[b] = F::block_scale(tp, formats::block_range{lo[b], hi[b]});
  }
};

// MX with the OCP FLOOR rule (formats/mx.hpp): e = floor(log2(amax)) - emax, clamped to
// [-127, 127], amax 0 -> -127; scale = 2^e as e8m0 decodes it. A group of blocks with a
// float32-subnormal amax takes the scalar code (floor_log2 loops there).
template <class Elem>
struct simd_block_params<formats::mx_format<Elem, formats::mx_scale_rule::ocp_floor>> {
  using F = formats::mx_format<Elem, formats::mx_scale_rule::ocp_floor>;
  static constexpr bool vectorised = true;
  static void compute(const typename F::tensor_params& tp, const float* lo, const float* hi, std::int64_t n,
                      typename F::block_params* out) noexcept {
    using vi = xsimd::batch<std::int32_t>;
    std::int64_t b = 0;
    const vf zero(0.0f);
    for (; b + width <= n; b += width) {
      const vf mn = vf::load_unaligned(lo + b), mx = vf::load_unaligned(hi + b);
      const vf amax = xsimd::select(zero - mn > mx, zero - mn, mx);
      const vu ab = as_u(amax);
      if (xsimd::any(amax > zero && amax < vf(0x1p-126f))) {  // subnormal amax: scalar
        for (int k = 0; k < width; ++k) out[b + k] = F::block_scale(tp, formats::block_range{lo[b + k], hi[b + k]});
        continue;
      }
      vi e = xsimd::bitwise_cast<vi>(ab >> 23) - vi(127 + F::traits::emax);
      e = xsimd::min(xsimd::max(e, vi(-127)), vi(127));
      const vu code = xsimd::bitwise_cast<vu>(e + vi(127));
      const vu code_z = as_u(xsimd::select(amax == zero, zero, as_f(code)));  // amax 0 -> code 0
      const vf scale = xsimd::select(as_f(code_z) == zero, vf(prismaquant::detail::bit_cast<float>(0x00400000u)),
                                     as_f(code_z << 23));
      alignas(64) float sc[width];
      alignas(64) std::uint32_t cd[width];
      scale.store_aligned(sc);
      code_z.store_aligned(cd);
      for (int k = 0; k < width; ++k) {
        out[b + k].scale = sc[k];
        out[b + k].scale_code = static_cast<std::uint8_t>(cd[k]);
        out[b + k].source = tp.source;
      }
    }
    for (; b < n; ++b) out[b] = F::block_scale(tp, formats::block_range{lo[b], hi[b]});
  }
};

// INT-N (formats/intn.hpp): symmetric s = amax / qmax; asymmetric s = (hi - lo) / range and
// zp = rne(clamp(qmin - lo / s)); the scale rounded to e4m3 (times the global scale) or to
// bf16, zero -> the scale type's eps; eff = the stored scale (/ gs).
template <int Bits, std::int64_t Group, bool Sym, formats::int_scale_kind Scale, class Name>
struct simd_block_params<formats::int_format<Bits, Group, Sym, Scale, Name>> {
  using F = formats::int_format<Bits, Group, Sym, Scale, Name>;
  static constexpr bool vectorised = true;
  static void compute(const typename F::tensor_params& tp, const float* lo, const float* hi, std::int64_t n,
                      typename F::block_params* out) noexcept {
    std::int64_t b = 0;
    const vf zero(0.0f), big(12582912.0f), qmin(static_cast<float>(F::qmin)), qmax(static_cast<float>(F::qmax));
    for (; b + width <= n; b += width) {
      const vf mn = xsimd::min(vf::load_unaligned(lo + b), zero), mx = xsimd::max(vf::load_unaligned(hi + b), zero);
      vf s, zp = zero;
      if constexpr (Sym) {
        s = xsimd::select(zero - mn > mx, zero - mn, mx) / qmax;
      } else {
        s = (mx - mn) / vf(F::range);
        vf z = qmin - mn / s;
        z = xsimd::min(xsimd::max(z, qmin), qmax);
        zp = xsimd::select(s == zero, zero, (z + big) - big);
      }
      vf eff;
      vu code;
      if constexpr (F::global) {
        const vf gs(tp.global_scale);
        vf v = minifloat_round<fp8_e4m3>(gs * s);
        v = xsimd::select(v == zero, vf(0.125f), v);
        code = e4m3_code(v);
        eff = v / gs;
      } else {
        vf v = minifloat_round<bf16>(s);
        v = xsimd::select(v == zero, vf(0x1p-7f), v);
        code = as_u(v) >> 16;
        eff = v;
      }
      alignas(64) float e[width], z[width];
      alignas(64) std::uint32_t c[width];
      eff.store_aligned(e);
      zp.store_aligned(z);
      code.store_aligned(c);
      for (int k = 0; k < width; ++k) {
        out[b + k].eff = e[k];
        out[b + k].zp = z[k];
        out[b + k].scale_code = static_cast<std::uint16_t>(c[k]);
      }
    }
    for (; b < n; ++b) out[b] = F::block_scale(tp, formats::block_range{lo[b], hi[b]});
  }
};

// Horizontal reductions (xsimd 8 has only hadd).
#if defined(__AVX__)
static_assert(width == 8, "AVX path expects 8 float lanes");
inline float hmax(vf x) noexcept {
  const __m256 v = x;
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
inline float hmin(vf x) noexcept {
  const __m256 v = x;
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)));
}
#else
inline float hmax(vf x) noexcept {
  alignas(64) float t[width];
  x.store_aligned(t);
  float m = t[0];
  for (int k = 1; k < width; ++k) m = t[k] > m ? t[k] : m;
  return m;
}
inline float hmin(vf x) noexcept {
  alignas(64) float t[width];
  x.store_aligned(t);
  float m = t[0];
  for (int k = 1; k < width; ++k) m = t[k] < m ? t[k] : m;
  return m;
}
#endif

}  // namespace prismaquant::cost::simd
