#pragma once
// FP8_SOURCE: FP8 E4M3 with 128x128 block scales — the form MiniMax-M2 and DeepSeek-V3 ship
// (`weight` + `weight_scale_inv`, dequant = fp8 * scale_inv in float32) — as a pass-through.
//   <m>.weight        F8_E4M3  [out, in]
//   <m>.weight_scale  F32      [ceil(out/128), ceil(in/128)]   (the source's weight_scale_inv,
//                     renamed as CT's `strategy: block, block_structure: [128, 128]` wants it)
// A weight_view that already is FP8 with 128x128 float32 multipliers is copied byte for byte
// (its round trip is the identity). Any other input is quantized like CT's FP8_BLOCK:
// s = amax_block / 448 (zero -> float32 eps), q = e4m3_rne(clamp(x / s, ±448)), dequant q * s.
// Any shape is legal; edge blocks are partial (ceil).
#include <prismaquant/formats/detail/packing.hpp>
#include <prismaquant/formats/format.hpp>
#include <prismaquant/formats/weight_view.hpp>

#include <optional>
#include <string>

namespace prismaquant::formats {

struct fp8_source {
  static constexpr std::string_view name = "FP8_SOURCE";
  static constexpr std::int64_t block_rows = 128;
  static constexpr std::int64_t block_cols = 128;
  static constexpr int element_bits = 8;
  static constexpr std::string_view data_type = "fp8_e4m3";
  // A pass-through: chosen only for an FP8 128x128-block source, which it keeps byte for byte.
  static constexpr source_set accepts = source_set::of(source_format::fp8_block128);
  static constexpr source_set lossless_for = source_set::of(source_format::fp8_block128);

  using code_type = std::uint8_t;
  struct tensor_params {};
  struct block_params {
    float scale = 1.0f;  // the multiplier (weight_scale_inv)
  };

  PQ_HD static constexpr tensor_params prepare(tensor_stats) noexcept { return {}; }
  PQ_HD static constexpr block_params block_scale(const tensor_params&, block_range r) noexcept {
    float s = r.amax() / 448.0f;
    if (s == 0.0f) s = 1.1920929e-07f;
    return {s};
  }
  PQ_HD static constexpr code_type quantize(const block_params& bp, float x) noexcept {
    return static_cast<code_type>(fp8_e4m3::from_float(x / bp.scale).bits());
  }
  PQ_HD static constexpr float dequantize(const block_params& bp, code_type q) noexcept {
    return fp8_e4m3::from_bits(q).to_float() * bp.scale;
  }
  PQ_HD static constexpr std::uint64_t storage_bytes(std::int64_t rows, std::int64_t cols) noexcept {
    return static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols) +
           4 * static_cast<std::uint64_t>(block_count(128, rows) * block_count(128, cols));
  }
  static void check_shape(std::int64_t rows, std::int64_t cols, std::string_view where) {
    if (rows <= 0 || cols <= 0) throw error(std::string(where), "FP8_SOURCE needs a non-empty 2-D weight");
  }
  static std::vector<tensor_spec> layout(std::int64_t rows, std::int64_t cols, const tensor_params&) {
    return {{"weight", dtype::F8_E4M3, {rows, cols}},
            {"weight_scale", dtype::F32, {block_count(128, rows), block_count(128, cols)}}};
  }
  static void store_tensor(encoded_weight&, const tensor_params&) {}
  static void store_block(encoded_weight& e, std::int64_t bi, std::int64_t bj, const block_params& bp) {
    e.tensors[1].put<float>(static_cast<std::uint64_t>(bi * block_count(128, e.cols) + bj), bp.scale);
  }
  static void store_code(encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    e.tensors[0].bytes[static_cast<std::size_t>(i * e.cols + j)] = q;
  }
  static tensor_params load_tensor(const encoded_weight&) { return {}; }
  static block_params load_block(const encoded_weight& e, std::int64_t bi, std::int64_t bj, const tensor_params&) {
    return {e.tensors[1].get<float>(static_cast<std::uint64_t>(bi * block_count(128, e.cols) + bj))};
  }
  static code_type load_code(const encoded_weight& e, std::int64_t i, std::int64_t j) {
    return e.tensors[0].bytes[static_cast<std::size_t>(i * e.cols + j)];
  }

  // Byte-for-byte copy of an FP8 128x128-block source.
  static std::optional<encoded_weight> pass_through(const weight_view& w) {
    if (w.type != dtype::F8_E4M3 || w.scale_inv == nullptr || w.scale_block != 128) return std::nullopt;
    encoded_weight e = encoded_weight::allocate(w.rows, w.cols, layout(w.rows, w.cols, {}));
    std::memcpy(e.tensors[0].bytes.data(), w.data, e.tensors[0].bytes.size());
    std::memcpy(e.tensors[1].bytes.data(), w.scale_inv, e.tensors[1].bytes.size());
    for (std::size_t k = 0; k < e.tensors[1].numel(); ++k)
      if (!detail::is_finite(w.scale_inv[k]))
        throw error(std::string(w.name), "non-finite weight_scale_inv at block " + std::to_string(k));
    for (auto b : e.tensors[0].bytes)
      if ((b & 0x7F) == 0x7F) throw error(std::string(w.name), "NaN in the FP8 weight; quantization needs finite weights");
    return e;
  }
};

}  // namespace prismaquant::formats
