#pragma once
// Host SIMD (xsimd) twins of the formats' element round trips, equal to the scalar
// formats::round_trip<F> (tests/test_cost_simd.cpp checks every format on millions of values;
// bit for bit except that a value rounding to zero may come back +0 where the codec keeps -0 —
// the same number, the same error).
//
// Every seed format's element step is "minifloat RNE, saturating, of x / s, times s":
//   NVFP4  e2m1, s = eff          MX*   elem, s = 2^e (x / s == x * (1/s) exactly)
//   FP8_E4M3 / FP8_SOURCE  e4m3, s = amax/448             BF16  bf16, no scale
// A format without a specialisation of simd_round_trip gets the scalar code lane by lane:
// correct, just slower (so a user's new format works in the fused pass unchanged).
// Every function is a template on the xsimd architecture A (cost/simd_arch.hpp): the same code
// at 4, 8 and 16 lanes. Divisions go through simd::divide (exact on every architecture). Host-only (xsimd); never included by CUDA code.
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/cost/simd_arch.hpp>
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

template <class A>
inline vu<A> as_u(vf<A> x) noexcept {
  return xsimd::bitwise_cast<vu<A>>(x);
}
template <class A>
inline vf<A> as_f(vu<A> x) noexcept {
  return xsimd::bitwise_cast<vf<A>>(x);
}
template <class A>
inline vf<A> vabs(vf<A> x) noexcept {
  return as_f(as_u(x) & vu<A>(0x7FFFFFFFu));
}

// RNE of y onto the grid of a minifloat with M mantissa bits and smallest normal 2^EMIN,
// saturating at +-maxv (a grid value below 2^(EMAX+1)); y finite or +-inf. Signed magic-number
// form, 7 operations: with c = clamp(y, +-maxv) and e the exponent of max(|c|, 2^EMIN), the
// grid spacing is 2^(e-M); m = 1.5 * 2^(e+23-M) has exactly that float32 ulp, and |c| < 2^(e+1)
// <= m/3 keeps c + m inside [2^(e+23-M), 2^(e+24-M)), so the FPU rounds c to the grid, ties to
// even (m is an even multiple of the spacing); subtracting m back is exact. The subnormal range
// is the e = EMIN case. A value rounding to zero gives +0 (the reference keeps -0: same number,
// same error). Needs EMAX + 23 - M <= 127 (m a finite float32).
template <int M, int EMIN, int EMAX, class A>
inline vf<A> round_grid(vf<A> y, float maxv) noexcept {
  using vf = simd::vf<A>;
  using vu = simd::vu<A>;
  static_assert(23 - M >= 3 && EMAX + 23 - M <= 127, "round_grid: m = 1.5 * 2^(e+23-M) must be a finite float32");
  const vf c = xsimd::min(xsimd::max(y, vf(-maxv)), vf(maxv));
  const vu e = xsimd::max(as_u(c) & vu(0x7F800000u), vu(static_cast<std::uint32_t>(EMIN + 127) << 23));
  const vf m = as_f(e + vu((static_cast<std::uint32_t>(23 - M) << 23) | 0x00400000u));
  return (c + m) - m;
}

// floor(log2(x)) of a positive finite float, at compile time.
constexpr int floor_log2_c(float x) {
  int e = 0;
  while (x >= 2.0f) { x *= 0.5f; ++e; }
  while (x < 1.0f) { x *= 2.0f; --e; }
  return e;
}

