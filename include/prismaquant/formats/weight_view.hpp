#pragma once
// A read-only 2-D view of a weight [rows = out, cols = in], in any of the element types
// checkpoints ship: float32, bfloat16, float16 (converted to float32 exactly), or FP8 E4M3
// with 128x128 block multipliers (`weight_scale_inv`, DeepSeek-V3 / MiniMax-M2 style;
// element value = float(fp8) * scale_inv[block], multiplied in float32).
// Host-only; the view does not own its data.
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace prismaquant::formats {

struct weight_view {
  const void* data = nullptr;
  dtype type = dtype::F32;  // F32, BF16, F16, or F8_E4M3 (then scale_inv is required)
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::string_view name = "weight";  // named in every error about this tensor
  const float* scale_inv = nullptr;  // F8_E4M3 only: [ceil(rows/B), ceil(cols/B)] row-major
  std::int64_t scale_block = 128;    // B

  weight_view() = default;
  weight_view(const float* p, std::int64_t r, std::int64_t c, std::string_view n = "weight")
      : data(p), type(dtype::F32), rows(r), cols(c), name(n) {}
  weight_view(const bf16* p, std::int64_t r, std::int64_t c, std::string_view n = "weight")
      : data(p), type(dtype::BF16), rows(r), cols(c), name(n) {}
  weight_view(const fp16* p, std::int64_t r, std::int64_t c, std::string_view n = "weight")
      : data(p), type(dtype::F16), rows(r), cols(c), name(n) {}
  // FP8 E4M3 codes with per-(B x B)-block float32 multipliers.
  weight_view(const fp8_e4m3* p, const float* scale_inv_, std::int64_t r, std::int64_t c,
              std::string_view n = "weight", std::int64_t block = 128)
      : data(p), type(dtype::F8_E4M3), rows(r), cols(c), name(n), scale_inv(scale_inv_), scale_block(block) {}
  // Raw bytes of a safetensors tensor (little-endian) with its dtype.
  static weight_view from_bytes(const void* p, dtype t, std::int64_t r, std::int64_t c,
                                std::string_view n = "weight", const float* scale_inv = nullptr,
                                std::int64_t block = 128) {
    weight_view v;
    v.data = p; v.type = t; v.rows = r; v.cols = c; v.name = n; v.scale_inv = scale_inv; v.scale_block = block;
    v.validate();
    return v;
  }

  std::int64_t size() const noexcept { return rows * cols; }

  // Throws prismaquant::error naming the tensor if the view cannot be read.
  void validate() const {
    const std::string n(name);
    if (rows < 0 || cols < 0) throw error(n, "negative shape");
    if (size() > 0 && data == nullptr) throw error(n, "null data pointer");
    switch (type) {
      case dtype::F32: case dtype::BF16: case dtype::F16: break;
      case dtype::F8_E4M3:
        if (scale_inv == nullptr) throw error(n, "F8_E4M3 weight needs its block scales (weight_scale_inv)");
        if (scale_block <= 0) throw error(n, "F8_E4M3 block size must be positive");
        break;
      default:
        throw error(n, "cannot read a weight of dtype " + std::string(dtype_name(type)) +
                           " (expected F32, BF16, F16 or F8_E4M3 with block scales)");
    }
  }

  // Element (i, j) as float32 (exact for F32/BF16/F16; fp8 * scale_inv rounded once for F8).
  float at(std::int64_t i, std::int64_t j) const noexcept {
    const std::int64_t k = i * cols + j;
    switch (type) {
      case dtype::BF16: return bf16::from_bits(load16(k)).to_float();
      case dtype::F16: return fp16::from_bits(load16(k)).to_float();
      case dtype::F8_E4M3: {
        const std::int64_t sc = (cols + scale_block - 1) / scale_block;
        const float s = scale_inv[(i / scale_block) * sc + j / scale_block];
        return fp8_e4m3::from_bits(static_cast<const std::uint8_t*>(data)[k]).to_float() * s;
      }
      default: {
        float f;
        std::memcpy(&f, static_cast<const unsigned char*>(data) + k * 4, 4);
        return f;
      }
    }
  }

  // Row i as float32 into out[0..cols) (one dtype switch per row, not per element).
  void load_row(std::int64_t i, float* out) const noexcept {
    const unsigned char* base = static_cast<const unsigned char*>(data);
    switch (type) {
      case dtype::F32:
        std::memcpy(out, base + i * cols * 4, static_cast<std::size_t>(cols) * 4);
        return;
      case dtype::BF16:
        for (std::int64_t j = 0; j < cols; ++j) {  // bf16 is the top half of a float32
          std::uint16_t h;
          std::memcpy(&h, base + (i * cols + j) * 2, 2);
          const std::uint32_t b = static_cast<std::uint32_t>(h) << 16;
          std::memcpy(out + j, &b, 4);
        }
        return;
      default:
        for (std::int64_t j = 0; j < cols; ++j) out[j] = at(i, j);
    }
  }

 private:
  unsigned load16(std::int64_t k) const noexcept {
    std::uint16_t v;
    std::memcpy(&v, static_cast<const unsigned char*>(data) + k * 2, 2);
    return v;
  }
};

}  // namespace prismaquant::formats
