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
// Built field by field (every field not named keeps its default).
inline constexpr ct_args nvfp4_weights = [] {
  ct_args a;
  a.bits = 4, a.strategy = "tensor_group", a.group_size = 16, a.scale_dtype = "torch.float8_e4m3fn";
  return a;
}();
inline constexpr ct_args mx_weights(int bits) {
  ct_args a;
  a.bits = bits, a.strategy = "group", a.group_size = 32, a.scale_dtype = "torch.uint8";
  return a;
}
inline constexpr ct_args mx_inputs(int bits) {  // dynamic per 32-element group
  ct_args a = mx_weights(bits);
  a.dynamic = "true";
  return a;
}
inline constexpr ct_preset nvfp4 = [] {
  ct_preset p;
  p.group = "NVFP4", p.encoder = "NVFP4", p.format = "nvfp4-pack-quantized", p.weights = nvfp4_weights;
  p.has_inputs = true, p.inputs = nvfp4_weights, p.inputs.dynamic = "local", p.inputs.observer = "static_minmax";
  p.weight_only_group = "NVFP4A16", p.weight_only_encoder = "NVFP4A16";
  return p;
}();
inline constexpr ct_preset nvfp4a16 = [] {
  ct_preset p;
  p.group = "NVFP4A16", p.encoder = "NVFP4A16", p.format = "nvfp4-pack-quantized", p.weights = nvfp4_weights;
  return p;
}();
inline constexpr ct_preset mxfp4 = [] {
  ct_preset p;
  p.group = "MXFP4", p.encoder = "MXFP4_CT", p.format = "mxfp4-pack-quantized", p.weights = mx_weights(4);
  p.has_inputs = true, p.inputs = mx_inputs(4);
  return p;
}();
inline constexpr ct_preset mxfp8 = [] {
  ct_preset p;
  p.group = "MXFP8", p.encoder = "MXFP8_E4M3_CT", p.format = "mxfp8-quantized", p.weights = mx_weights(8);
  p.has_inputs = true, p.inputs = mx_inputs(8);
  return p;
}();
inline constexpr ct_preset fp8_dynamic = [] {
  ct_preset p;
  p.group = "FP8_DYNAMIC", p.encoder = "FP8_E4M3", p.format = "float-quantized";
  p.weights.bits = 8, p.weights.strategy = "channel";
  p.has_inputs = true, p.inputs.bits = 8, p.inputs.strategy = "token", p.inputs.dynamic = "true";
  return p;
}();
inline constexpr ct_preset fp8_block = [] {
  ct_preset p;
  p.group = "FP8_BLOCK", p.encoder = "FP8_SOURCE", p.format = "float-quantized";
  p.weights.bits = 8, p.weights.strategy = "block", p.weights.block_128 = true;
  p.has_inputs = true, p.inputs.bits = 8, p.inputs.strategy = "group", p.inputs.group_size = 128, p.inputs.dynamic = "true";
  return p;
}();
inline constexpr ct_preset bf16 = [] {
  ct_preset p;
  p.group = "BF16", p.encoder = "BF16";  // format empty: not quantized
  return p;
}();
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
