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
  // Every value must be a float32 and every rounding step coarser than float32's.
  static_assert(E >= 1 && E <= 8 && M >= 1 && M <= 22 && B >= 1 && B <= 127 && E + M <= 15,
                "minifloat_traits: a type narrower than float32, at most 16 bits");

  // Magnitude code of |x| (abs_bits = float32 bits without the sign) rounded to nearest
  // even, without overflow handling: the result exceeds max_code when |x| rounds past it
  // (inf gives a code above max_code too). Meaningless for NaN; callers select around it.
  // Branch-free 32-bit integer arithmetic, so that array loops vectorise (per-lane
  // variable shifts: AVX2 vpsrlvd/vpsllvd) and no float rounding mode or FTZ matters.
  PQ_HD static constexpr std::uint32_t round_magnitude(std::uint32_t abs_bits) noexcept {
    const std::uint32_t be = abs_bits >> 23;  // biased float32 exponent, 0..255
    const std::uint32_t m = (abs_bits & 0x7FFFFFu) | (be ? 0x800000u : 0u);
    const int fe = static_cast<int>(be ? be : 1u) - 127;  // float32 subnormals: 2^-126 scale
    const int te = fe > emin ? fe : emin;                 // target exponent (emin: subnormal)
    // |x| = m * 2^(fe-23); the target grid step is 2^(te-M): drop `sh` bits of m, RNE.
    // sh >= 23-M > 0; beyond 25 every m < 2^24 rounds to 0, so 31 is as good as more.
    const int sh0 = (23 - M) + (te - fe);
    const std::uint32_t sh = static_cast<std::uint32_t>(sh0 < 31 ? sh0 : 31);
    const std::uint32_t q = (m + ((1u << (sh - 1)) - 1u) + ((m >> sh) & 1u)) >> sh;
    // value = q * 2^(te-M) with q <= 2^(M+1); a carry into the exponent is automatic.
    return (static_cast<std::uint32_t>(te + B) << M) + q - (1u << M);
  }

  // Decode a code to float32 (exact: every value of these types is a float32). NaN codes
  // give the canonical quiet NaN with the code's sign. Branch-free integer code, so array
  // loops vectorise and FTZ/rounding modes do not matter.
  PQ_HD static constexpr float decode(unsigned code) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>((code & sign_mask) != 0) << 31;
    const std::uint32_t mag = code & mag_mask;
    const std::uint32_t e = mag >> M, f = mag & ((1u << M) - 1);
    std::uint32_t r = 0;
    if constexpr (emin - M < -126) {
      static_assert(E == 8 && B == 127, "subnormals below float32's normals: only bf16's layout");
      r = mag << (23 - M);  // bf16: the top bits of a float32, subnormals included
    } else {
      const std::uint32_t normal = ((e + (127 - B)) << 23) | (f << (23 - M));
      // subnormal f * 2^(emin-M), a float32 normal here: p = index of f's top bit, by
      // comparisons (no float ops: GCC will not if-convert those under -ftrapping-math)
      std::uint32_t p = 0;
      for (int k = 1; k < M; ++k) p += f >= (1u << k) ? 1u : 0u;
      const std::uint32_t sub =
          f == 0 ? 0u
                 : (static_cast<std::uint32_t>(static_cast<int>(p) + emin - M + 127) << 23) | ((f << (23 - p)) & 0x7FFFFFu);
      r = e == 0 ? sub : normal;
    }
    if constexpr (S == specials::ieee) {
      const std::uint32_t inf_nan = 0x7F800000u | (f != 0 ? 0x400000u : 0u);
      r = e == (1u << E) - 1 ? inf_nan : r;
    }
    if constexpr (S == specials::nan_max) r = mag == nan_code ? 0x7FC00000u : r;
    return detail::bit_cast<float>(sign | r);
  }

  // Saturating conversion: out-of-range and +-inf go to +-max finite. NaN (either sign)
  // goes to the positive all-ones code: the NaN of e4m3/e5m2/bf16/fp16 (0x7F, 0x7F, 0x7FFF,
  // 0x7FFF) and +max finite for fp4/fp6, which have no NaN -- bit for bit what NVIDIA's
  // host conversions (cuda_fp8/fp6/fp4/bf16/fp16.h) return for NaN.
  PQ_HD static constexpr unsigned encode_satfinite(float x) noexcept {
    const std::uint32_t b = detail::bit_cast<std::uint32_t>(x);
    const std::uint32_t a = b & 0x7FFFFFFFu;
    const std::uint32_t sign = (b >> 31) << (E + M);
    const std::uint32_t mag = round_magnitude(a);
    const std::uint32_t r = sign | (mag < max_code ? mag : max_code);
    return a > 0x7F800000u ? mag_mask : r;
  }

  // Non-saturating conversion, as ml_dtypes casts from float32: overflow and +-inf give
  // +-inf where the type has inf, NaN where it has only NaN, and saturate where it has neither.
  // NaN keeps its sign and becomes the canonical quiet NaN (0x7F, 0x7E, 0x7FC0, 0x7E00);
  // fp4/fp6 give +max finite, as from_float does (ml_dtypes gives -0 for +NaN there).
  PQ_HD static constexpr unsigned encode_nonsaturating(float x) noexcept {
    constexpr std::uint32_t over = S == specials::ieee ? inf_code : S == specials::nan_max ? nan_code : max_code;
    const std::uint32_t b = detail::bit_cast<std::uint32_t>(x);
    const std::uint32_t a = b & 0x7FFFFFFFu;
    const std::uint32_t sign = (b >> 31) << (E + M);
    const std::uint32_t mag = round_magnitude(a);
    const std::uint32_t r = sign | (mag > max_code ? over : mag);
    const std::uint32_t nan = S == specials::none ? max_code : sign | nan_code;
    return a > 0x7F800000u ? nan : r;
  }
};

}  // namespace prismaquant