// Elem::from_float(y).to_float() for finite y (saturating RNE), as a batch.
template <class Elem, class A>
inline vf<A> minifloat_round(vf<A> y) noexcept {
  using vf = simd::vf<A>;
  using vu = simd::vu<A>;
  using T = typename Elem::traits;
  constexpr int emax = floor_log2_c(Elem::max_finite());
  if constexpr (emax + 23 - T::mant_bits <= 127) {
    return round_grid<T::mant_bits, T::emin, emax>(y, Elem::max_finite());
  } else {
    // bf16 (EMAX 127: m would overflow): round the float32 significand of |y| to M bits (a
    // carry moves into the exponent, which is exactly right), the subnormal range by a
    // magic-number add, the sign put back.
    constexpr int M = T::mant_bits, sh = 23 - M;
    const vu sign = as_u(y) & vu(0x80000000u);
    const vf a = xsimd::min(vabs(y), vf(Elem::max_finite()));
    const vu b = as_u(a);
    const vu lsb = (b >> sh) & vu(1u);
    const vu rn = (b + vu((1u << (sh - 1)) - 1u) + lsb) & vu(~((1u << sh) - 1u));
    const vf magic(prismaquant::detail::pow2f(T::emin - M + 23));
    const vf rs = (a + magic) - magic;
    return as_f(as_u(xsimd::select(a < vf(prismaquant::detail::pow2f(T::emin)), rs, as_f(rn))) | sign);
  }
}

// Elem::from_float(formats::detail::round_through(Src, y)).to_float(): CT's double rounding,
// the quotient rounded to the source dtype (bf16 / f16, identity for F32) before the cast to
// Elem, whose max must be a value of the source dtype (true of every 4/6/8-bit type). Clamping
// y to +-Elem::max first gives the same result (round_through is monotone and keeps that max,
// and the cast saturates), so one clamp serves both roundings. Below 2^-126 the bf16 step uses
// a finer grid than bf16's: such values round to zero in Elem either way.
template <class Elem, dtype Src, class A>
inline vf<A> round_via(vf<A> y) noexcept {
  using vf = simd::vf<A>;
  using vu = simd::vu<A>;
  static_assert(Elem::max_finite() <= 57344.0f, "round_via: Elem's max must be a bf16 and f16 value");
  if constexpr (Src == dtype::BF16) {
    using T = typename Elem::traits;
    const vf c = xsimd::min(xsimd::max(y, vf(-Elem::max_finite())), vf(Elem::max_finite()));
    const vf m1 = as_f((as_u(c) & vu(0x7F800000u)) + vu((static_cast<std::uint32_t>(23 - 7) << 23) | 0x00400000u));
    const vf b = (c + m1) - m1;  // bf16 grid (7 mantissa bits)
    const vu e = xsimd::max(as_u(b) & vu(0x7F800000u), vu(static_cast<std::uint32_t>(T::emin + 127) << 23));
    const vf m = as_f(e + vu((static_cast<std::uint32_t>(23 - T::mant_bits) << 23) | 0x00400000u));
    return (b + m) - m;
  } else if constexpr (Src == dtype::F16) {
    return minifloat_round<Elem>(minifloat_round<fp16>(y));
  } else {
    return minifloat_round<Elem>(y);
  }
}

// Calls f(std::integral_constant<dtype, S>{}) with S = the observer dtype t (BF16, F16, or F32
// for anything else): lifts a per-tensor source out of the element loop.
template <class Fn>
inline decltype(auto) with_source(dtype t, Fn&& f) {
  if (t == dtype::BF16) return f(std::integral_constant<dtype, dtype::BF16>{});
  if (t == dtype::F16) return f(std::integral_constant<dtype, dtype::F16>{});
  return f(std::integral_constant<dtype, dtype::F32>{});
}

// simd_round_trip<F>::apply(bp, x): the element round trip of a batch. A specialisation whose
// step depends on the tensor's source dtype (CT's double rounding) sets source_dependent and
// also provides apply_as<Src>(bp, x); the fused pass then picks Src once per tensor
// (tensor_params::source) instead of testing bp.source in the element loop.
// Primary template: lane-by-lane scalar fallback (exact by construction).
template <class F>
struct simd_round_trip {
  static constexpr bool vectorised = false;
  static constexpr bool source_dependent = false;
  template <class A>
  static vf<A> apply(const typename F::block_params& bp, vf<A> x) noexcept {
    alignas(64) float t[width_of<A>];
    x.store_aligned(t);
    for (int k = 0; k < width_of<A>; ++k) t[k] = formats::round_trip<F>(bp, t[k]);
    return vf<A>::load_aligned(t);
  }
};

