#pragma once
// A plain, non-owning view of one Linear weight [rows = out, cols = in], row-major, as the
// cost pass reads it on the host and on the device (no Hana / xtensor, no std::string: this
// is device code). Host callers usually hold a formats::weight_view (formats/weight_view.hpp);
// cost::to_plain (cost/engine.hpp) converts it.
//
// Element types: BF16, F16, F32, and F8_E4M3 with a 128x128 block `weight_scale_inv`
// (F32 [ceil(rows/128), ceil(cols/128)], row-major; dequant is a float32 multiply
// w = fp8 * scale_inv, as MiniMax-M2 / DeepSeek-V3 checkpoints store them; docs/formats.md).
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/dtype.hpp>

#include <cstdint>
#include <string>

namespace prismaquant::cost {

// Source element type of a weight; a small enum so device code can switch on it.
enum class weight_dtype : std::uint8_t { bf16, f16, f32, fp8_e4m3_block128 };

struct plain_weight {
  const void* data = nullptr;         // rows*cols elements, row-major (row stride = cols)
  std::int64_t rows = 0;              // out features
  std::int64_t cols = 0;              // in features
  weight_dtype type = weight_dtype::bf16;
  const float* scale_inv = nullptr;   // fp8 only: [ceil(rows/B), ceil(cols/B)]
  std::int64_t fp8_block = 128;       // B

  PQ_HD constexpr std::int64_t size() const noexcept { return rows * cols; }
  PQ_HD constexpr std::int64_t scale_cols() const noexcept { return (cols + fp8_block - 1) / fp8_block; }
  PQ_HD constexpr std::int64_t scale_rows() const noexcept { return (rows + fp8_block - 1) / fp8_block; }
  // Bytes of weight data (what throughput numbers count; fp8 scales are not counted).
  PQ_HD constexpr std::int64_t bytes() const noexcept {
    return size() * (type == weight_dtype::f32 ? 4 : type == weight_dtype::fp8_e4m3_block128 ? 1 : 2);
  }

  // One element as float32, exactly as the reference dequantizes it.
  PQ_HD float at(std::int64_t r, std::int64_t c) const noexcept {
    const std::int64_t i = r * cols + c;
    switch (type) {
      case weight_dtype::bf16: return bf16::from_bits(static_cast<const std::uint16_t*>(data)[i]).to_float();
      case weight_dtype::f16: return fp16::from_bits(static_cast<const std::uint16_t*>(data)[i]).to_float();
      case weight_dtype::f32: return static_cast<const float*>(data)[i];
      case weight_dtype::fp8_e4m3_block128:
        return fp8_e4m3::from_bits(static_cast<const std::uint8_t*>(data)[i]).to_float() *
               scale_inv[(r / fp8_block) * scale_cols() + c / fp8_block];
    }
    return 0.0f;
  }

  // Elements [c0, c0 + n) of row r as float32 into out (n <= 32): the device's per-thread load.
  // Exact, as at(): bf16/f16 widen, fp8 decodes and multiplies once by its block multiplier.
  PQ_HD void load_chunk(std::int64_t r, std::int64_t c0, int n, float* out) const noexcept {
    const std::int64_t i = r * cols + c0;
    switch (type) {
      case weight_dtype::bf16: {
        const std::uint16_t* p = static_cast<const std::uint16_t*>(data) + i;
#if defined(__CUDA_ARCH__)
        if (n == 32 && (reinterpret_cast<std::uintptr_t>(p) & 15) == 0) {  // four 16-byte loads
          const uint4* q = reinterpret_cast<const uint4*>(p);
#pragma unroll
          for (int k = 0; k < 4; ++k) {
            const uint4 v = __ldg(q + k);
            const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int h = 0; h < 4; ++h) {
              out[8 * k + 2 * h] = __uint_as_float(w[h] << 16);
              out[8 * k + 2 * h + 1] = __uint_as_float(w[h] & 0xFFFF0000u);
            }
          }
          return;
        }
#endif
        for (int j = 0; j < n; ++j) out[j] = bf16::from_bits(p[j]).to_float();
        return;
      }
      case weight_dtype::f16: {
        const std::uint16_t* p = static_cast<const std::uint16_t*>(data) + i;
        for (int j = 0; j < n; ++j) out[j] = fp16::from_bits(p[j]).to_float();
        return;
      }
      case weight_dtype::f32: {
        const float* p = static_cast<const float*>(data) + i;
        for (int j = 0; j < n; ++j) out[j] = p[j];
        return;
      }
      case weight_dtype::fp8_e4m3_block128: {
        const std::uint8_t* p = static_cast<const std::uint8_t*>(data) + i;
        const float* srow = scale_inv + (r / fp8_block) * scale_cols();
        for (int j = 0; j < n; ++j)
          out[j] = fp8_e4m3::from_bits(p[j]).to_float() * srow[(c0 + j) / fp8_block];
        return;
      }
    }
  }
};

// Map a safetensors dtype to a weight dtype; throws prismaquant::error naming `where`.
inline weight_dtype to_weight_dtype(dtype t, bool has_scale_inv, const std::string& where) {
  switch (t) {
    case dtype::BF16: return weight_dtype::bf16;
    case dtype::F16: return weight_dtype::f16;
    case dtype::F32: return weight_dtype::f32;
    case dtype::F8_E4M3:
      if (!has_scale_inv) throw error(where, "F8_E4M3 weight without weight_scale_inv (128x128 blocks needed)");
      return weight_dtype::fp8_e4m3_block128;
    default: break;
  }
  throw error(where, "cost pass cannot read a " + std::string(dtype_name(t)) + " weight");
}

inline const char* weight_dtype_name(weight_dtype t) noexcept {
  switch (t) {
    case weight_dtype::bf16: return "BF16";
    case weight_dtype::f16: return "F16";
    case weight_dtype::f32: return "F32";
    case weight_dtype::fp8_e4m3_block128: return "F8_E4M3+scale_inv128";
  }
  return "?";
}

// Host-side validation: throws prismaquant::error("<where>", problem) on a bad view.
inline void check_view(const plain_weight& w, const std::string& where) {
  if (w.rows <= 0 || w.cols <= 0) throw error(where, "empty weight (" + std::to_string(w.rows) + "x" + std::to_string(w.cols) + ")");
  if (w.data == nullptr) throw error(where, "weight data pointer is null");
  if (w.type == weight_dtype::fp8_e4m3_block128 && w.scale_inv == nullptr)
    throw error(where, "F8_E4M3 weight without weight_scale_inv");
}

}  // namespace prismaquant::cost
