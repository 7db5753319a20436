#pragma once
// Tensor element types as safetensors names them (docs/safetensors.md).
#include <prismaquant/core/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace prismaquant {

enum class dtype : std::uint8_t {
  BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64,
  F8_E4M3, F8_E5M2, F8_E8M0, F6_E2M3, F6_E3M2, F4,
};

// Bits per element as stored (F4 packs two per byte, F6 four per three bytes).
constexpr int dtype_bits(dtype t) noexcept {
  switch (t) {
    case dtype::BOOL: case dtype::U8: case dtype::I8:
    case dtype::F8_E4M3: case dtype::F8_E5M2: case dtype::F8_E8M0: return 8;
    case dtype::I16: case dtype::U16: case dtype::F16: case dtype::BF16: return 16;
    case dtype::I32: case dtype::U32: case dtype::F32: return 32;
    case dtype::I64: case dtype::U64: case dtype::F64: return 64;
    case dtype::F6_E2M3: case dtype::F6_E3M2: return 6;
    case dtype::F4: return 4;
  }
  return 0;
}

constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
    case dtype::BOOL: return "BOOL"; case dtype::U8: return "U8"; case dtype::I8: return "I8";
    case dtype::I16: return "I16"; case dtype::U16: return "U16"; case dtype::I32: return "I32";
    case dtype::U32: return "U32"; case dtype::I64: return "I64"; case dtype::U64: return "U64";
    case dtype::F16: return "F16"; case dtype::BF16: return "BF16"; case dtype::F32: return "F32";
    case dtype::F64: return "F64"; case dtype::F8_E4M3: return "F8_E4M3"; case dtype::F8_E5M2: return "F8_E5M2";
    case dtype::F8_E8M0: return "F8_E8M0"; case dtype::F6_E2M3: return "F6_E2M3";
    case dtype::F6_E3M2: return "F6_E3M2"; case dtype::F4: return "F4";
  }
  return "?";
}

// Parse a safetensors dtype string; throws prismaquant::error for an unknown one.
inline dtype parse_dtype(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(dtype::F4); ++i)
    if (dtype_name(static_cast<dtype>(i)) == s) return static_cast<dtype>(i);
  throw error("dtype", "unknown safetensors dtype \"" + std::string(s) + "\"");
}

constexpr bool is_floating(dtype t) noexcept {
  switch (t) {
    case dtype::F16: case dtype::BF16: case dtype::F32: case dtype::F64: case dtype::F8_E4M3:
    case dtype::F8_E5M2: case dtype::F8_E8M0: case dtype::F6_E2M3: case dtype::F6_E3M2: case dtype::F4:
      return true;
    default: return false;
  }
}

}  // namespace prismaquant