template <bool W4A4>
struct simd_round_trip<formats::nvfp4_format<W4A4>> {
  static constexpr bool vectorised = true;
  static constexpr bool source_dependent = false;
  template <class A>
  static vf<A> apply(const typename formats::nvfp4_format<W4A4>::block_params& bp, vf<A> x) noexcept {
    const vf<A> eff(bp.eff);
    return minifloat_round<fp4_e2m1>(divide(x, eff)) * eff;
  }
};

template <class Elem, formats::mx_scale_rule Rule>
struct simd_round_trip<formats::mx_format<Elem, Rule>> {
  static constexpr bool vectorised = true;
  static constexpr bool source_dependent = Rule == formats::mx_scale_rule::ct;
  template <class A>
  static vf<A> apply(const typename formats::mx_format<Elem, Rule>::block_params& bp, vf<A> x) noexcept {
    if constexpr (source_dependent)
      return with_source(bp.source, [&](auto src) { return apply_as<decltype(src)::value>(bp, x); });
    else return apply_as<dtype::F32>(bp, x);
  }
  // The element step for a block whose bp.source is Src (only the ct rule reads it). scale =
  // 2^e with e in [-127, 127], so 1/scale is an exact float32 and x * (1/scale) rounds the same
  // exact value x * 2^-e as x / scale does.
  template <dtype Src, class A>
  static vf<A> apply_as(const typename formats::mx_format<Elem, Rule>::block_params& bp, vf<A> x) noexcept {
    const vf<A> s(bp.scale);
    const vf<A> q = x * vf<A>(1.0f / bp.scale);
    if constexpr (Rule == formats::mx_scale_rule::ct) return round_via<Elem, Src>(q) * s;
    else return minifloat_round<Elem>(q) * s;
  }
};

template <bool PerTensor>
struct simd_round_trip<formats::fp8_e4m3_format<PerTensor>> {
  static constexpr bool vectorised = true;
  static constexpr bool source_dependent = true;
  template <class A>
  static vf<A> apply(const typename formats::fp8_e4m3_format<PerTensor>::block_params& bp, vf<A> x) noexcept {
    return with_source(bp.source, [&](auto src) { return apply_as<decltype(src)::value>(bp, x); });
  }
  template <dtype Src, class A>
  static vf<A> apply_as(const typename formats::fp8_e4m3_format<PerTensor>::block_params& bp, vf<A> x) noexcept {
    const vf<A> s(bp.scale);
    return round_via<fp8_e4m3, Src>(divide(x, s)) * s;  // CT's double rounding
  }
};

template <>
struct simd_round_trip<formats::fp8_source> {
  static constexpr bool vectorised = true;
  static constexpr bool source_dependent = false;
  template <class A>
  static vf<A> apply(const formats::fp8_source::block_params& bp, vf<A> x) noexcept {
    const vf<A> s(bp.scale);
    return minifloat_round<fp8_e4m3>(divide(x, s)) * s;
  }
};

template <int Bits, std::int64_t Group, bool Sym, formats::int_scale_kind Scale, class Name>
struct simd_round_trip<formats::int_format<Bits, Group, Sym, Scale, Name>> {
  using F = formats::int_format<Bits, Group, Sym, Scale, Name>;
  static constexpr bool vectorised = true;
  static constexpr bool source_dependent = false;
  template <class A>
  static vf<A> apply(const typename F::block_params& bp, vf<A> x) noexcept {
    using vf = simd::vf<A>;
    const vf eff(bp.eff);
    const vf big(12582912.0f);  // 1.5 * 2^23: F::rne
    if constexpr (Sym) {  // zp == 0: x / eff + 0 and q - 0 change nothing but the sign of a zero
      vf v = xsimd::min(xsimd::max(divide(x, eff), vf(static_cast<float>(F::qmin))), vf(static_cast<float>(F::qmax)));
      return ((v + big) - big) * eff;
    } else {
      const vf zp(bp.zp);
      vf v = divide(x, eff) + zp;  // two roundings, as the scalar code (no fma: a division is not fused)
      v = xsimd::min(xsimd::max(v, vf(static_cast<float>(F::qmin))), vf(static_cast<float>(F::qmax)));
      const vf q = (v + big) - big;
      return (q - zp) * eff;
    }
  }
};

