#pragma once
// OCP Microscaling formats: blocks of 32 along `in`, one E8M0 (power of two) scale each.
// MXFP4 (e2m1), MXFP6_E2M3, MXFP6_E3M2, MXFP8_E4M3, MXFP8_E5M2 (OCP Microscaling Formats (MX) v1.0; papers/ct-recipe.md §2).
//
// Storage (compressed-tensors `mxfp4-pack-quantized` / `mxfp8-quantized`):
//   MXFP4   <m>.weight_packed U8 [out, in/2] (nibbles as NVFP4) + <m>.weight_scale U8 [out, in/32]
//   MXFP8   <m>.weight F8_E4M3 | F8_E5M2 [out, in]              + <m>.weight_scale U8 [out, in/32]
//   MXFP6   (no CT format exists; our choice, flagged) <m>.weight_packed U8 [out, ceil(in*6/8)],
//           6-bit codes as a little-endian bit stream per row, + <m>.weight_scale U8 [out, in/32]
// weight_scale holds the biased exponent (e8m0 code): scale = 2^(code - 127).
//
// The scale rule is a parameter (mx_scale_rule), OCP FLOOR by default:
//   ocp_floor  e = floor(log2(amax)) - emax_elem                (OCP MX v1.0 §6.3; may clip)
//   rceil      e = ceil(log2(amax / max_elem)), exactly         (NVIDIA's conversion; never clips)
//   ct         e = floor(log2(round_to_power_2(amax))) - emax   (compressed-tensors 0.19
//              generate_mx_scales, papers/ct-recipe.md §2: amax rounds up to the next power
//              of two when its mantissa fraction is >= 0.75, the bit trick
//              (bits + 2^21) & ~mantissa_mask; zero/tiny blocks give code 0)
// all clamped to codes [0, 254] (e in [-127, 127]); an all-zero block gets code 0x00 (2^-127).
// Elements: q = elem_rne_saturating(x / 2^e); dequant q * 2^e. Under the ct rule the quotient
// is first rounded to the source dtype (CT divides bf16 by bf16; this only matters for
// quotients in bf16's subnormal range). MXFP4 packs exact zeros (also -0.0) as 0x0, as CT.
// Known difference from CT (ct rule): a block with amax >= 1.75 * 2^127 gets code 254 here;
// CT overflows to an infinite scale, zero elements and a stored byte 0x7F (its bug).
// Shapes: in % 32 == 0 (CT), plus our extension: in < 32 (one short block; even for MXFP4).
#include <prismaquant/formats/detail/packing.hpp>
#include <prismaquant/formats/format.hpp>

#include <string>

