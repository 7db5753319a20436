#pragma once
// NaN / Inf in a stored tensor, found from its bits (no decoding): the one check every
// command that reads weights runs before using them. Host only.
//
//   prismaquant::require_finite(view);   // throws "<file>: tensor \"<name>\": NaN at [i, j]"
//
// Non-finite codes per dtype: F64/F32/F16/BF16 and F8_E5M2 an all-ones exponent (Inf with a
// zero mantissa, else NaN); F8_E4M3 (the "fn" variant: no Inf) magnitude 0x7F is NaN;
// F8_E8M0 0xFF is NaN. F6/F4 and integer types have no such codes.
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/io/safetensors_file.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>

namespace prismaquant {

struct non_finite {
  std::uint64_t index;  // flat, row-major
  bool nan;             // else Inf
};

namespace detail {

template <class U>
std::optional<non_finite> scan_codes(std::span<const std::byte> bytes, U exp_mask, U mag_mask, bool has_inf) {
  const std::size_t n = bytes.size() / sizeof(U);
  constexpr std::size_t chunk = 4096;
  for (std::size_t c0 = 0; c0 < n; c0 += chunk) {
    const std::size_t c1 = std::min(n, c0 + chunk);
    U u[chunk];
    std::memcpy(u, bytes.data() + c0 * sizeof(U), (c1 - c0) * sizeof(U));  // the bytes may be unaligned
    bool any = false;
    for (std::size_t i = 0; i < c1 - c0; ++i) any |= (u[i] & exp_mask) == exp_mask;  // no early exit: vectorises
    if (!any) continue;
    for (std::size_t i = 0; i < c1 - c0; ++i)
      if ((u[i] & exp_mask) == exp_mask) return non_finite{c0 + i, !has_inf || (u[i] & mag_mask) != exp_mask};
  }
  return std::nullopt;
}

inline std::string index_string(std::uint64_t flat, std::span<const std::uint64_t> shape) {
  if (shape.empty()) return "[]";
  std::string s;
  for (std::size_t d = shape.size(); d-- > 0;) {
    const std::uint64_t extent = shape[d] ? shape[d] : 1;
    s = std::to_string(flat % extent) + (s.empty() ? "" : ", ") + s;
    flat /= extent;
  }
  return "[" + s + "]";
}

}  // namespace detail

// The first NaN or Inf of a tensor in storage order, if any.
inline std::optional<non_finite> find_non_finite(dtype type, std::span<const std::byte> bytes) {
  using detail::scan_codes;
  switch (type) {
    case dtype::F64: return scan_codes<std::uint64_t>(bytes, 0x7FF0000000000000ull, 0x7FFFFFFFFFFFFFFFull, true);
    case dtype::F32: return scan_codes<std::uint32_t>(bytes, 0x7F800000u, 0x7FFFFFFFu, true);
    case dtype::F16: return scan_codes<std::uint16_t>(bytes, std::uint16_t{0x7C00}, std::uint16_t{0x7FFF}, true);
    case dtype::BF16: return scan_codes<std::uint16_t>(bytes, std::uint16_t{0x7F80}, std::uint16_t{0x7FFF}, true);
    case dtype::F8_E5M2: return scan_codes<std::uint8_t>(bytes, std::uint8_t{0x7C}, std::uint8_t{0x7F}, true);
    case dtype::F8_E4M3: return scan_codes<std::uint8_t>(bytes, std::uint8_t{0x7F}, std::uint8_t{0x7F}, false);
    case dtype::F8_E8M0: return scan_codes<std::uint8_t>(bytes, std::uint8_t{0xFF}, std::uint8_t{0xFF}, false);
    default: return std::nullopt;  // F6, F4, integers: every code is finite
  }
}

// Throws prismaquant::error naming the file, the tensor and the element's index.
inline void require_finite(const tensor_view& t) {
  if (const auto bad = find_non_finite(t.type, t.bytes))
    throw error(std::string(t.file) + ": tensor \"" + std::string(t.name) + "\"",
                std::string(bad->nan ? "NaN" : "Inf") + " at " + detail::index_string(bad->index, t.shape) +
                    "; quantization needs finite weights");
}

}  // namespace prismaquant
