#pragma once
// How a source checkpoint stores a Linear's weight, and sets of such sources. A format says
// with them which sources it may be chosen for (`accepts`) and which it stores exactly
// (`lossless_for`: a pass-through). Plain constexpr values: the cost kernels read them too.
#include <prismaquant/core/config.hpp>

#include <cstdint>
#include <string_view>

namespace prismaquant::formats {

// bf16 / fp16 / f32 weights, or FP8 E4M3 with 128x128 float32 block multipliers
// (`weight_scale_inv`, MiniMax-M2 / DeepSeek-V3 releases), or a weight a compressed-tensors
// checkpoint stores compressed (`weight_packed`, or `weight` with `weight_scale`: its scheme is
// in config.json). Only evaluation reads the last (engine/compressed_weights.hpp); no format
// accepts it, since re-quantizing a quantized export is not the method.
enum class source_format : std::uint8_t { bf16, fp16, f32, fp8_block128, compressed };

constexpr std::string_view source_format_name(source_format s) noexcept {
  switch (s) {
    case source_format::bf16: return "BF16";
    case source_format::fp16: return "F16";
    case source_format::f32: return "F32";
    case source_format::fp8_block128: return "FP8_BLOCK128";
    case source_format::compressed: return "COMPRESSED_TENSORS";
  }
  return "?";
}

struct source_set {
  std::uint8_t bits = 0;
  PQ_HD static constexpr source_set none() noexcept { return {}; }
  PQ_HD static constexpr source_set all() noexcept { return {0x0F}; }  // every plain source
  template <class... S>
  PQ_HD static constexpr source_set of(S... s) noexcept {
    return {static_cast<std::uint8_t>((0u | ... | (1u << static_cast<unsigned>(s))))};
  }
  PQ_HD constexpr bool contains(source_format s) const noexcept { return (bits >> static_cast<unsigned>(s)) & 1u; }
  PQ_HD constexpr bool operator==(const source_set&) const = default;
};

}  // namespace prismaquant::formats