namespace prismaquant::formats {

enum class mx_scale_rule { ocp_floor, rceil, ct };

namespace detail {

// floor(log2(a)) for finite a > 0 (float32 subnormals included).
PQ_HD constexpr int floor_log2(float a) noexcept {
  std::uint32_t b = prismaquant::detail::bit_cast<std::uint32_t>(a) & 0x7FFFFFFFu;
  int e = static_cast<int>(b >> 23);
  if (e != 0) return e - 127;
  int k = -127;  // subnormal: value = m * 2^-149
  for (std::uint32_t m = b & 0x7FFFFFu; m >= 2; m >>= 1) ++k;
  return k - 22;
}

PQ_HD constexpr double pow2d(int k) noexcept {  // k in [-1022, 1023]
  return prismaquant::detail::bit_cast<double>(static_cast<std::uint64_t>(k + 1023) << 52);
}

template <class Elem> struct mx_element;
template <> struct mx_element<fp4_e2m1> {
  static constexpr std::string_view element_dtype = "fp4_e2m1";
  static constexpr int emax = 2;
  static constexpr float max = 6.0f;
  static constexpr std::string_view names[3] = {"MXFP4", "MXFP4_RCEIL", "MXFP4_CT"};
  static constexpr int bits = 4;
};
template <> struct mx_element<fp6_e2m3> {
  static constexpr std::string_view element_dtype = "fp6_e2m3";
  static constexpr int emax = 2;
  static constexpr float max = 7.5f;
  static constexpr std::string_view names[3] = {"MXFP6_E2M3", "MXFP6_E2M3_RCEIL", "MXFP6_E2M3_CT"};
  static constexpr int bits = 6;
};
template <> struct mx_element<fp6_e3m2> {
  static constexpr std::string_view element_dtype = "fp6_e3m2";
  static constexpr int emax = 4;
  static constexpr float max = 28.0f;
  static constexpr std::string_view names[3] = {"MXFP6_E3M2", "MXFP6_E3M2_RCEIL", "MXFP6_E3M2_CT"};
  static constexpr int bits = 6;
};
template <> struct mx_element<fp8_e4m3> {
  static constexpr std::string_view element_dtype = "fp8_e4m3";
  static constexpr int emax = 8;
  static constexpr float max = 448.0f;
  static constexpr std::string_view names[3] = {"MXFP8_E4M3", "MXFP8_E4M3_RCEIL", "MXFP8_E4M3_CT"};
  static constexpr int bits = 8;
  static constexpr dtype storage = dtype::F8_E4M3;
};
template <> struct mx_element<fp8_e5m2> {
  static constexpr std::string_view element_dtype = "fp8_e5m2";
  static constexpr int emax = 15;
  static constexpr float max = 57344.0f;
  static constexpr std::string_view names[3] = {"MXFP8_E5M2", "MXFP8_E5M2_RCEIL", "MXFP8_E5M2_CT"};
  static constexpr int bits = 8;
  static constexpr dtype storage = dtype::F8_E5M2;
};

}  // namespace detail

// The shared exponent e (scale 2^e) of a block with max |x| = amax under a rule.
template <class Elem>
PQ_HD constexpr int mx_shared_exponent(mx_scale_rule rule, float amax) noexcept {
  using T = detail::mx_element<Elem>;
  if (!(amax > 0.0f)) return -127;
  int e = 0;
  if (rule == mx_scale_rule::ocp_floor) {
    e = detail::floor_log2(amax) - T::emax;
  } else if (rule == mx_scale_rule::rceil) {
    // smallest e with max_elem * 2^e >= amax (exact in double)
    e = detail::floor_log2(amax) - detail::floor_log2(T::max);
    const double a = amax;
    while (e < 200 && static_cast<double>(T::max) * detail::pow2d(e) < a) ++e;
    while (e > -300 && static_cast<double>(T::max) * detail::pow2d(e - 1) >= a) --e;
  } else {
    const std::uint32_t b = (prismaquant::detail::bit_cast<std::uint32_t>(amax) + 0x200000u) & 0xFF800000u;
    if (b == 0) return -127;  // p = 0 (subnormal amax, fraction < .75): log2 -> -inf, code 0
    e = static_cast<int>(b >> 23) - 127 - T::emax;  // p = inf (b >> 23 == 255): clamped below
  }
  return e < -127 ? -127 : e > 127 ? 127 : e;
}

template <class Elem, mx_scale_rule Rule = mx_scale_rule::ocp_floor>
struct mx_format {
  using elem = Elem;
  using traits = detail::mx_element<Elem>;
  static constexpr mx_scale_rule rule = Rule;
  static constexpr std::string_view name = traits::names[static_cast<int>(Rule)];
  static constexpr std::int64_t block_rows = 1;
  static constexpr std::int64_t block_cols = 32;
  static constexpr int element_bits = traits::bits;
  static constexpr std::string_view data_type = "mx_fp";
  static constexpr std::string_view element_dtype = traits::element_dtype;

  using code_type = std::uint8_t;
  struct tensor_params {
    dtype source = dtype::F32;  // ct rule only: the dtype CT divides in
  };
  struct block_params {
    float scale = 1.0f;             // 2^e
    std::uint8_t scale_code = 127;  // e + 127
    dtype source = dtype::F32;      // ct rule only
  };

  PQ_HD static constexpr tensor_params prepare(tensor_stats s) noexcept {
    return {Rule == mx_scale_rule::ct ? detail::observer_dtype(s.source) : dtype::F32};
  }
  PQ_HD static constexpr block_params block_from_code(unsigned code, dtype source = dtype::F32) noexcept {
    block_params bp;
    bp.scale_code = static_cast<std::uint8_t>(code);
    bp.scale = e8m0::from_bits(code).to_float();
    bp.source = source;
    return bp;
  }
  PQ_HD static constexpr block_params block_scale(const tensor_params& tp, block_range r) noexcept {
    return block_from_code(static_cast<unsigned>(mx_shared_exponent<Elem>(Rule, r.amax()) + 127), tp.source);
  }
  PQ_HD static constexpr code_type quantize(const block_params& bp, float x) noexcept {
    float q = x / bp.scale;
    if (Rule == mx_scale_rule::ct) q = detail::round_through(bp.source, q);
    if (traits::bits == 4 && q == 0.0f) return 0;  // CT's fp4 packer: exact zeros are +0
    return static_cast<code_type>(Elem::from_float(q).bits());
  }
  PQ_HD static constexpr float dequantize(const block_params& bp, code_type q) noexcept {
    return Elem::from_bits(q).to_float() * bp.scale;
  }

