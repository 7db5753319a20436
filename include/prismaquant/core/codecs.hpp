#pragma once
// Element codecs: the eight number types that quantization formats are built from.
//
// Each type T holds one code and offers
//   static constexpr T from_float(float)                RNE, saturating (see below)
//   static constexpr T from_float_nonsaturating(float)  RNE, as ml_dtypes casts float32
//   constexpr float to_float() const                    exact
//   constexpr unsigned bits() const                     the code in the low bits
//   static constexpr T from_bits(unsigned)
// all usable in host and device code.
//
// Saturating (`from_float`) — what quantizers want and what NVIDIA's host conversions do
// (cuda_fp8.h with __NV_SATFINITE, cuda_fp6.h / cuda_fp4.h round-to-nearest):
//   out-of-range values and +-inf become +-max finite; NaN (either sign) becomes the
//   positive all-ones code, as NVIDIA's conversions return: 0x7F (e4m3, e5m2), 0x7FFF
//   (bf16, fp16); fp4/fp6 have no NaN, so NaN becomes +max finite (0x7 / 0x1F), again as
//   NVIDIA's conversions do. bf16/fp16 saturate too, unlike NVIDIA's __float2bfloat16_rn /
//   __float2half_rn (use from_float_nonsaturating for IEEE overflow to inf).
// Non-saturating (`from_float_nonsaturating`) — ml_dtypes' astype from float32:
//   e4m3 overflow (|x| > 464; 464 ties to 448) and inf give NaN; e5m2/bf16/fp16 overflow gives inf;
//   fp4/fp6 saturate (they have neither inf nor NaN). NaN keeps its sign and becomes the
//   canonical quiet NaN (0x7F/0xFF, 0x7E/0xFE, 0x7FC0, 0x7E00); for fp4/fp6 it becomes +max
//   finite as in from_float (ml_dtypes returns a signed zero there, which we do not copy).
// e8m0 (a power-of-two scale, no sign, no zero): see its own comment.
#include <prismaquant/core/minifloat.hpp>

namespace prismaquant {

namespace detail {

// CRTP base giving the common interface; Derived only names its traits and storage.
template <class Derived, class Traits, class Storage>
struct element_base {
  using traits = Traits;
  using storage_type = Storage;
  static constexpr int bit_width = Traits::total_bits;

  Storage code{};

  PQ_HD static constexpr Derived from_bits(unsigned b) noexcept {
    Derived d;
    d.code = static_cast<Storage>(b & ((1u << Traits::total_bits) - 1));
    return d;
  }
  PQ_HD static constexpr Derived from_float(float x) noexcept { return from_bits(Traits::encode_satfinite(x)); }
  PQ_HD static constexpr Derived from_float_nonsaturating(float x) noexcept {
    return from_bits(Traits::encode_nonsaturating(x));
  }
  PQ_HD constexpr float to_float() const noexcept { return Traits::decode(code); }
  PQ_HD constexpr unsigned bits() const noexcept { return code; }
  PQ_HD static constexpr float max_finite() noexcept { return Traits::decode(Traits::max_code); }
  PQ_HD friend constexpr bool operator==(Derived a, Derived b) noexcept { return a.code == b.code; }
};

}  // namespace detail

struct fp8_e4m3 : detail::element_base<fp8_e4m3, minifloat_traits<4, 3, 7, specials::nan_max>, std::uint8_t> {};
struct fp8_e5m2 : detail::element_base<fp8_e5m2, minifloat_traits<5, 2, 15, specials::ieee>, std::uint8_t> {};
struct fp6_e2m3 : detail::element_base<fp6_e2m3, minifloat_traits<2, 3, 1, specials::none>, std::uint8_t> {};
struct fp6_e3m2 : detail::element_base<fp6_e3m2, minifloat_traits<3, 2, 3, specials::none>, std::uint8_t> {};
struct fp4_e2m1 : detail::element_base<fp4_e2m1, minifloat_traits<2, 1, 1, specials::none>, std::uint8_t> {};
struct bf16 : detail::element_base<bf16, minifloat_traits<8, 7, 127, specials::ieee>, std::uint16_t> {};
struct fp16 : detail::element_base<fp16, minifloat_traits<5, 10, 15, specials::ieee>, std::uint16_t> {};

// E8M0: an unsigned power of two 2^(code-127), codes 0x00..0xFE; 0xFF is NaN; no zero, no sign.
//
// from_float (saturating) rounds |x| to the nearest power of two in linear space, i.e. the
// rounding point between 2^e and 2^(e+1) is 1.5*2^e, and an exact tie goes to the even code.
// Values above 2^127 and +inf give 0xFE; zero and positive values below 2^-127 give 0x00;
// negative values (other than -0) and NaN give NaN (0xFF), since no code can hold them.
// (NVIDIA's cvt to ue8m0 only rounds toward zero or up and ignores the sign; for x >= 0 our
// result is whichever of its RZ/RP results is nearer, which the NVIDIA test checks.)
//
// from_float_nonsaturating is bit for bit ml_dtypes' float32 -> float8_e8m0fnu cast
// (checked exhaustively over all 2^32 inputs against ml_dtypes 0.6.0):
//   NaN, +-inf, +-0 and negative values give 0xFF; a tie 1.5*2^e rounds UP (to 2^(e+1));
//   overflow (>= 1.5*2^127) gives 0xFF; float32 subnormals give 0x00 up to and including
//   2^-127 and 0x01 (2^-126) above it -- ml_dtypes' subnormal path rounds those up.
struct e8m0 {
  using storage_type = std::uint8_t;
  static constexpr int bit_width = 8;
  std::uint8_t code{};

