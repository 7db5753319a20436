#pragma once
// The compressed-tensors scheme each exportable format is written under: the encoder that
// makes its tensors, CT's `format` string, and the QuantizationArgs of its weights and input
// activations exactly as compressed-tensors 0.19 serializes its presets (NVFP4, NVFP4A16,
// MXFP4, MXFP4A16, MXFP8, MXFP8A16, FP8_DYNAMIC, FP8_BLOCK; `preset_name_to_scheme(...)
// .weights.model_dump_json()`). `input_activations` null = weight-only.
//
//   layer_config fmt   encoder          CT format              group
//   NVFP4              NVFP4            nvfp4-pack-quantized   NVFP4 (W4A4); NVFP4A16 with --weight-only
//   NVFP4A16           NVFP4A16         nvfp4-pack-quantized   NVFP4A16
//   MXFP4, MXFP4_CT    MXFP4_CT         mxfp4-pack-quantized   MXFP4
//   MXFP8_E4M3(_CT)    MXFP8_E4M3_CT    mxfp8-quantized        MXFP8
//   FP8_E4M3           FP8_E4M3         float-quantized        FP8_DYNAMIC (per-token dynamic inputs)
//   FP8_SOURCE         FP8_SOURCE       float-quantized        FP8_BLOCK (group-128 dynamic inputs)
//   BF16               BF16             (none: listed in `ignore`)
// --weight-only concerns NVFP4 only: its W4A4 form stores a calibrated input_global_scale,
// the other schemes quantize activations dynamically and need no calibration. (Dropping
// their inputs would also break vLLM: FP8 per-channel experts without input activations fall
// into its WNA16 MoE path, which refuses float-quantized weights — seen with vLLM 0.33.)
// MX formats are encoded with CT's scale rule (papers/ct-recipe.md §2), whatever rule the
// allocation's cost pass used; an allocation that priced MXFP4_CT / MXFP8_E4M3_CT (as the
// pipeline does, see `stored_format`) is written exactly as priced. Other formats have no
// scheme vLLM serves: exporting them is an error naming the module.
#include <prismaquant/core/error.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace prismaquant::exporter {

struct ct_scheme {
  std::string group;    // config_groups key (CT's preset name)
  std::string encoder;  // formats::registry() name that writes the tensors
  std::string format;   // CT format string; empty = not quantized (BF16)
  nlohmann::json weights;             // null for BF16
  nlohmann::json input_activations;   // null = weight-only
  bool quantized() const { return !format.empty(); }
  bool w4a4_nvfp4() const { return encoder == "NVFP4"; }
};

namespace detail {

inline nlohmann::json qargs(int bits, const char* strategy, nlohmann::json group_size, const char* scale_dtype,
                            nlohmann::json dynamic, nlohmann::json observer = nullptr,
                            nlohmann::json block_structure = nullptr) {
  return {{"actorder", nullptr},          {"block_structure", block_structure},
          {"dynamic", dynamic},           {"group_size", group_size},
          {"num_bits", bits},             {"observer", observer},
          {"observer_kwargs", nlohmann::json::object()},
          {"scale_dtype", scale_dtype ? nlohmann::json(scale_dtype) : nlohmann::json(nullptr)},
          {"strategy", strategy},         {"symmetric", true},
          {"type", "float"},              {"zp_dtype", nullptr}};
}

}  // namespace detail

// The scheme for a layer_config format; `where` names the module in errors.
inline ct_scheme scheme_for(const std::string& fmt, bool weight_only, const std::string& where) {
  using detail::qargs;
  using nlohmann::json;
  ct_scheme s;
  if (fmt == "NVFP4" || fmt == "NVFP4A16") {
    const bool a16 = weight_only || fmt == "NVFP4A16";
    s.group = a16 ? "NVFP4A16" : "NVFP4";
    s.encoder = s.group;
    s.format = "nvfp4-pack-quantized";
    s.weights = qargs(4, "tensor_group", 16, "torch.float8_e4m3fn", false);
    if (!a16) s.input_activations = qargs(4, "tensor_group", 16, "torch.float8_e4m3fn", "local", "static_minmax");
  } else if (fmt == "MXFP4" || fmt == "MXFP8_E4M3" || fmt == "MXFP4_CT" || fmt == "MXFP8_E4M3_CT") {
    const int bits = fmt.starts_with("MXFP4") ? 4 : 8;
    s.group = bits == 4 ? "MXFP4" : "MXFP8";
    s.encoder = bits == 4 ? "MXFP4_CT" : "MXFP8_E4M3_CT";
    s.format = bits == 4 ? "mxfp4-pack-quantized" : "mxfp8-quantized";
    s.weights = qargs(bits, "group", 32, "torch.uint8", false);
    s.input_activations = qargs(bits, "group", 32, "torch.uint8", true);
  } else if (fmt == "FP8_E4M3") {
    s.group = "FP8_DYNAMIC";
    s.encoder = "FP8_E4M3";
    s.format = "float-quantized";
    s.weights = qargs(8, "channel", nullptr, nullptr, false);
    s.input_activations = qargs(8, "token", nullptr, nullptr, true);
  } else if (fmt == "FP8_SOURCE") {
    s.group = "FP8_BLOCK";
    s.encoder = "FP8_SOURCE";
    s.format = "float-quantized";
    s.weights = qargs(8, "block", nullptr, nullptr, false, nullptr, json::array({128, 128}));
    s.input_activations = qargs(8, "group", 128, nullptr, true);
  } else if (fmt == "BF16") {
    s.group = "BF16";
    s.encoder = "BF16";
  } else {
    throw error(where, "format " + fmt +
                           " has no compressed-tensors scheme vLLM serves (exportable: NVFP4, NVFP4A16, MXFP4, "
                           "MXFP4_CT, MXFP8_E4M3, MXFP8_E4M3_CT, FP8_E4M3, FP8_SOURCE, BF16)");
  }
  return s;
}

// The registry format whose round trip and bytes are exactly what the export writes for `fmt`:
// NVFP4 weight-only is stored as NVFP4A16 (no input_global_scale: 4 bytes less per Linear), MX
// formats with compressed-tensors' scale rule. Pricing this format makes the allocation's
// bytes and errors those of the checkpoint.
inline std::string stored_format(const std::string& fmt, bool weight_only, const std::string& where) {
  return scheme_for(fmt, weight_only, where).encoder;
}

}  // namespace prismaquant::exporter
