#pragma once
// The compile-time list of built-in formats (a plain type list: usable in CUDA code, where
// Boost.Hana is not). The runtime registry (registry.hpp) and the typed law tests are built
// from it. Canonical names, in this order:
//   NVFP4 NVFP4A16 MXFP4 MXFP6_E2M3 MXFP6_E3M2 MXFP8_E4M3 MXFP8_E5M2 FP8_E4M3 FP8_E4M3_TENSOR
//   FP8_SOURCE INT4_W4A16_g128 INT8_W8A16 INT3 INT2 INT4_W4A16_ASYM_g128 INT8_W8A16_ASYM
//   INT3_ASYM INT2_ASYM BF16
// MX variants with the other scale rules (MXFP4_RCEIL, MXFP4_CT, ...) are in
// `mx_rule_variants` — registered by name too, but not part of the default sweep.
#include <prismaquant/formats/bf16.hpp>
#include <prismaquant/formats/fp8.hpp>
#include <prismaquant/formats/fp8_source.hpp>
#include <prismaquant/formats/intn.hpp>
#include <prismaquant/formats/mx.hpp>
#include <prismaquant/formats/nvfp4.hpp>

#include <cstddef>

namespace prismaquant::formats {

template <class... Fs>
struct format_list {
  static constexpr std::size_t size = sizeof...(Fs);
  // f.template operator()<F>() for every F, in order.
  template <class Fn>
  static constexpr void for_each(Fn&& f) {
    (f.template operator()<Fs>(), ...);
  }
};

template <class A, class B> struct concat_lists;
template <class... A, class... B>
struct concat_lists<format_list<A...>, format_list<B...>> {
  using type = format_list<A..., B...>;
};

using all_formats = format_list<nvfp4, nvfp4a16, mxfp4, mxfp6_e2m3, mxfp6_e3m2, mxfp8_e4m3, mxfp8_e5m2,
                                fp8_e4m3_channel, fp8_e4m3_tensor, fp8_source, int4_w4a16_g128, int8_w8a16,
                                int3_g16, int2_g16, int4_w4a16_asym_g128, int8_w8a16_asym, int3_asym_g16,
                                int2_asym_g16, bf16_passthrough>;

// The seed's formats: what the reference allocates a MiniMax-M2 checkpoint over, and
// pq::recipe's default.
using seed_formats = format_list<nvfp4, mxfp8_e4m3, fp8_source, bf16_passthrough>;

// What a weight-only compressed-tensors export writes for each format it stores
// (export/ct_scheme.hpp `stored_format`): NVFP4 without an input scale, MX with
// compressed-tensors' scale rule, FP8 per channel, FP8 source blocks, BF16. `prismaquant
// pipeline` prices exactly these, so its allocation's bytes and errors are the checkpoint's.
using stored_formats = format_list<nvfp4a16, mxfp4_ct, mxfp8_e4m3_ct, fp8_e4m3_channel, fp8_source, bf16_passthrough>;

// `prismaquant pipeline`'s default candidates: the seed's formats, MXFP4 for the low budgets
// and FP8 per channel for Linears whose source is not FP8 blocks.
using pipeline_formats = format_list<nvfp4, mxfp4, mxfp8_e4m3, fp8_e4m3_channel, fp8_source, bf16_passthrough>;

template <mx_scale_rule R>
using mx_with_rule = format_list<mx_format<fp4_e2m1, R>, mx_format<fp6_e2m3, R>, mx_format<fp6_e3m2, R>,
                                 mx_format<fp8_e4m3, R>, mx_format<fp8_e5m2, R>>;
using mx_rule_variants = concat_lists<mx_with_rule<mx_scale_rule::rceil>, mx_with_rule<mx_scale_rule::ct>>::type;

}  // namespace prismaquant::formats