  PQ_HD static constexpr e8m0 from_bits(unsigned b) noexcept { return e8m0{static_cast<std::uint8_t>(b & 0xFFu)}; }
  // 2^(code - 127) exactly as float32 (2^-127 is a float32 subnormal).
  PQ_HD constexpr float to_float() const noexcept {
    if (code == 0xFF) return detail::bit_cast<float>(0x7FC00000u);
    if (code == 0) return detail::bit_cast<float>(0x00400000u);
    return detail::bit_cast<float>(static_cast<std::uint32_t>(code) << 23);
  }
  PQ_HD constexpr unsigned bits() const noexcept { return code; }
  PQ_HD constexpr int exponent() const noexcept { return static_cast<int>(code) - 127; }
  PQ_HD static constexpr e8m0 from_exponent(int e) noexcept {
    return from_bits(static_cast<unsigned>((e < -127 ? -127 : e > 127 ? 127 : e) + 127));
  }
  PQ_HD static constexpr float max_finite() noexcept { return detail::bit_cast<float>(0x7F000000u); }
  PQ_HD static constexpr e8m0 from_float(float x) noexcept {
    const std::uint32_t b = detail::bit_cast<std::uint32_t>(x);
    const std::uint32_t a = b & 0x7FFFFFFFu;
    if (a > 0x7F800000u || ((b >> 31) && a)) return from_bits(0xFF);  // NaN, negative
    unsigned c = 0;
    if (a < 0x00800000u) {
      // zero or float32 subnormal a*2^-149: 2^-127 is a = 0x400000, 2^-126 is 0x800000,
      // their midpoint 0x600000 ties to the even code 0.
      c = a > 0x600000u ? 1u : 0u;
    } else {
      const unsigned e = a >> 23;  // biased exponent, same bias as e8m0
      const std::uint32_t f = a & 0x7FFFFFu;
      c = e + ((f > 0x400000u || (f == 0x400000u && (e & 1u))) ? 1u : 0u);
    }
    return from_bits(c > 0xFEu ? 0xFEu : c);
  }
  PQ_HD static constexpr e8m0 from_float_nonsaturating(float x) noexcept {
    const std::uint32_t b = detail::bit_cast<std::uint32_t>(x);
    const std::uint32_t a = b & 0x7FFFFFFFu;
    if (a >= 0x7F800000u || a == 0 || (b >> 31)) return from_bits(0xFF);  // NaN, inf, zero, negative
    unsigned c = 0;
    if (a < 0x00800000u) {
      c = a > 0x400000u ? 1u : 0u;
    } else {
      c = (a >> 23) + ((a & 0x7FFFFFu) >= 0x400000u ? 1u : 0u);
    }
    return from_bits(c > 0xFEu ? 0xFFu : c);
  }
  PQ_HD friend constexpr bool operator==(e8m0 a, e8m0 b) noexcept { return a.code == b.code; }
};

}  // namespace prismaquant
