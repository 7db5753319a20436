#pragma once
// NVFP4 (W4A4) and NVFP4A16 (weight-only), as compressed-tensors writes them
// (format `nvfp4-pack-quantized`; papers/ct-recipe.md):
//
//   <m>.weight_packed        U8       [out, in/2]   e2m1 codes, even column in the low nibble
//   <m>.weight_scale         F8_E4M3  [out, in/16]  block scales, row-major, unswizzled
//   <m>.weight_global_scale  F32      [1]           gs, a divisor (vLLM inverts it on load)
//   <m>.input_global_scale   F32      [1]           W4A4 only
//
// Recipe, bit for bit CT 0.19 (papers/ct-recipe.md §1; "src(x)" = round x to the source
// dtype, identity for float32 sources — CT computes in the weight's dtype):
//   A  = max(amax, finfo(src).tiny);  gs = src(src(1 / A) * 2688)   (non-finite -> 1.0)
//   per 16-block: s = e4m3_rne(clamp(src(amax_b / 6) * gs, ±448)); zero s -> 0.125 (0x20)
//   eff = s_f / gs;  q = e2m1_rne(clamp(x / eff, ±6))  (division by the rounded scale)
//   a negative value rounding to 0 keeps its sign (0x8); an exact zero (also -0.0) is 0x0
//   dequant q * eff.  Fused siblings share gs by preparing from the group's max amax.
// input_global_scale (W4A4) = the same gs formula on the activation amax (tensor_stats::
// input_amax, from calibration); 1.0 when unknown (then export NVFP4A16 instead).
// Shapes: in % 16 == 0 (CT), plus our extension: in < 16 and even (one short block).
#include <prismaquant/formats/detail/packing.hpp>
#include <prismaquant/formats/format.hpp>

#include <string>

namespace prismaquant::formats {

template <bool W4A4>
struct nvfp4_format {
  static constexpr std::string_view name = W4A4 ? "NVFP4" : "NVFP4A16";
  static constexpr std::int64_t block_rows = 1;
  static constexpr std::int64_t block_cols = 16;
  static constexpr int element_bits = 4;
  static constexpr std::string_view data_type = "nv_fp";

  using code_type = std::uint8_t;  // e2m1 code: sign << 3 | magnitude index
  struct tensor_params {
    float global_scale = 1.0f;        // gs (divisor)
    float input_global_scale = 1.0f;  // W4A4 only
    dtype source = dtype::F32;
  };
  struct block_params {
    float eff = 1.0f;               // s_f / gs: the element step
    std::uint8_t scale_code = 0;    // e4m3 code of s_f
  };

  // CT generate_gparam: torch evaluates 2688 / A as reciprocal(A) * 2688, each op rounded
  // to the observer dtype.
  PQ_HD static constexpr float global_scale_from_amax(float amax, dtype source) noexcept {
    const dtype o = detail::observer_dtype(source);
    const float tiny = detail::finfo_tiny(o);
    const float r = detail::round_through(o, 1.0f / (amax > tiny ? amax : tiny));
    const float gs = detail::round_through(o, r * 2688.0f);
    return detail::is_finite(gs) ? gs : 1.0f;
  }

  PQ_HD static constexpr tensor_params prepare(tensor_stats s) noexcept {
    tensor_params tp;
    tp.global_scale = global_scale_from_amax(s.amax, s.source);
    tp.input_global_scale = s.input_amax > 0.0f ? global_scale_from_amax(s.input_amax, s.source) : 1.0f;
    tp.source = s.source;
    return tp;
  }

