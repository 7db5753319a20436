#pragma once
// The Format concept: what a quantization format must provide, in two layers.
//
// 1. Scalar math (PQ_HD constexpr, plain values only — usable in CUDA kernels and in the
//    fused one-read cost pass). A weight W [rows = out, cols = in] is cut into scale blocks
//    of F::block_rows x F::block_cols elements (`whole` = the full extent: per-channel is
//    1 x whole, per-tensor whole x whole, NVFP4 1 x 16, FP8_SOURCE 128 x 128). Partial
//    blocks at the right/bottom edge are allowed where the format's check_shape allows them
//    (they are simply shorter). Three stages:
//
//      (a) tensor pre-pass    F::tensor_params tp = F::prepare(tensor_stats{amax, source, ...});
//                             tensor_stats is format-independent: max |w| over the tensor (or
//                             over a group of fused siblings, which is how siblings share one
//                             NVFP4 global scale) and the source dtype (CT's observers compute
//                             in it, so bf16 rounding can enter the recipe).
//      (b) per block          F::block_params bp = F::block_scale(tp, block_range{min, max});
//                             min/max over the block's elements (symmetric formats use
//                             r.amax()); bp holds everything the elements need (rounded scale,
//                             zero point, the scale's storage code).
//      (c) per element        F::code_type q = F::quantize(bp, x);   float y = F::dequantize(bp, q);
//                             and F::round_trip(bp, x) == dequantize(bp, quantize(bp, x)).
//
//    So one loop over all formats is:
//      stats (one pre-pass) -> for each block: range -> for each format: block_scale ->
//      for each element: round_trip -> accumulate error.
//    F::storage_bytes(rows, cols) gives the exact bytes of all tensors the format writes.
//
// 2. Storage (host only): how codes and block params land in compressed-tensors tensors.
//      static void check_shape(rows, cols, where)        throws prismaquant::error if illegal
//      static std::vector<tensor_spec> layout(rows, cols, tp)   names, dtypes, shapes (CT's)
//      static void store_tensor(encoded_weight&, tp)       tensor-level tensors (global scale)
//      static void store_block(encoded_weight&, bi, bj, bp)  block scale / zero point
//      static void store_code(encoded_weight&, i, j, q)   element code
//      static tensor_params load_tensor(const encoded_weight&)
//      static block_params load_block(const encoded_weight&, bi, bj, tp)
//      static code_type load_code(const encoded_weight&, i, j)
//    Tensors are addressed by their index in layout(). The generic drivers in encode.hpp
//    (encode, decode) and cost/reference.hpp are written once against these pieces.
//    Optional: `static std::optional<encoded_weight> pass_through(const weight_view&)` —
//    a source that already is in the format's storage (FP8_SOURCE) is copied byte for byte.
//
// 3. Facts (constexpr) the allocator, the layer_config writer and the exporter read, so no
//    code outside the registry compares a format's name:
//      static constexpr int element_bits;                       required: bits of one code
//      static constexpr std::string_view data_type = "nv_fp";   optional: layer_config.json's
//          AutoRound-style data_type (default "prismaquant"); group_size there is block_cols
//          (-1 for `whole`)
//      static constexpr std::string_view element_dtype = "fp8_e5m2";  optional: written as
//          layer_config's weight_element_dtype (default: none)
//      static constexpr source_set accepts = source_set::of(...);      optional: the sources
//          it may be chosen for (default: all)
//      static constexpr source_set lossless_for = source_set::of(...); optional: the sources
//          it stores exactly — a pass-through (default: none)
//    Read them through formats::data_type_of<F>() etc. (defaults applied). The
//    compressed-tensors scheme a format is exported under lives in export/ct_scheme.hpp.
//
// A type missing a piece fails with a static_assert naming that piece (check_format<F>()),
// not with a wall of template errors; see docs/formats.md for adding a format.
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/formats/source.hpp>
#include <prismaquant/formats/storage.hpp>

#include <concepts>
#include <cstdint>
#include <string_view>
#include <vector>

