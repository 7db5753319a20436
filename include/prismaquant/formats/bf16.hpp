#pragma once
// BF16 pass-through: <m>.weight BF16 [out, in]; q = bf16_rne(x) (exact for bf16 sources).
#include <prismaquant/formats/format.hpp>

#include <string>

namespace prismaquant::formats {

struct bf16_passthrough {
  static constexpr std::string_view name = "BF16";
  static constexpr std::int64_t block_rows = 1;
  static constexpr std::int64_t block_cols = whole;
  static constexpr int element_bits = 16;
  static constexpr std::string_view data_type = "float";
  static constexpr source_set lossless_for = source_set::of(source_format::bf16);  // bf16 is kept as is

  using code_type = std::uint16_t;
  struct tensor_params {};
  struct block_params {};

  PQ_HD static constexpr tensor_params prepare(tensor_stats) noexcept { return {}; }
  PQ_HD static constexpr block_params block_scale(const tensor_params&, block_range) noexcept { return {}; }
  PQ_HD static constexpr code_type quantize(const block_params&, float x) noexcept {
    return static_cast<code_type>(bf16::from_float(x).bits());
  }
  PQ_HD static constexpr float dequantize(const block_params&, code_type q) noexcept {
    return bf16::from_bits(q).to_float();
  }
  PQ_HD static constexpr std::uint64_t storage_bytes(std::int64_t rows, std::int64_t cols) noexcept {
    return 2 * static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols);
  }
  static void check_shape(std::int64_t rows, std::int64_t cols, std::string_view where) {
    if (rows <= 0 || cols <= 0) throw error(std::string(where), "BF16 needs a non-empty 2-D weight");
  }
  static std::vector<tensor_spec> layout(std::int64_t rows, std::int64_t cols, const tensor_params&) {
    return {{"weight", dtype::BF16, {rows, cols}}};
  }
  static void store_tensor(encoded_weight&, const tensor_params&) {}
  static void store_block(encoded_weight&, std::int64_t, std::int64_t, const block_params&) {}
  static void store_code(encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    e.tensors[0].put<std::uint16_t>(static_cast<std::uint64_t>(i * e.cols + j), q);
  }
  static tensor_params load_tensor(const encoded_weight&) { return {}; }
  static block_params load_block(const encoded_weight&, std::int64_t, std::int64_t, const tensor_params&) { return {}; }
  static code_type load_code(const encoded_weight& e, std::int64_t i, std::int64_t j) {
    return e.tensors[0].get<std::uint16_t>(static_cast<std::uint64_t>(i * e.cols + j));
  }
};

}  // namespace prismaquant::formats