template <>
struct simd_round_trip<formats::bf16_passthrough> {
  static constexpr bool vectorised = true;
  static constexpr bool source_dependent = false;
  template <class A>
  static vf<A> apply(const formats::bf16_passthrough::block_params&, vf<A> x) noexcept {
    return minifloat_round<bf16>(x);
  }
};

// e4m3 code of v, an e4m3 value > 0: normal -> exponent/mantissa bits rebiased; subnormal
// (< 2^-6) -> v * 2^9, an integer 1..7.
template <class A>
inline vu<A> e4m3_code(vf<A> v) noexcept {
  using vf = simd::vf<A>;
  using vu = simd::vu<A>;
  const vu normal = (as_u(v) >> 20) - vu(120u << 3);
  const vu sub = as_u(fence(v * vf(512.0f)) + vf(8388608.0f)) & vu(0x7FFFFFu);
  return as_u(xsimd::select(v < vf(0x1p-6f), as_f(sub), as_f(normal)));
}

// ---- block params for many blocks at once -------------------------------------------------
// simd_block_params<F>::compute<A>(tp, lo, hi, n, out): out[b] = F::block_scale(tp, {lo[b], hi[b]})
// for b < n. The primary template calls the format's scalar code per block; a specialisation
// computes one batch of blocks per step and fills the fields the element round trip reads
// (tests/test_cost_simd.cpp checks them against F::block_scale).
template <class F>
struct simd_block_params {
  static constexpr bool vectorised = false;
  template <class A>
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
  template <class A>
  static void compute(const typename F::tensor_params& tp, const float* lo, const float* hi, std::int64_t n,
                      typename F::block_params* out) noexcept {
    using vf = simd::vf<A>;
    using vu = simd::vu<A>;
    constexpr int width = width_of<A>;
    std::int64_t b = 0;
    if constexpr (vectorised) {
      const vf gs(tp.global_scale), six(6.0f), eps(0.125f), zero(0.0f);
      for (; b + width <= n; b += width) {
        const vf mn = vf::load_unaligned(lo + b), mx = vf::load_unaligned(hi + b);
        const vf amax = xsimd::select(zero - mn > mx, zero - mn, mx);
        vf a6 = divide(amax, six);
        const dtype o = formats::detail::observer_dtype(tp.source);
        if (o == dtype::BF16) a6 = minifloat_round<bf16>(a6);
        else if (o == dtype::F16) a6 = minifloat_round<fp16>(a6);
        vf sf = minifloat_round<fp8_e4m3>(gs * a6);
        sf = xsimd::select(sf == zero, eps, sf);
        const vu code = e4m3_code(sf);
        alignas(64) float e[width];
        alignas(64) std::uint32_t c[width];
        divide(sf, gs).store_aligned(e);
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
  template <class A>
  static void compute(const typename F::tensor_params& tp, const float* lo, const float* hi, std::int64_t n,
                      typename F::block_params* out) noexcept {
    using vf = simd::vf<A>;
    using vu = simd::vu<A>;
    using vi = simd::vi<A>;
    constexpr int width = width_of<A>;
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
  template <class A>
  static void compute(const typename F::tensor_params& tp, const float* lo, const float* hi, std::int64_t n,
                      typename F::block_params* out) noexcept {
    using vf = simd::vf<A>;
    using vu = simd::vu<A>;
    constexpr int width = width_of<A>;
    std::int64_t b = 0;
    const vf zero(0.0f), big(12582912.0f), qmin(static_cast<float>(F::qmin)), qmax(static_cast<float>(F::qmax));
    for (; b + width <= n; b += width) {
      const vf mn = xsimd::min(vf::load_unaligned(lo + b), zero), mx = xsimd::max(vf::load_unaligned(hi + b), zero);
      vf s, zp = zero;
      if constexpr (Sym) {
        s = divide(xsimd::select(zero - mn > mx, zero - mn, mx), qmax);
      } else {
        s = divide(mx - mn, vf(F::range));
        vf z = qmin - divide(mn, s);
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
        eff = divide(v, gs);
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

}  // namespace prismaquant::cost::simd
