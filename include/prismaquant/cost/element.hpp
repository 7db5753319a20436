#pragma once
// The element round trip of the fused pass in scalar PQ_HD code: what a CUDA thread and the
// CPU's row tails run per element. element_round_trip<F>(bp, x) equals
// formats::round_trip<F>(bp, x) for every finite x (numerically: a value rounding to zero may
// come back +0 where the codec keeps -0; the error is the same), but rounds with float
// arithmetic instead of encoding to a code and decoding it back — about 7 operations instead
// of ~40 integer ones (tests/test_cost_simd.cpp checks it against the format's own code on the
// same values as the SIMD twins in cost/simd.hpp, whose formulas these are).
// A format without a specialisation gets formats::round_trip<F>.
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/core/config.hpp>
#include <prismaquant/formats/format.hpp>
#include <prismaquant/formats/fp8.hpp>
#include <prismaquant/formats/fp8_source.hpp>
#include <prismaquant/formats/intn.hpp>
#include <prismaquant/formats/mx.hpp>
#include <prismaquant/formats/nvfp4.hpp>

#include <cstdint>

namespace prismaquant::cost {

namespace element {

// RNE of y onto the grid of a minifloat with M mantissa bits and smallest normal 2^EMIN,
// saturating at +-maxv: clamp, then add and subtract m = 1.5 * 2^(e+23-M) (e the exponent of
// max(|c|, 2^EMIN)), whose float32 ulp is the grid spacing (cost/simd.hpp, round_grid).
template <int M, int EMIN>
PQ_HD inline float round_grid(float y, float maxv) noexcept {
  static_assert(23 - M >= 3, "element::round_grid: M must be <= 20");
  const float c = y > maxv ? maxv : (y < -maxv ? -maxv : y);
  const std::uint32_t eb = prismaquant::detail::bit_cast<std::uint32_t>(c) & 0x7F800000u;
  constexpr std::uint32_t emin_bits = static_cast<std::uint32_t>(EMIN + 127) << 23;
  const std::uint32_t e = eb > emin_bits ? eb : emin_bits;
  const float m = prismaquant::detail::bit_cast<float>(e + ((static_cast<std::uint32_t>(23 - M) << 23) | 0x00400000u));
#if defined(__CUDA_ARCH__)
  return __fsub_rn(__fadd_rn(c, m), m);
#else
  return (c + m) - m;
#endif
}

// Elem::from_float(y).to_float() for finite y, Elem a type whose m stays a finite float32
// (every 4/6/8-bit type and fp16; not bf16).
template <class Elem>
PQ_HD inline float minifloat_round(float y) noexcept {
  using T = typename Elem::traits;
  return round_grid<T::mant_bits, T::emin>(y, Elem::max_finite());
}

// Elem::from_float(formats::detail::round_through(src, y)).to_float(): CT's double rounding,
// with one clamp to +-Elem::max for both steps (cost/simd.hpp, round_via).
template <class Elem>
PQ_HD inline float round_via(dtype src, float y) noexcept {
  if (src == dtype::BF16) {
    const float c = y > Elem::max_finite() ? Elem::max_finite() : (y < -Elem::max_finite() ? -Elem::max_finite() : y);
    const float m1 = prismaquant::detail::bit_cast<float>(
        (prismaquant::detail::bit_cast<std::uint32_t>(c) & 0x7F800000u) + ((static_cast<std::uint32_t>(23 - 7) << 23) | 0x00400000u));
#if defined(__CUDA_ARCH__)
    return minifloat_round<Elem>(__fsub_rn(__fadd_rn(c, m1), m1));
#else
    return minifloat_round<Elem>((c + m1) - m1);
#endif
  }
  if (src == dtype::F16) return minifloat_round<Elem>(minifloat_round<fp16>(y));
  return minifloat_round<Elem>(y);
}

}  // namespace element

// Primary template: the format's own round trip.
template <class F>
struct element_round_trip_impl {
  PQ_HD static float apply(const typename F::block_params& bp, float x) noexcept { return formats::round_trip<F>(bp, x); }
};

template <bool W4A4>
struct element_round_trip_impl<formats::nvfp4_format<W4A4>> {
  PQ_HD static float apply(const typename formats::nvfp4_format<W4A4>::block_params& bp, float x) noexcept {
    return element::minifloat_round<fp4_e2m1>(x / bp.eff) * bp.eff;
  }
};

template <class Elem, formats::mx_scale_rule Rule>
struct element_round_trip_impl<formats::mx_format<Elem, Rule>> {
  PQ_HD static float apply(const typename formats::mx_format<Elem, Rule>::block_params& bp, float x) noexcept {
    const float q = x * (1.0f / bp.scale);  // exact: the scale is a power of two (cost/simd.hpp)
    if constexpr (Rule == formats::mx_scale_rule::ct) return element::round_via<Elem>(bp.source, q) * bp.scale;
    else return element::minifloat_round<Elem>(q) * bp.scale;
  }
};

template <bool PerTensor>
struct element_round_trip_impl<formats::fp8_e4m3_format<PerTensor>> {
  PQ_HD static float apply(const typename formats::fp8_e4m3_format<PerTensor>::block_params& bp, float x) noexcept {
    return element::round_via<fp8_e4m3>(bp.source, x / bp.scale) * bp.scale;
  }
};

template <>
struct element_round_trip_impl<formats::fp8_source> {
  PQ_HD static float apply(const formats::fp8_source::block_params& bp, float x) noexcept {
    return element::minifloat_round<fp8_e4m3>(x / bp.scale) * bp.scale;
  }
};

template <int Bits, std::int64_t Group, bool Sym, formats::int_scale_kind Scale, class Name>
struct element_round_trip_impl<formats::int_format<Bits, Group, Sym, Scale, Name>> {
  using F = formats::int_format<Bits, Group, Sym, Scale, Name>;
  PQ_HD static float apply(const typename F::block_params& bp, float x) noexcept {
    constexpr float lo = static_cast<float>(F::qmin), hi = static_cast<float>(F::qmax);
    if constexpr (Sym) {  // zp == 0
      float v = x / bp.eff;
      v = v < lo ? lo : (v > hi ? hi : v);
      return F::rne(v) * bp.eff;
    } else {
      float v = x / bp.eff + bp.zp;  // two roundings, as the format's quantize
      v = v < lo ? lo : (v > hi ? hi : v);
      return (F::rne(v) - bp.zp) * bp.eff;
    }
  }
};

template <class F>
PQ_HD inline float element_round_trip(const typename F::block_params& bp, float x) noexcept {
  return element_round_trip_impl<F>::apply(bp, x);
}

}  // namespace prismaquant::cost
