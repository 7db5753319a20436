#pragma once
// Generic host drivers written once against the Format concept (format.hpp):
//   measure(w) / measure_group({w1, w3, ...})  the tensor pre-pass (amax, source dtype);
//                                             rejects NaN/Inf with an error naming the tensor
//   encode<F>(w [, stats])                    the compressed-tensors tensors of w
//   encode_group<F>({w1, w3})                 fused siblings with one shared global scale
//   decode<F>(e)                              back to float32 [rows * cols], row-major
//   for_each_block<F>(w, tp, fn)              visits blocks with their params (used by the
//                                             scalar reference statistics)
// Host-only.
#include <prismaquant/formats/format.hpp>
#include <prismaquant/formats/weight_view.hpp>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::formats {

namespace detail {
inline void reject_non_finite(const weight_view& w, std::int64_t i, std::int64_t j, float x) {
  throw error(std::string(w.name), std::string(x != x ? "NaN" : "Inf") + " at [" + std::to_string(i) + ", " +
                                       std::to_string(j) + "]; quantization needs finite weights");
}
}  // namespace detail

// Tensor pre-pass over one weight: amax and source dtype. Throws on NaN/Inf.
inline tensor_stats measure(const weight_view& w) {
  w.validate();
  tensor_stats s;
  s.source = w.type == dtype::F8_E4M3 ? dtype::F32 : w.type;
  std::vector<float> row(static_cast<std::size_t>(w.cols));
  for (std::int64_t i = 0; i < w.rows; ++i) {
    w.load_row(i, row.data());
    for (std::int64_t j = 0; j < w.cols; ++j) {
      const float x = row[static_cast<std::size_t>(j)];
      if (!detail::is_finite(x)) detail::reject_non_finite(w, i, j, x);
      const float a = x < 0 ? -x : x;
      s.amax = a > s.amax ? a : s.amax;
    }
  }
  return s;
}

// Stats of fused siblings: the merge (formats/format.hpp) of each one's measure.
inline tensor_stats measure_group(std::span<const weight_view> ws) {
  std::optional<tensor_stats> s;
  for (const auto& w : ws) s = s ? merge(*s, measure(w)) : measure(w);
  return s.value_or(tensor_stats{});
}
inline tensor_stats measure_group(std::initializer_list<weight_view> ws) {
  return measure_group(std::span<const weight_view>(ws.begin(), ws.size()));
}

// Calls fn(bi, bj, i0, i1, j0, j1, band, bp): for every scale block in row-major block
// order, with `band` the float32 rows [i0, i1) of the block's band (band[(i - i0) * cols + j]).
template <class F, class Fn>
void for_each_block(const weight_view& w, const typename F::tensor_params& tp, Fn&& fn) {
  const std::int64_t bh = block_extent(F::block_rows, w.rows), bw = block_extent(F::block_cols, w.cols);
  const std::int64_t nbc = block_count(F::block_cols, w.cols);
  std::vector<float> band;
  for (std::int64_t i0 = 0, bi = 0; i0 < w.rows; i0 += bh, ++bi) {
    const std::int64_t i1 = std::min(w.rows, i0 + bh);
    band.resize(static_cast<std::size_t>((i1 - i0) * w.cols));
    for (std::int64_t i = i0; i < i1; ++i) {
      float* row = band.data() + (i - i0) * w.cols;
      w.load_row(i, row);
      for (std::int64_t j = 0; j < w.cols; ++j)
        if (!detail::is_finite(row[j])) detail::reject_non_finite(w, i, j, row[j]);
    }
    for (std::int64_t bj = 0; bj < nbc; ++bj) {
      const std::int64_t j0 = bj * bw, j1 = std::min(w.cols, j0 + bw);
      block_range r;
      for (std::int64_t i = i0; i < i1; ++i)
        for (std::int64_t j = j0; j < j1; ++j) r.add(band[static_cast<std::size_t>((i - i0) * w.cols + j)]);
      const typename F::block_params bp = F::block_scale(tp, r);
      fn(bi, bj, i0, i1, j0, j1, static_cast<const float*>(band.data()), bp);
    }
  }
}