namespace prismaquant::formats {

// Block extent meaning "the whole dimension".
inline constexpr std::int64_t whole = 0;

// Result of the tensor-level pre-pass, shared by all formats.
struct tensor_stats {
  float amax = 0.0f;          // max |w| over the tensor, or over a group of fused siblings
  dtype source = dtype::F32;  // the weight's stored dtype (F32, BF16, F16)
  float input_amax = 0.0f;    // activation amax for W4A4 input scales; 0 = unknown
};

// Stats of the union of fused siblings (q/k/v, an expert's w1/w3): max amax, so every
// sibling encoded with these stats shares one NVFP4 global scale. The source dtype is the
// siblings' common dtype (F32 if they differ).
inline tensor_stats merge(tensor_stats a, const tensor_stats& b) noexcept {
  a.amax = a.amax > b.amax ? a.amax : b.amax;
  a.input_amax = a.input_amax > b.input_amax ? a.input_amax : b.input_amax;
  if (a.source != b.source) a.source = dtype::F32;
  return a;
}

// Min and max over one scale block (finite values).
struct block_range {
  float min = 0.0f;
  float max = 0.0f;
  PQ_HD constexpr float amax() const noexcept { return -min > max ? -min : max; }
  PQ_HD constexpr void add(float x) noexcept {
    min = x < min ? x : min;
    max = x > max ? x : max;
  }
};

// Block extent along a dimension of size n (whole -> n) and number of blocks.
PQ_HD constexpr std::int64_t block_extent(std::int64_t block, std::int64_t n) noexcept {
  return block == whole ? n : block;
}
PQ_HD constexpr std::int64_t block_count(std::int64_t block, std::int64_t n) noexcept {
  if (n <= 0) return 0;
  return block == whole ? 1 : (n + block - 1) / block;
}

namespace detail {

// x rounded (RNE) to the given floating dtype and back; F32 and others: unchanged.
// This is how "the observer computes in bf16" enters a recipe.
PQ_HD constexpr float round_through(dtype t, float x) noexcept {
  if (t == dtype::BF16) return bf16::from_float_nonsaturating(x).to_float();
  if (t == dtype::F16) return fp16::from_float_nonsaturating(x).to_float();
  return x;
}

// torch.finfo(t).tiny and .eps for the floating source dtypes (CT's clamps and zero-scale fills).
PQ_HD constexpr float finfo_tiny(dtype t) noexcept { return t == dtype::F16 ? 6.103515625e-05f : 1.17549435e-38f; }
PQ_HD constexpr float finfo_eps(dtype t) noexcept {
  return t == dtype::BF16 ? 0.0078125f : t == dtype::F16 ? 0.0009765625f : 1.1920929e-07f;
}
// The floating dtype CT's observer computes in for a weight of dtype t (F32 for anything else).
PQ_HD constexpr dtype observer_dtype(dtype t) noexcept {
  return t == dtype::BF16 || t == dtype::F16 ? t : dtype::F32;
}

PQ_HD constexpr bool is_finite(float x) noexcept {
  return (prismaquant::detail::bit_cast<std::uint32_t>(x) & 0x7F800000u) != 0x7F800000u;
}

// ---- the pieces of the concept, one named check each ----
template <class F> concept has_name = requires { { F::name } -> std::convertible_to<std::string_view>; };
template <class F> concept has_blocks = requires {
  { F::block_rows } -> std::convertible_to<std::int64_t>;
  { F::block_cols } -> std::convertible_to<std::int64_t>;
};
template <class F> concept has_param_types = requires {
  typename F::tensor_params;
  typename F::block_params;
  typename F::code_type;
};
template <class F> concept has_prepare = requires(tensor_stats s) {
  { F::prepare(s) } -> std::same_as<typename F::tensor_params>;
};
template <class F> concept has_block_scale = requires(const typename F::tensor_params& tp, block_range r) {
  { F::block_scale(tp, r) } -> std::same_as<typename F::block_params>;
};
template <class F> concept has_quantize = requires(const typename F::block_params& bp, float x) {
  { F::quantize(bp, x) } -> std::same_as<typename F::code_type>;
};
template <class F> concept has_dequantize = requires(const typename F::block_params& bp, typename F::code_type q) {
  { F::dequantize(bp, q) } -> std::convertible_to<float>;
};
template <class F> concept has_element_bits = requires {
  { F::element_bits } -> std::convertible_to<int>;
};
// Optional facts: absent, or of the right type.
template <class F> concept good_data_type =
    !requires { F::data_type; } || requires { { F::data_type } -> std::convertible_to<std::string_view>; };
template <class F> concept good_element_dtype =
    !requires { F::element_dtype; } || requires { { F::element_dtype } -> std::convertible_to<std::string_view>; };
template <class F> concept good_accepts =
    !requires { F::accepts; } || requires { { F::accepts } -> std::convertible_to<source_set>; };
template <class F> concept good_lossless_for =
    !requires { F::lossless_for; } || requires { { F::lossless_for } -> std::convertible_to<source_set>; };
template <class F> concept has_facts =
    has_element_bits<F> && good_data_type<F> && good_element_dtype<F> && good_accepts<F> && good_lossless_for<F>;
template <class F> concept has_storage_bytes = requires(std::int64_t r, std::int64_t c) {
  { F::storage_bytes(r, c) } -> std::convertible_to<std::uint64_t>;
};
template <class F> concept has_check_shape = requires(std::int64_t r, std::int64_t c, std::string_view w) {
  F::check_shape(r, c, w);
};
template <class F> concept has_layout = requires(std::int64_t r, std::int64_t c, const typename F::tensor_params& tp) {
  { F::layout(r, c, tp) } -> std::same_as<std::vector<tensor_spec>>;
};
template <class F> concept has_store = requires(encoded_weight& e, std::int64_t i, const typename F::tensor_params& tp,
                                                const typename F::block_params& bp, typename F::code_type q) {
  F::store_tensor(e, tp);
  F::store_block(e, i, i, bp);
  F::store_code(e, i, i, q);
};
template <class F> concept has_load = requires(const encoded_weight& e, std::int64_t i, const typename F::tensor_params& tp) {
  { F::load_tensor(e) } -> std::same_as<typename F::tensor_params>;
  { F::load_block(e, i, i, tp) } -> std::same_as<typename F::block_params>;
  { F::load_code(e, i, i) } -> std::same_as<typename F::code_type>;
};

}  // namespace detail

// The concept (for constraining user code). Library entry points use check_format<F>()
// instead, so that a user's incomplete format gets a message naming what is missing.
template <class F>
concept format = detail::has_name<F> && detail::has_blocks<F> && detail::has_param_types<F> &&
                 detail::has_prepare<F> && detail::has_block_scale<F> && detail::has_quantize<F> &&
                 detail::has_dequantize<F> && detail::has_storage_bytes<F> && detail::has_check_shape<F> &&
                 detail::has_layout<F> && detail::has_store<F> && detail::has_load<F> && detail::has_facts<F>;

// Scalar-only subset: what the fused cost pass (host SIMD or CUDA) needs.
template <class F>
concept scalar_format = detail::has_name<F> && detail::has_blocks<F> && detail::has_param_types<F> &&
                        detail::has_prepare<F> && detail::has_block_scale<F> && detail::has_quantize<F> &&
                        detail::has_dequantize<F>;

template <class F>
constexpr bool check_format() {
  static_assert(detail::has_name<F>, "prismaquant format lacks `static constexpr std::string_view name`");
  static_assert(detail::has_blocks<F>,
                "prismaquant format lacks `static constexpr std::int64_t block_rows, block_cols` (use formats::whole)");
  static_assert(detail::has_param_types<F>, "prismaquant format lacks the types tensor_params, block_params, code_type");
  if constexpr (detail::has_param_types<F>) {
    static_assert(detail::has_prepare<F>, "prismaquant format lacks `static tensor_params prepare(tensor_stats)`");
    static_assert(detail::has_block_scale<F>,
                  "prismaquant format lacks `static block_params block_scale(const tensor_params&, block_range)`");
    static_assert(detail::has_quantize<F>, "prismaquant format lacks `static code_type quantize(const block_params&, float)`");
    static_assert(detail::has_dequantize<F>,
                  "prismaquant format lacks `static float dequantize(const block_params&, code_type)`");
    static_assert(detail::has_layout<F>,
                  "prismaquant format lacks `static std::vector<tensor_spec> layout(rows, cols, const tensor_params&)`");
    static_assert(detail::has_store<F>, "prismaquant format lacks store_tensor / store_block / store_code");
    static_assert(detail::has_load<F>, "prismaquant format lacks load_tensor / load_block / load_code");
  }
  static_assert(detail::has_storage_bytes<F>, "prismaquant format lacks `static std::uint64_t storage_bytes(rows, cols)`");
  static_assert(detail::has_check_shape<F>, "prismaquant format lacks `static void check_shape(rows, cols, where)`");
  static_assert(detail::has_element_bits<F>, "prismaquant format lacks `static constexpr int element_bits`");
  static_assert(detail::good_data_type<F>, "prismaquant format: `data_type` must be a std::string_view");
  static_assert(detail::good_element_dtype<F>, "prismaquant format: `element_dtype` must be a std::string_view");
  static_assert(detail::good_accepts<F>, "prismaquant format: `accepts` must be a formats::source_set");
  static_assert(detail::good_lossless_for<F>, "prismaquant format: `lossless_for` must be a formats::source_set");
  return format<F>;
}

// ---- the facts, with their defaults ----
template <class F>
constexpr std::string_view data_type_of() noexcept {
  if constexpr (requires { F::data_type; }) return F::data_type;
  else return "prismaquant";
}
template <class F>
constexpr std::string_view element_dtype_of() noexcept {
  if constexpr (requires { F::element_dtype; }) return F::element_dtype;
  else return {};
}
template <class F>
PQ_HD constexpr source_set accepts_of() noexcept {
  if constexpr (requires { F::accepts; }) return F::accepts;
  else return source_set::all();
}
template <class F>
PQ_HD constexpr source_set lossless_for_of() noexcept {
  if constexpr (requires { F::lossless_for; }) return F::lossless_for;
  else return source_set::none();
}
// layer_config.json's group_size: the block width along `in`, -1 for a whole row.
template <class F>
constexpr int group_size_of() noexcept {
  return F::block_cols == whole ? -1 : static_cast<int>(F::block_cols);
}

// Quantize then dequantize one element (the value the cost pass compares against x).
template <class F>
PQ_HD constexpr float round_trip(const typename F::block_params& bp, float x) noexcept {
  return static_cast<float>(F::dequantize(bp, F::quantize(bp, x)));
}

}  // namespace prismaquant::formats
