#pragma once
// The pieces every rounding policy shares (rounding/policy.hpp says what a policy is):
//
//   weight_matrix      the weight as float32 [rows = out, cols = in], row-major (owned)
//   scale_plan<F>      F's tensor params and every block's params, fixed before any code is
//                      chosen — from the original weight (plan_scales, as compressed-tensors'
//                      observer computes them) or replaced block by block (scale_sweep.hpp)
//   quantized<F>       a plan plus one code per element; encode() gives exactly the tensors
//                      compressed-tensors writes, with the scales the codes were chosen under
//
// Because the stored scales are the plan's, codes and scales always agree: a policy can
// choose any code per element, never a scale the file does not hold.
#include <prismaquant/formats/encode.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace prismaquant::rounding {

struct weight_matrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<float> values;  // rows * cols, row-major
  std::string name = "weight";

  // Reads any weight_view (bf16/f16/f32 exactly; FP8 source as fp8 * scale_inv in float32).
  static weight_matrix from_view(const formats::weight_view& v) {
    v.validate();
    weight_matrix m;
    m.rows = v.rows;
    m.cols = v.cols;
    m.name = std::string(v.name);
    m.values.resize(static_cast<std::size_t>(v.rows * v.cols));
    for (std::int64_t i = 0; i < v.rows; ++i) v.load_row(i, m.values.data() + i * v.cols);
    return m;
  }
  formats::weight_view view() const { return formats::weight_view(values.data(), rows, cols, name); }
  const float* row(std::int64_t i) const { return values.data() + i * cols; }
};

// Does a rounding policy have anything to choose for F? Not for formats without scale
// blocks (BF16) nor for pass-through formats (FP8_SOURCE copies its source): those are
// encoded as they are.
template <class F>
inline constexpr bool has_scale_blocks =
    !std::is_empty_v<typename F::block_params> && !requires(const formats::weight_view& w) { F::pass_through(w); };

template <class F>
struct scale_plan {
  using block_params = typename F::block_params;
  typename F::tensor_params tp{};
  std::int64_t rows = 0, cols = 0;
  std::int64_t bh = 1, bw = 1;    // block extent (rows, cols)
  std::int64_t nbr = 0, nbc = 0;  // block counts
  std::vector<block_params> blocks;  // row-major block order

  std::size_t block_index(std::int64_t i, std::int64_t j) const {
    return static_cast<std::size_t>((i / bh) * nbc + j / bw);
  }
  const block_params& at(std::int64_t i, std::int64_t j) const { return blocks[block_index(i, j)]; }
};

// F's scales from the original weight: tensor pre-pass from `stats` (a fused group's merged
// stats give siblings one global scale), each block from its own min/max — exactly what
// formats::encode computes. Rejects NaN/Inf naming the tensor.
template <class F>
scale_plan<F> plan_scales(const weight_matrix& w, const formats::tensor_stats& stats) {
  static_assert(formats::check_format<F>());
  F::check_shape(w.rows, w.cols, w.name);
  scale_plan<F> p;
  p.tp = F::prepare(stats);
  p.rows = w.rows;
  p.cols = w.cols;
  p.bh = formats::block_extent(F::block_rows, w.rows);
  p.bw = formats::block_extent(F::block_cols, w.cols);
  p.nbr = formats::block_count(F::block_rows, w.rows);
  p.nbc = formats::block_count(F::block_cols, w.cols);
  p.blocks.reserve(static_cast<std::size_t>(p.nbr * p.nbc));
  formats::for_each_block<F>(w.view(), p.tp,
                             [&](std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                 const float*, const typename F::block_params& bp) { p.blocks.push_back(bp); });
  return p;
}

// Min/max of one block of the original weight.
template <class F>
formats::block_range block_range_of(const weight_matrix& w, const scale_plan<F>& p, std::int64_t bi, std::int64_t bj) {
  formats::block_range r;
  const std::int64_t i1 = std::min(w.rows, (bi + 1) * p.bh), j1 = std::min(w.cols, (bj + 1) * p.bw);
  for (std::int64_t i = bi * p.bh; i < i1; ++i)
    for (std::int64_t j = bj * p.bw; j < j1; ++j) r.add(w.values[static_cast<std::size_t>(i * w.cols + j)]);
  return r;
}

template <class F>
struct quantized {
  using code_type = typename F::code_type;
  scale_plan<F> plan;
  std::vector<code_type> codes;  // rows * cols, row-major

  // The compressed-tensors tensors (formats::encode's layout), scales from the plan.
  formats::encoded_weight encode() const {
    formats::encoded_weight e =
        formats::encoded_weight::allocate(plan.rows, plan.cols, F::layout(plan.rows, plan.cols, plan.tp));
    F::store_tensor(e, plan.tp);
    for (std::int64_t bi = 0; bi < plan.nbr; ++bi)
      for (std::int64_t bj = 0; bj < plan.nbc; ++bj)
        F::store_block(e, bi, bj, plan.blocks[static_cast<std::size_t>(bi * plan.nbc + bj)]);
    for (std::int64_t i = 0; i < plan.rows; ++i)
      for (std::int64_t j = 0; j < plan.cols; ++j) F::store_code(e, i, j, codes[static_cast<std::size_t>(i * plan.cols + j)]);
    return e;
  }
  // The weight a dequantizing client computes (float32, row-major).
  std::vector<float> dequantize() const {
    std::vector<float> out(codes.size());
    for (std::int64_t i = 0; i < plan.rows; ++i)
      for (std::int64_t j = 0; j < plan.cols; ++j) {
        const std::size_t k = static_cast<std::size_t>(i * plan.cols + j);
        out[k] = static_cast<float>(F::dequantize(plan.at(i, j), codes[k]));
      }
    return out;
  }
};

// Round to nearest under a plan (what formats::encode does with the default plan).
template <class F>
std::vector<typename F::code_type> nearest_codes(const weight_matrix& w, const scale_plan<F>& p) {
  std::vector<typename F::code_type> c(w.values.size());
  for (std::int64_t i = 0; i < w.rows; ++i)
    for (std::int64_t j = 0; j < w.cols; ++j) {
      const std::size_t k = static_cast<std::size_t>(i * w.cols + j);
      c[k] = F::quantize(p.at(i, j), w.values[k]);
    }
  return c;
}

}  // namespace prismaquant::rounding