// Encode w with the given pre-pass stats (use measure_group for fused siblings).
template <class F>
encoded_weight encode(const weight_view& w, const tensor_stats& stats) {
  static_assert(check_format<F>());
  w.validate();
  F::check_shape(w.rows, w.cols, w.name);
  if constexpr (requires { F::pass_through(w); }) {
    if (auto e = F::pass_through(w)) return std::move(*e);
  }
  const typename F::tensor_params tp = F::prepare(stats);
  encoded_weight e = encoded_weight::allocate(w.rows, w.cols, F::layout(w.rows, w.cols, tp));
  F::store_tensor(e, tp);
  for_each_block<F>(w, tp, [&](std::int64_t bi, std::int64_t bj, std::int64_t i0, std::int64_t i1, std::int64_t j0,
                               std::int64_t j1, const float* band, const typename F::block_params& bp) {
    F::store_block(e, bi, bj, bp);
    for (std::int64_t i = i0; i < i1; ++i)
      for (std::int64_t j = j0; j < j1; ++j) F::store_code(e, i, j, F::quantize(bp, band[(i - i0) * w.cols + j]));
  });
  return e;
}

// Encode w on its own (its own tensor-level stats).
template <class F>
encoded_weight encode(const weight_view& w) {
  static_assert(check_format<F>());
  if constexpr (requires { F::pass_through(w); }) {
    w.validate();
    F::check_shape(w.rows, w.cols, w.name);
    if (auto e = F::pass_through(w)) return std::move(*e);
  }
  return encode<F>(w, measure(w));
}

// Encode fused siblings (q/k/v; an expert's w1/w3) with one shared set of tensor stats, so
// they share one NVFP4 global scale (the max amax of the group, as vLLM expects).
template <class F>
std::vector<encoded_weight> encode_group(std::span<const weight_view> ws) {
  const tensor_stats shared = measure_group(ws);
  std::vector<encoded_weight> out;
  out.reserve(ws.size());
  for (const auto& w : ws) out.push_back(encode<F>(w, shared));
  return out;
}
template <class F>
std::vector<encoded_weight> encode_group(std::initializer_list<weight_view> ws) {
  return encode_group<F>(std::span<const weight_view>(ws.begin(), ws.size()));
}

// Decode to float32 [rows * cols] row-major. Checks the tensors against the format's
// layout first (names, dtypes, shapes), so tensors read from a file fail with a clear error.
template <class F>
std::vector<float> decode(const encoded_weight& e, std::string_view where = "weight") {
  static_assert(check_format<F>());
  F::check_shape(e.rows, e.cols, where);
  {  // names and count first: load_tensor may index any of them
    const auto specs = F::layout(e.rows, e.cols, typename F::tensor_params{});
    if (specs.size() != e.tensors.size()) check_layout(e, specs, where);
    for (std::size_t k = 0; k < specs.size(); ++k)
      if (specs[k].suffix != e.tensors[k].suffix) check_layout(e, specs, where);
  }
  const typename F::tensor_params tp = F::load_tensor(e);
  check_layout(e, F::layout(e.rows, e.cols, tp), where);
  std::vector<float> out(static_cast<std::size_t>(e.rows * e.cols));
  const std::int64_t bh = block_extent(F::block_rows, e.rows), bw = block_extent(F::block_cols, e.cols);
  for (std::int64_t i = 0; i < e.rows; ++i) {
    const std::int64_t bi = i / bh;
    for (std::int64_t bj = 0, j0 = 0; j0 < e.cols; ++bj, j0 += bw) {
      const typename F::block_params bp = F::load_block(e, bi, bj, tp);
      const std::int64_t j1 = std::min(e.cols, j0 + bw);
      for (std::int64_t j = j0; j < j1; ++j)
        out[static_cast<std::size_t>(i * e.cols + j)] = static_cast<float>(F::dequantize(bp, F::load_code(e, i, j)));
    }
  }
  return out;
}

// Quantize-dequantize w (decode(encode(w, stats))) without building the tensors.
template <class F>
std::vector<float> round_trip(const weight_view& w, const tensor_stats& stats) {
  static_assert(check_format<F>());
  F::check_shape(w.rows, w.cols, w.name);
  std::vector<float> out(static_cast<std::size_t>(w.rows * w.cols));
  if constexpr (requires { F::pass_through(w); }) {
    if (auto e = F::pass_through(w)) return decode<F>(*e, w.name);
  }
  const typename F::tensor_params tp = F::prepare(stats);
  for_each_block<F>(w, tp, [&](std::int64_t, std::int64_t, std::int64_t i0, std::int64_t i1, std::int64_t j0,
                               std::int64_t j1, const float* band, const typename F::block_params& bp) {
    for (std::int64_t i = i0; i < i1; ++i)
      for (std::int64_t j = j0; j < j1; ++j)
        out[static_cast<std::size_t>(i * w.cols + j)] = formats::round_trip<F>(bp, band[(i - i0) * w.cols + j]);
  });
  return out;
}

}  // namespace prismaquant::formats