  PQ_HD static constexpr block_params block_scale(const tensor_params& tp, block_range r) noexcept {
    const float a6 = detail::round_through(detail::observer_dtype(tp.source), r.amax() / 6.0f);
    const fp8_e4m3 s = fp8_e4m3::from_float(tp.global_scale * a6);  // saturating == clamp(±448) then RNE
    float sf = s.to_float();
    block_params bp;
    bp.scale_code = static_cast<std::uint8_t>(s.bits());
    if (sf == 0.0f) {  // CT replaces a zero scale by the fp8 eps 0.125 (stored as such)
      sf = 0.125f;
      bp.scale_code = 0x20;
    }
    bp.eff = sf / tp.global_scale;
    return bp;
  }
  PQ_HD static constexpr block_params block_from_code(const tensor_params& tp, unsigned scale_code) noexcept {
    block_params bp;
    bp.scale_code = static_cast<std::uint8_t>(scale_code);
    bp.eff = fp8_e4m3::from_bits(scale_code).to_float() / tp.global_scale;
    return bp;
  }

  PQ_HD static constexpr code_type quantize(const block_params& bp, float x) noexcept {
    const float q = x / bp.eff;
    // CT packs signbit(sign(q) * magnitude): exact zeros (also -0.0) give +0
    return q == 0.0f ? code_type{0} : static_cast<code_type>(fp4_e2m1::from_float(q).bits());
  }
  PQ_HD static constexpr float dequantize(const block_params& bp, code_type q) noexcept {
    return fp4_e2m1::from_bits(q).to_float() * bp.eff;
  }

  PQ_HD static constexpr std::uint64_t storage_bytes(std::int64_t rows, std::int64_t cols) noexcept {
    const auto r = static_cast<std::uint64_t>(rows);
    return r * static_cast<std::uint64_t>((cols + 1) / 2) + r * static_cast<std::uint64_t>(block_count(16, cols)) +
           4 + (W4A4 ? 4 : 0);
  }

  static void check_shape(std::int64_t rows, std::int64_t cols, std::string_view where) {
    if (rows <= 0 || cols <= 0) throw error(std::string(where), std::string(name) + " needs a non-empty 2-D weight");
    if (!(cols % 16 == 0 || (cols < 16 && cols % 2 == 0)))
      throw error(std::string(where), std::string(name) + " needs in_features divisible by 16 (or even and < 16), got " +
                                          std::to_string(cols));
  }

  static std::vector<tensor_spec> layout(std::int64_t rows, std::int64_t cols, const tensor_params&) {
    std::vector<tensor_spec> v{{"weight_packed", dtype::U8, {rows, (cols + 1) / 2}},
                               {"weight_scale", dtype::F8_E4M3, {rows, block_count(16, cols)}},
                               {"weight_global_scale", dtype::F32, {1}}};
    if (W4A4) v.push_back({"input_global_scale", dtype::F32, {1}});
    return v;
  }
  static void store_tensor(encoded_weight& e, const tensor_params& tp) {
    e.tensors[2].put<float>(0, tp.global_scale);
    if (W4A4) e.tensors[3].put<float>(0, tp.input_global_scale);
  }
  static void store_block(encoded_weight& e, std::int64_t bi, std::int64_t bj, const block_params& bp) {
    e.tensors[1].bytes[static_cast<std::size_t>(bi * block_count(16, e.cols) + bj)] = bp.scale_code;
  }
  static void store_code(encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    detail::store_nibble(e.tensors[0], e.cols, i, j, q);
  }
  static tensor_params load_tensor(const encoded_weight& e) {
    tensor_params tp;
    tp.global_scale = e.tensors[2].get<float>(0);
    if (W4A4) tp.input_global_scale = e.tensors[3].get<float>(0);
    return tp;
  }
  static block_params load_block(const encoded_weight& e, std::int64_t bi, std::int64_t bj, const tensor_params& tp) {
    return block_from_code(tp, e.tensors[1].bytes[static_cast<std::size_t>(bi * block_count(16, e.cols) + bj)]);
  }
  static code_type load_code(const encoded_weight& e, std::int64_t i, std::int64_t j) {
    return static_cast<code_type>(detail::load_nibble(e.tensors[0], e.cols, i, j));
  }
};

using nvfp4 = nvfp4_format<true>;
using nvfp4a16 = nvfp4_format<false>;

}  // namespace prismaquant::formats