  PQ_HD static constexpr std::int64_t element_row_bytes(std::int64_t cols) noexcept {
    return traits::bits == 4 ? (cols + 1) / 2 : traits::bits == 6 ? (cols * 6 + 7) / 8 : cols;
  }
  PQ_HD static constexpr std::uint64_t storage_bytes(std::int64_t rows, std::int64_t cols) noexcept {
    return static_cast<std::uint64_t>(rows) *
           static_cast<std::uint64_t>(element_row_bytes(cols) + block_count(32, cols));
  }
  static void check_shape(std::int64_t rows, std::int64_t cols, std::string_view where) {
    if (rows <= 0 || cols <= 0) throw error(std::string(where), std::string(name) + " needs a non-empty 2-D weight");
    if (!(cols % 32 == 0 || cols < 32))
      throw error(std::string(where),
                  std::string(name) + " needs in_features divisible by 32 (or < 32), got " + std::to_string(cols));
    if (traits::bits == 4 && cols % 2 != 0)
      throw error(std::string(where), std::string(name) + " needs an even in_features, got " + std::to_string(cols));
  }
  static std::vector<tensor_spec> layout(std::int64_t rows, std::int64_t cols, const tensor_params&) {
    tensor_spec elems = [&]() -> tensor_spec {
      if constexpr (traits::bits == 8) return {"weight", traits::storage, {rows, cols}};
      else return {"weight_packed", dtype::U8, {rows, element_row_bytes(cols)}};
    }();
    return {elems, {"weight_scale", dtype::U8, {rows, block_count(32, cols)}}};
  }
  static void store_tensor(encoded_weight&, const tensor_params&) {}
  static void store_block(encoded_weight& e, std::int64_t bi, std::int64_t bj, const block_params& bp) {
    e.tensors[1].bytes[static_cast<std::size_t>(bi * block_count(32, e.cols) + bj)] = bp.scale_code;
  }
  static void store_code(encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    if constexpr (traits::bits == 4) detail::store_nibble(e.tensors[0], e.cols, i, j, q);
    else if constexpr (traits::bits == 6) detail::store_fp6(e.tensors[0], e.cols, i, j, q);
    else e.tensors[0].bytes[static_cast<std::size_t>(i * e.cols + j)] = q;
  }
  static tensor_params load_tensor(const encoded_weight&) { return {}; }
  static block_params load_block(const encoded_weight& e, std::int64_t bi, std::int64_t bj, const tensor_params&) {
    return block_from_code(e.tensors[1].bytes[static_cast<std::size_t>(bi * block_count(32, e.cols) + bj)]);
  }
  static code_type load_code(const encoded_weight& e, std::int64_t i, std::int64_t j) {
    if constexpr (traits::bits == 4) return static_cast<code_type>(detail::load_nibble(e.tensors[0], e.cols, i, j));
    else if constexpr (traits::bits == 6) return static_cast<code_type>(detail::load_fp6(e.tensors[0], e.cols, i, j));
    else return e.tensors[0].bytes[static_cast<std::size_t>(i * e.cols + j)];
  }
};

using mxfp4 = mx_format<fp4_e2m1>;
using mxfp6_e2m3 = mx_format<fp6_e2m3>;
using mxfp6_e3m2 = mx_format<fp6_e3m2>;
using mxfp8_e4m3 = mx_format<fp8_e4m3>;
using mxfp8_e5m2 = mx_format<fp8_e5m2>;
// compressed-tensors' scale rule: what an export writes (MXFP4_CT, MXFP8_E4M3_CT)
using mxfp4_ct = mx_format<fp4_e2m1, mx_scale_rule::ct>;
using mxfp8_e4m3_ct = mx_format<fp8_e4m3, mx_scale_rule::ct>;

}  // namespace prismaquant::formats
