#pragma once
// TERNARY_g64, a quantization format written as a user writes one (no library file touched):
// blocks of 64 along `in`; codes {-1, 0, +1} as 2-bit fields (0, 1, 2 = -1, 0, +1) in a byte
// stream; one F16 scale per block = amax_b rounded to fp16; |x| >= scale/2 -> ±scale. Besides
// its math and storage it states the facts the allocator and layer_config.json read
// (formats/format.hpp section 3): element_bits and data_type; it accepts every source.
// examples/06_custom_format.cpp runs it through the whole pipeline;
// tests/test_formats_user.cpp through every generic entry point.
#include <prismaquant/formats/format.hpp>
#include <prismaquant/formats/storage.hpp>

#include <string>
#include <vector>

namespace user {

namespace fm = prismaquant::formats;
namespace pq = prismaquant;

struct ternary_g64 {
  static constexpr std::string_view name = "TERNARY_g64";
  static constexpr std::int64_t block_rows = 1, block_cols = 64;
  static constexpr int element_bits = 2;
  static constexpr std::string_view data_type = "ternary";
  using code_type = std::uint8_t;
  struct tensor_params {};
  struct block_params {
    float scale = 0.0f;
  };

  static constexpr tensor_params prepare(fm::tensor_stats) { return {}; }
  static constexpr block_params block_scale(const tensor_params&, fm::block_range r) {
    return {pq::fp16::from_float(r.amax()).to_float()};
  }
  static constexpr code_type quantize(const block_params& b, float x) {
    if (b.scale == 0.0f) return 1;
    return x >= b.scale / 2 ? 2 : x <= -b.scale / 2 ? 0 : 1;
  }
  static constexpr float dequantize(const block_params& b, code_type q) { return (static_cast<float>(q) - 1.0f) * b.scale; }
  static constexpr std::uint64_t storage_bytes(std::int64_t r, std::int64_t c) {
    return static_cast<std::uint64_t>(r) * static_cast<std::uint64_t>((c * 2 + 7) / 8 + 2 * fm::block_count(64, c));
  }
  static void check_shape(std::int64_t r, std::int64_t c, std::string_view where) {
    if (r <= 0 || c <= 0 || c % 64 != 0) throw pq::error(std::string(where), "TERNARY_g64 needs in % 64 == 0");
  }
  static std::vector<fm::tensor_spec> layout(std::int64_t r, std::int64_t c, const tensor_params&) {
    return {{"weight_packed", pq::dtype::U8, {r, (c * 2 + 7) / 8}}, {"weight_scale", pq::dtype::F16, {r, c / 64}}};
  }
  static void store_tensor(fm::encoded_weight&, const tensor_params&) {}
  static void store_block(fm::encoded_weight& e, std::int64_t bi, std::int64_t bj, const block_params& b) {
    e.tensors[1].put<std::uint16_t>(static_cast<std::uint64_t>(bi * (e.cols / 64) + bj),
                                    static_cast<std::uint16_t>(pq::fp16::from_float(b.scale).bits()));
  }
  static void store_code(fm::encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    e.tensors[0].put_bits(static_cast<std::uint64_t>(i * ((e.cols * 2 + 7) / 8) * 8 + j * 2), 2, q);
  }
  static tensor_params load_tensor(const fm::encoded_weight&) { return {}; }
  static block_params load_block(const fm::encoded_weight& e, std::int64_t bi, std::int64_t bj, const tensor_params&) {
    return {pq::fp16::from_bits(e.tensors[1].get<std::uint16_t>(static_cast<std::uint64_t>(bi * (e.cols / 64) + bj))).to_float()};
  }
  static code_type load_code(const fm::encoded_weight& e, std::int64_t i, std::int64_t j) {
    return static_cast<code_type>(e.tensors[0].get_bits(static_cast<std::uint64_t>(i * ((e.cols * 2 + 7) / 8) * 8 + j * 2), 2));
  }
};
}  // namespace user
