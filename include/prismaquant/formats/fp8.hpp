#pragma once
// FP8 E4M3 with one scale per output channel (FP8_E4M3) or per tensor (FP8_E4M3_TENSOR),
// compressed-tensors `float-quantized` (papers/ct-recipe.md §3):
//   <m>.weight        F8_E4M3  [out, in]
//   <m>.weight_scale  the weight's dtype (BF16 | F32 | F16)  [out, 1] (channel) | [1] (tensor)
// Recipe, bit for bit CT 0.19 (papers/ct-recipe.md §3; src(x) = round to the source dtype):
//   s = src(amax / 448); s == 0 -> finfo(src).eps (bf16: 2^-7);
//   q = e4m3_rne(clamp(src(x / s), ±448))  (double rounding, as CT); dequant q * s.
// storage_bytes(rows, cols) assumes BF16 scales (real checkpoints); the 3-argument form
// takes the source dtype. Any shape is legal.
#include <prismaquant/formats/detail/packing.hpp>
#include <prismaquant/formats/format.hpp>

#include <string>

namespace prismaquant::formats {

template <bool PerTensor>
struct fp8_e4m3_format {
  static constexpr std::string_view name = PerTensor ? "FP8_E4M3_TENSOR" : "FP8_E4M3";
  static constexpr std::int64_t block_rows = PerTensor ? whole : 1;
  static constexpr std::int64_t block_cols = whole;
  static constexpr int element_bits = 8;
  static constexpr std::string_view data_type = "fp8_e4m3";

  using code_type = std::uint8_t;
  struct tensor_params {
    dtype source = dtype::F32;
  };
  struct block_params {
    float scale = 1.0f;
    dtype source = dtype::F32;  // the quotient x / s is rounded to it before the e4m3 cast
  };

  PQ_HD static constexpr tensor_params prepare(tensor_stats s) noexcept { return {detail::observer_dtype(s.source)}; }
  PQ_HD static constexpr block_params block_scale(const tensor_params& tp, block_range r) noexcept {
    float s = detail::round_through(tp.source, r.amax() / 448.0f);
    if (s == 0.0f) s = detail::finfo_eps(tp.source);
    return {s, tp.source};
  }
  PQ_HD static constexpr code_type quantize(const block_params& bp, float x) noexcept {
    return static_cast<code_type>(fp8_e4m3::from_float(detail::round_through(bp.source, x / bp.scale)).bits());
  }
  PQ_HD static constexpr float dequantize(const block_params& bp, code_type q) noexcept {
    return fp8_e4m3::from_bits(q).to_float() * bp.scale;
  }
  PQ_HD static constexpr std::uint64_t storage_bytes(std::int64_t rows, std::int64_t cols,
                                                     dtype source = dtype::BF16) noexcept {
    return static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols) +
           static_cast<std::uint64_t>(dtype_bits(detail::observer_dtype(source)) / 8) *
               (PerTensor ? 1 : static_cast<std::uint64_t>(rows));
  }
  static void check_shape(std::int64_t rows, std::int64_t cols, std::string_view where) {
    if (rows <= 0 || cols <= 0) throw error(std::string(where), std::string(name) + " needs a non-empty 2-D weight");
  }
  static std::vector<tensor_spec> layout(std::int64_t rows, std::int64_t cols, const tensor_params& tp) {
    const dtype st = detail::observer_dtype(tp.source);
    return {{"weight", dtype::F8_E4M3, {rows, cols}},
            PerTensor ? tensor_spec{"weight_scale", st, {1}} : tensor_spec{"weight_scale", st, {rows, 1}}};
  }
  static void store_tensor(encoded_weight&, const tensor_params&) {}
  static void store_block(encoded_weight& e, std::int64_t bi, std::int64_t, const block_params& bp) {
    detail::store_scalar(e.tensors[1], static_cast<std::uint64_t>(bi), bp.scale);  // exact: s is src-rounded
  }
  static void store_code(encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    e.tensors[0].bytes[static_cast<std::size_t>(i * e.cols + j)] = q;
  }
  static tensor_params load_tensor(const encoded_weight& e) { return {detail::observer_dtype(e.tensors[1].type)}; }
  static block_params load_block(const encoded_weight& e, std::int64_t bi, std::int64_t, const tensor_params& tp) {
    return {detail::load_scalar(e.tensors[1], static_cast<std::uint64_t>(bi)), tp.source};
  }
  static code_type load_code(const encoded_weight& e, std::int64_t i, std::int64_t j) {
    return e.tensors[0].bytes[static_cast<std::size_t>(i * e.cols + j)];
  }
};

using fp8_e4m3_channel = fp8_e4m3_format<false>;
using fp8_e4m3_tensor = fp8_e4m3_format<true>;

}  // namespace prismaquant::formats
