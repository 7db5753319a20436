#pragma once
// Host tensors of the model engine: xtensor containers (row-major, contiguous) hold weights and
// activations; the blocks' kernels take their data() pointers with explicit leading dimensions,
// so a block can read a column slice of a fused buffer (q|k|v, w1|w3) without copying.
#include <xtensor/xtensor.hpp>

#include <cstddef>
#include <cstdint>

namespace prismaquant::nn {

using tensor1 = xt::xtensor<float, 1>;
using tensor2 = xt::xtensor<float, 2>;

// Give t the shape [rows, cols]; contents are unspecified afterwards (scratch buffers are
// reused across batches, so this reallocates only when the size grows or changes).
inline void reshape(tensor2& t, std::int64_t rows, std::int64_t cols) {
  if (static_cast<std::int64_t>(t.shape(0)) != rows || static_cast<std::int64_t>(t.shape(1)) != cols)
    t.resize({static_cast<std::size_t>(rows), static_cast<std::size_t>(cols)});
}
inline void reshape(tensor1& t, std::int64_t n) {
  if (static_cast<std::int64_t>(t.shape(0)) != n) t.resize({static_cast<std::size_t>(n)});
}
inline std::int64_t rows(const tensor2& t) { return static_cast<std::int64_t>(t.shape(0)); }
inline std::int64_t cols(const tensor2& t) { return static_cast<std::int64_t>(t.shape(1)); }

}  // namespace prismaquant::nn
