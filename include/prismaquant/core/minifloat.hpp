#pragma once
// One generic small-float codec: float32 -> code with round-to-nearest-even, and back.
// Every element type in codecs.hpp is an instance; the differences between them are
// only the field widths and how the top codes are spent (inf, NaN, or finite values).
#include <prismaquant/core/config.hpp>

namespace prismaquant {

// How a type spends its special codes.
enum class specials {
  none,        // every code is finite (fp4/fp6 "fn" types): no inf, no NaN
  nan_max,     // only the all-ones magnitude is NaN, no inf (float8_e4m3fn)
  ieee,        // all-ones exponent: inf (mantissa 0) and NaN (e5m2, bf16, fp16)
};

namespace detail {

// Exact float32 power of two 2^k for k in [-149, 127].
PQ_HD constexpr float pow2f(int k) noexcept {
  if (k >= -126) return bit_cast<float>(static_cast<std::uint32_t>(k + 127) << 23);
  return bit_cast<float>(std::uint32_t{1} << (k + 149));
}

// Round the non-negative integer m right by `shift` bits, ties to even.
PQ_HD constexpr std::uint64_t shift_right_rne(std::uint64_t m, int shift) noexcept {
  if (shift <= 0) return m << (-shift);
  if (shift >= 64) return 0;
  const std::uint64_t q = m >> shift;
  const std::uint64_t rem = m & ((std::uint64_t{1} << shift) - 1);
  const std::uint64_t half = std::uint64_t{1} << (shift - 1);
  return (rem > half || (rem == half && (q & 1))) ? q + 1 : q;
}

}  // namespace detail

// Traits of a signed minifloat: E exponent bits, M mantissa bits, exponent bias B.
template <int E, int M, int B, specials S>
struct minifloat_traits {
  static constexpr int exp_bits = E;
  static constexpr int mant_bits = M;
  static constexpr int bias = B;
  static constexpr specials kind = S;
  static constexpr int total_bits = 1 + E + M;
  static constexpr unsigned sign_mask = 1u << (E + M);
  static constexpr unsigned mag_mask = sign_mask - 1;
  // Largest finite magnitude code.
  static constexpr unsigned max_code = S == specials::none      ? mag_mask
                                       : S == specials::nan_max ? mag_mask - 1
                                                                : ((1u << E) - 2) << M | ((1u << M) - 1);
  static constexpr unsigned inf_code = S == specials::ieee ? ((1u << E) - 1) << M : 0;  // 0: none
  static constexpr unsigned nan_code = S == specials::ieee      ? (((1u << E) - 1) << M) | (1u << (M - 1))
                                       : S == specials::nan_max ? mag_mask
                                                                : 0;  // 0: none
  static constexpr int emin = 1 - B;  // exponent of the smallest normal

  // Magnitude code of |x| rounded to nearest even, without any overflow handling:
  // the result may exceed max_code (the caller saturates or makes inf/NaN).
  // x must be finite.
  PQ_HD static constexpr std::uint64_t round_magnitude(std::uint32_t abs_bits) noexcept {
    int fe = static_cast<int>(abs_bits >> 23) - 127;
    std::uint64_t m = abs_bits & 0x7FFFFFu;
    if (fe == -127) {
      fe = -126;  // float32 subnormal: no implicit bit
    } else {
      m |= 0x800000u;
    }
    if (m == 0) return 0;
    const int te = fe > emin ? fe : emin;
    const std::uint64_t q = detail::shift_right_rne(m, (23 - M) + (te - fe));
    // value = q * 2^(te - M); q in [0, 2^(M+1)]; the carry into the exponent is automatic.
    if (q == 0) return 0;
    return (static_cast<std::uint64_t>(te + B) << M) + q - (std::uint64_t{1} << M);
  }

  // Decode a code to float32 (exact: every value of these types is a float32).
  PQ_HD static constexpr float decode(unsigned code) noexcept {
    const bool neg = (code & sign_mask) != 0;
    const unsigned mag = code & mag_mask;
    float v = 0.0f;
    if (S == specials::ieee && mag >= inf_code) {
      v = mag == inf_code ? __builtin_huge_valf() : __builtin_nanf("");
    } else if (S == specials::nan_max && mag == nan_code) {
      v = __builtin_nanf("");
    } else {
      const unsigned e = mag >> M;
      const unsigned f = mag & ((1u << M) - 1);
      if (e == 0) {
        v = static_cast<float>(f) * detail::pow2f(emin - M);
      } else {
        v = static_cast<float>(f | (1u << M)) * detail::pow2f(static_cast<int>(e) - B - M);
      }
    }
    return neg ? -v : v;
  }

  // Saturating conversion: out-of-range and +-inf go to +-max finite; NaN to the NaN code
  // (types without NaN: to +max finite, as NVIDIA's cvt instructions do for NaN input).
  PQ_HD static constexpr unsigned encode_satfinite(float x) noexcept {
    const std::uint32_t b = detail::bit_cast<std::uint32_t>(x);
    const unsigned sign = (b >> 31) ? sign_mask : 0u;
    const std::uint32_t a = b & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return S == specials::none ? max_code : nan_code;
    if (a == 0x7F800000u) return sign | max_code;
    const std::uint64_t mag = round_magnitude(a);
    return sign | static_cast<unsigned>(mag > max_code ? max_code : mag);
  }

  // Non-saturating conversion, as ml_dtypes casts from float32: overflow and +-inf give
  // +-inf where the type has inf, NaN where it has only NaN, and saturate where it has neither.
  PQ_HD static constexpr unsigned encode_nonsaturating(float x) noexcept {
    const std::uint32_t b = detail::bit_cast<std::uint32_t>(x);
    const unsigned sign = (b >> 31) ? sign_mask : 0u;
    const std::uint32_t a = b & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return S == specials::none ? max_code : sign | nan_code;
    std::uint64_t mag = a == 0x7F800000u ? std::uint64_t{max_code} + 1 : round_magnitude(a);
    if (mag > max_code) {
      if constexpr (S == specials::ieee) return sign | inf_code;
      if constexpr (S == specials::nan_max) return sign | nan_code;
      mag = max_code;
    }
    return sign | static_cast<unsigned>(mag);
  }
};

}  // namespace prismaquant
