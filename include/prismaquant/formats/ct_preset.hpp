#pragma once
// How a format is stored in a compressed-tensors checkpoint: the format's own fact, read
// through the registry entry (`format_entry::compressed_tensors`), so the exporter compares no
// format names. Compressed-tensors 0.19's presets as it serializes them
// (`preset_name_to_scheme(...).weights.model_dump_json()`):
//
//   format                  group        encoder         CT format              inputs
//   NVFP4                   NVFP4        NVFP4           nvfp4-pack-quantized   NVFP4, calibrated scale
//     weight-only           NVFP4A16     NVFP4A16                               none
//   NVFP4A16                NVFP4A16     NVFP4A16        nvfp4-pack-quantized   none
//   MXFP4, MXFP4_CT         MXFP4        MXFP4_CT        mxfp4-pack-quantized   dynamic, group 32
//   MXFP8_E4M3(_CT)         MXFP8        MXFP8_E4M3_CT   mxfp8-quantized        dynamic, group 32
//   FP8_E4M3                FP8_DYNAMIC  FP8_E4M3        float-quantized        dynamic per token
//   FP8_SOURCE              FP8_BLOCK    FP8_SOURCE      float-quantized        dynamic, group 128
//   BF16                    BF16         BF16            (none: in `ignore`)
//
// MX formats are written with CT's scale rule (papers/ct-recipe.md §2) whichever rule priced
// them. A format without a preset (INT*, MXFP6, E5M2, the RCEIL rule, FP8 per tensor) has no
// scheme vLLM serves. A user format gets one with a `static constexpr ct_preset
// compressed_tensors` member, or by specializing `ct_preset_of`.
#include <prismaquant/formats/list.hpp>

#include <string_view>

namespace prismaquant::formats {

// One QuantizationArgs (weights or input activations).
struct ct_args {
  int bits = 0;
  std::string_view strategy;     // tensor_group, group, channel, block, token
  int group_size = -1;           // -1: null
  std::string_view scale_dtype;  // empty: null
  std::string_view dynamic = "false";  // false | true | local
  std::string_view observer;     // empty: null
  bool block_128 = false;        // block_structure [128, 128]
  std::string_view type = "float";  // float | int
};

struct ct_preset {
  std::string_view group;    // config_groups key (CT's preset name)
  std::string_view encoder;  // the registry format that writes the tensors
  std::string_view format;   // CT's format string; empty: not quantized (listed in `ignore`)
  ct_args weights;
  bool has_inputs = false;   // input_activations (else null: weight-only)
  ct_args inputs;
  // The weight-only form, where it differs (NVFP4: no calibrated input scale): its group and
  // encoder, without input activations. Empty: --weight-only changes nothing.
  std::string_view weight_only_group, weight_only_encoder;
};

namespace ct_presets {
inline constexpr ct_args nvfp4_weights{4, "tensor_group", 16, "torch.float8_e4m3fn"};
inline constexpr ct_preset nvfp4{"NVFP4",       "NVFP4",   "nvfp4-pack-quantized", nvfp4_weights, true,
                                 {4, "tensor_group", 16, "torch.float8_e4m3fn", "local", "static_minmax"},
                                 "NVFP4A16", "NVFP4A16"};
inline constexpr ct_preset nvfp4a16{"NVFP4A16", "NVFP4A16", "nvfp4-pack-quantized", nvfp4_weights};
inline constexpr ct_preset mxfp4{"MXFP4", "MXFP4_CT", "mxfp4-pack-quantized", {4, "group", 32, "torch.uint8"}, true,
                                 {4, "group", 32, "torch.uint8", "true"}};
inline constexpr ct_preset mxfp8{"MXFP8", "MXFP8_E4M3_CT", "mxfp8-quantized", {8, "group", 32, "torch.uint8"}, true,
                                 {8, "group", 32, "torch.uint8", "true"}};
inline constexpr ct_preset fp8_dynamic{"FP8_DYNAMIC", "FP8_E4M3", "float-quantized", {8, "channel"}, true, {8, "token", -1, {}, "true"}};
inline constexpr ct_preset fp8_block{"FP8_BLOCK", "FP8_SOURCE", "float-quantized", {8, "block", -1, {}, "false", {}, true}, true,
                                     {8, "group", 128, {}, "true"}};
inline constexpr ct_preset bf16{"BF16", "BF16", {}};
}  // namespace ct_presets

// The preset of F: F::compressed_tensors if it has one, else a specialization below, else none.
template <class F>
struct ct_preset_of {
  static constexpr const ct_preset* value = [] {
    if constexpr (requires { F::compressed_tensors; }) return &F::compressed_tensors;
    else return static_cast<const ct_preset*>(nullptr);
  }();
};
template <> struct ct_preset_of<nvfp4> { static constexpr const ct_preset* value = &ct_presets::nvfp4; };
template <> struct ct_preset_of<nvfp4a16> { static constexpr const ct_preset* value = &ct_presets::nvfp4a16; };
template <> struct ct_preset_of<mxfp4> { static constexpr const ct_preset* value = &ct_presets::mxfp4; };
template <> struct ct_preset_of<mxfp4_ct> { static constexpr const ct_preset* value = &ct_presets::mxfp4; };
template <> struct ct_preset_of<mxfp8_e4m3> { static constexpr const ct_preset* value = &ct_presets::mxfp8; };
template <> struct ct_preset_of<mxfp8_e4m3_ct> { static constexpr const ct_preset* value = &ct_presets::mxfp8; };
template <> struct ct_preset_of<fp8_e4m3_channel> { static constexpr const ct_preset* value = &ct_presets::fp8_dynamic; };
template <> struct ct_preset_of<fp8_source> { static constexpr const ct_preset* value = &ct_presets::fp8_block; };
template <> struct ct_preset_of<bf16_passthrough> { static constexpr const ct_preset* value = &ct_presets::bf16; };

}  // namespace prismaquant::formats
