#pragma once
// What a served weight-and-activation scheme does to a Linear's input before the product:
// the input rows quantized and dequantized in place. Empty: the input is used as it is. The
// engine builds these from a checkpoint's schemes (engine/activation_quant.hpp); the blocks
// only apply them, once per product, on a copy (the unquantized input stays for the backward
// and for observers).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace prismaquant::nn {

struct input_quantizer {
  std::string scheme;  // what it simulates, e.g. "FP8 E4M3 per token"; empty when none
  std::function<void(float* x, std::int64_t rows, std::int64_t cols)> apply;  // x [rows × cols], contiguous
  explicit operator bool() const noexcept { return static_cast<bool>(apply); }
};

// in, or its quantized copy in `buf` when q is set.
inline const float* quantized_input(const input_quantizer* q, const float* in, std::int64_t rows, std::int64_t cols,
                                    std::vector<float>& buf) {
  if (!q || !*q) return in;
  buf.assign(in, in + rows * cols);
  q->apply(buf.data(), rows, cols);
  return buf.data();
}

}  // namespace prismaquant::nn
