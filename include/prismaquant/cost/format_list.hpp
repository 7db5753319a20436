#pragma once
// A compile-time list of formats for the fused cost pass, and how the pass gets each
// format's scale blocks. Plain C++ (no Hana): this header is included by CUDA kernels.
//
//   using fmts = pq::formats::format_list<pq::formats::nvfp4, pq::formats::mxfp8_e4m3,
//                                         pq::formats::fp8_source, pq::formats::bf16_passthrough>;
// (the library's type list, formats/list.hpp); internally it becomes a cost::fused_list.
//
// Block kinds (formats/format.hpp: blocks are block_rows x block_cols, `whole` = full extent):
//   local    1 x 16 or 1 x 32 (NVFP4, MX): the block's range is computed inside the 32-element
//            chunk the pass is working on, from values already in registers;
//   prepass  everything else whose blocks are whole 32-element chunks wide (block_cols a
//            multiple of 32, or whole): per-row (1 x whole), per-tensor (whole x whole),
//            128 x 128 (FP8_SOURCE), 1 x 128 groups... The ranges come from the pre-pass.
// Other block widths (e.g. 1 x 24) are rejected at compile time with a named static_assert.
#include <prismaquant/core/config.hpp>
#include <prismaquant/formats/format.hpp>
#include <prismaquant/formats/list.hpp>

#include <cstdint>
#include <type_traits>
#include <utility>

namespace prismaquant::cost {

// Elements per chunk: one CUDA thread's unit of work, four AVX2 vectors on the CPU.
inline constexpr int chunk_elems = 32;

enum class block_kind : std::uint8_t { local, prepass };

template <class F>
struct format_blocks {
  static constexpr std::int64_t R = F::block_rows;
  static constexpr std::int64_t C = F::block_cols;
  static constexpr bool is_local = R == 1 && (C == 16 || C == 32);
  static constexpr bool is_prepass = !is_local && (C == formats::whole || C % chunk_elems == 0) &&
                                     !(R == formats::whole && C != formats::whole);
  static_assert(is_local || is_prepass,
                "cost pass: this format's scale block shape is not supported by the fused pass "
                "(supported: 1x16, 1x32, 1xwhole, wholexwhole, or R x C with C a multiple of 32)");
  static constexpr block_kind kind = is_local ? block_kind::local : block_kind::prepass;
  // Sub-blocks per chunk for local formats.
  static constexpr int per_chunk = is_local ? chunk_elems / static_cast<int>(C) : 1;
};

// The format whose weight round trip F's is, bit for bit: formats that differ only in what
// they do with activations (NVFP4A16 quantizes weights exactly as NVFP4) name one of them, and
// the CPU pass computes that round trip once for both. Default: F itself.
template <class F>
struct weight_round_trip_of {
  using type = F;
};
template <>
struct weight_round_trip_of<formats::nvfp4_format<false>> {
  using type = formats::nvfp4_format<true>;
};

// A minimal device-safe tuple of per-format values, indexed at compile time.
template <class... T>
struct pack;
template <>
struct pack<> {};
template <class H, class... T>
struct pack<H, T...> {
  H head{};
  pack<T...> tail{};
};
template <std::size_t I, class H, class... T>
PQ_HD constexpr auto& get(pack<H, T...>& p) noexcept {
  if constexpr (I == 0) return p.head;
  else return get<I - 1>(p.tail);
}
template <std::size_t I, class H, class... T>
PQ_HD constexpr const auto& get(const pack<H, T...>& p) noexcept {
  if constexpr (I == 0) return p.head;
  else return get<I - 1>(p.tail);
}

template <std::size_t I, class... F>
struct nth;
template <class H, class... T>
struct nth<0, H, T...> {
  using type = H;
};
template <std::size_t I, class H, class... T>
struct nth<I, H, T...> : nth<I - 1, T...> {};

template <class... F>
struct fused_list {
  static_assert(sizeof...(F) > 0, "cost pass: the format list is empty");
  static_assert((formats::scalar_format<F> && ...),
                "cost pass: every entry must model formats::scalar_format (name, block_rows/cols, "
                "tensor_params, block_params, prepare, block_scale, quantize, dequantize)");
  static constexpr std::size_t size = sizeof...(F);
  template <std::size_t I>
  using at = typename nth<I, F...>::type;
  using tensor_params = pack<typename F::tensor_params...>;

  static constexpr bool any_local16 = ((format_blocks<F>::is_local && format_blocks<F>::C == 16) || ...);
  static constexpr bool any_local32 = ((format_blocks<F>::is_local && format_blocks<F>::C == 32) || ...);
  static constexpr bool any_prepass = (format_blocks<F>::is_prepass || ...);

  // The first index whose weight round trip is the same as format I's (I itself when none is).
  template <std::size_t I>
  static constexpr std::size_t twin_of = [] {
    using W = typename weight_round_trip_of<at<I>>::type;
    std::size_t t = I;
    std::size_t j = 0;
    ((t = (t == I && j < I && std::is_same_v<typename weight_round_trip_of<F>::type, W>) ? j : t, ++j), ...);
    return t;
  }();

  // Calls f(std::integral_constant<std::size_t, I>{}) for every format index, in order.
  template <class Fn>
  PQ_HD static constexpr void for_each(Fn&& f) {
    for_each_impl(f, std::make_index_sequence<size>{});
  }

 private:
  template <class Fn, std::size_t... I>
  PQ_HD static constexpr void for_each_impl(Fn& f, std::index_sequence<I...>) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
  }
};

template <class L>
struct to_fused {
  static_assert(prismaquant::detail::dependent_false<L>,
                "cost pass: pass the formats as pq::formats::format_list<F...> (or cost::fused_list<F...>)");
};
template <class... F>
struct to_fused<formats::format_list<F...>> {
  using type = fused_list<F...>;
};
template <class... F>
struct to_fused<fused_list<F...>> {
  using type = fused_list<F...>;
};

}  // namespace prismaquant::cost
