#pragma once
// Element and scale packings shared by the built-in formats (host-only storage helpers).
//   nibbles     two 4-bit codes per byte, even column in the low nibble (CT pack_fp4_to_uint8)
//   fp6 stream  four 6-bit codes per 3 bytes, little-endian bit stream per row
//   int32 pack  CT pack_to_int32: 32/num_bits codes per int32, code k at bits [k*nb, k*nb+nb),
//               rows padded with zero codes to a whole word (3 bits: 10 per word, 2 bits spare)
//   scalars     one float stored as F32 / BF16 / F16 / F8_E4M3 (RNE) or an e8m0 code (U8)
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/formats/storage.hpp>

#include <cstdint>

namespace prismaquant::formats::detail {

// ---- 4-bit codes, two per byte, [rows, ceil(cols/2)] ----
inline std::int64_t nibble_cols(std::int64_t cols) noexcept { return (cols + 1) / 2; }
inline void store_nibble(encoded_tensor& t, std::int64_t cols, std::int64_t i, std::int64_t j, unsigned code) noexcept {
  auto& b = t.bytes[static_cast<std::size_t>(i * nibble_cols(cols) + j / 2)];
  const int sh = (j & 1) ? 4 : 0;
  b = static_cast<std::uint8_t>((b & ~(0xF << sh)) | ((code & 0xF) << sh));
}
inline unsigned load_nibble(const encoded_tensor& t, std::int64_t cols, std::int64_t i, std::int64_t j) noexcept {
  const auto b = t.bytes[static_cast<std::size_t>(i * nibble_cols(cols) + j / 2)];
  return (j & 1) ? (b >> 4) : (b & 0xF);
}

// ---- 6-bit codes, bit stream per row, [rows, ceil(cols*6/8)] bytes ----
inline std::int64_t fp6_row_bytes(std::int64_t cols) noexcept { return (cols * 6 + 7) / 8; }
inline void store_fp6(encoded_tensor& t, std::int64_t cols, std::int64_t i, std::int64_t j, unsigned code) noexcept {
  t.put_bits(static_cast<std::uint64_t>(i * fp6_row_bytes(cols)) * 8 + static_cast<std::uint64_t>(j) * 6, 6, code);
}
inline unsigned load_fp6(const encoded_tensor& t, std::int64_t cols, std::int64_t i, std::int64_t j) noexcept {
  return t.get_bits(static_cast<std::uint64_t>(i * fp6_row_bytes(cols)) * 8 + static_cast<std::uint64_t>(j) * 6, 6);
}

// ---- CT pack_to_int32 ----
constexpr std::int64_t pack_factor(int nbits) noexcept { return 32 / nbits; }
constexpr std::int64_t packed_words(std::int64_t n, int nbits) noexcept {
  return (n + pack_factor(nbits) - 1) / pack_factor(nbits);
}
// Packed along dim 1 (columns): tensor [rows, packed_words(cols)] of I32.
inline void store_packed(encoded_tensor& t, int nbits, std::int64_t cols, std::int64_t i, std::int64_t j,
                         unsigned code) noexcept {
  const std::int64_t pf = pack_factor(nbits);
  const std::uint64_t word = static_cast<std::uint64_t>(i * packed_words(cols, nbits) + j / pf);
  t.put_bits(word * 32 + static_cast<std::uint64_t>((j % pf) * nbits), nbits, code);
}
inline unsigned load_packed(const encoded_tensor& t, int nbits, std::int64_t cols, std::int64_t i,
                            std::int64_t j) noexcept {
  const std::int64_t pf = pack_factor(nbits);
  const std::uint64_t word = static_cast<std::uint64_t>(i * packed_words(cols, nbits) + j / pf);
  return t.get_bits(word * 32 + static_cast<std::uint64_t>((j % pf) * nbits), nbits);
}
// Packed along dim 0 (rows; CT's zero points): tensor [packed_words(rows), cols] of I32.
inline void store_packed_dim0(encoded_tensor& t, int nbits, std::int64_t cols, std::int64_t i, std::int64_t j,
                              unsigned code) noexcept {
  const std::int64_t pf = pack_factor(nbits);
  const std::uint64_t word = static_cast<std::uint64_t>((i / pf) * cols + j);
  t.put_bits(word * 32 + static_cast<std::uint64_t>((i % pf) * nbits), nbits, code);
}
inline unsigned load_packed_dim0(const encoded_tensor& t, int nbits, std::int64_t cols, std::int64_t i,
                                 std::int64_t j) noexcept {
  const std::int64_t pf = pack_factor(nbits);
  const std::uint64_t word = static_cast<std::uint64_t>((i / pf) * cols + j);
  return t.get_bits(word * 32 + static_cast<std::uint64_t>((i % pf) * nbits), nbits);
}

// ---- one scalar as a given dtype ----
inline void store_scalar(encoded_tensor& t, std::uint64_t k, float v) noexcept {
  switch (t.type) {
    case dtype::F32: t.put<float>(k, v); break;
    case dtype::BF16: t.put<std::uint16_t>(k, static_cast<std::uint16_t>(bf16::from_float(v).bits())); break;
    case dtype::F16: t.put<std::uint16_t>(k, static_cast<std::uint16_t>(fp16::from_float(v).bits())); break;
    case dtype::F8_E4M3: t.bytes[k] = static_cast<std::uint8_t>(fp8_e4m3::from_float(v).bits()); break;
    default: break;
  }
}
inline float load_scalar(const encoded_tensor& t, std::uint64_t k) noexcept {
  switch (t.type) {
    case dtype::F32: return t.get<float>(k);
    case dtype::BF16: return bf16::from_bits(t.get<std::uint16_t>(k)).to_float();
    case dtype::F16: return fp16::from_bits(t.get<std::uint16_t>(k)).to_float();
    case dtype::F8_E4M3: return fp8_e4m3::from_bits(t.bytes[k]).to_float();
    default: return 0.0f;
  }
}

}  // namespace prismaquant::formats::detail
