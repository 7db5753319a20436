#pragma once
// The compressed-tensors scheme a layer_config format is written under: the encoder that makes
// its tensors, CT's `format` string, and the QuantizationArgs of its weights and input
// activations as compressed-tensors 0.19 serializes its presets — all read from the format's
// own preset (formats/ct_preset.hpp, through the registry entry). `input_activations` null =
// weight-only.
//
// --weight-only concerns NVFP4 only: its W4A4 form stores a calibrated input_global_scale,
// the other schemes quantize activations dynamically and need no calibration. (Dropping
// their inputs would also break vLLM: FP8 per-channel experts without input activations fall
// into its WNA16 MoE path, which refuses float-quantized weights — seen with vLLM 0.33.)
// MX formats are encoded with CT's scale rule (papers/ct-recipe.md §2), whatever rule the
// allocation's cost pass used; an allocation that priced MXFP4_CT / MXFP8_E4M3_CT (as the
// pipeline does, see `stored_format`) is written exactly as priced. Other formats have no
// scheme vLLM serves: exporting them is an error naming the module.
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/registry.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace prismaquant::exporter {

struct ct_scheme {
  std::string group;    // config_groups key (CT's preset name)
  std::string encoder;  // formats::registry() name that writes the tensors
  std::string format;   // CT format string; empty = not quantized (BF16)
  nlohmann::json weights;             // null for BF16
  nlohmann::json input_activations;   // null = weight-only
  bool input_global_scale = false;    // a calibrated input_global_scale is stored (NVFP4 W4A4)
  bool quantized() const { return !format.empty(); }
  bool w4a4_nvfp4() const { return input_global_scale; }
};

namespace detail {

// QuantizationArgs as compressed-tensors serializes them (every field, sorted keys).
inline nlohmann::json qargs(const formats::ct_args& a) {
  using nlohmann::json;
  auto str_or_null = [](std::string_view s) { return s.empty() ? json(nullptr) : json(std::string(s)); };
  const json dynamic = a.dynamic == "true" ? json(true) : a.dynamic == "false" ? json(false) : json(std::string(a.dynamic));
  return {{"actorder", nullptr},
          {"block_structure", a.block_128 ? json::array({128, 128}) : json(nullptr)},
          {"dynamic", dynamic},
          {"group_size", a.group_size > 0 ? json(a.group_size) : json(nullptr)},
          {"num_bits", a.bits},
          {"observer", str_or_null(a.observer)},
          {"observer_kwargs", json::object()},
          {"scale_dtype", str_or_null(a.scale_dtype)},
          {"strategy", std::string(a.strategy)},
          {"symmetric", true},
          {"type", std::string(a.type)},
          {"zp_dtype", nullptr}};
}

}  // namespace detail

// The scheme for a layer_config format; `where` names the module in errors.
inline ct_scheme scheme_for(const std::string& fmt, bool weight_only, const std::string& where) {
  const formats::format_entry* f = formats::find_if_known(fmt);
  if (!f || !f->compressed_tensors) {
    std::string exportable;
    for (const auto& e : formats::registry())
      if (e.compressed_tensors) exportable += (exportable.empty() ? "" : ", ") + std::string(e.name);
    throw error(where, "format " + fmt + " has no compressed-tensors scheme vLLM serves (exportable: " + exportable + ")");
  }
  const formats::ct_preset& p = *f->compressed_tensors;
  const bool a16 = weight_only && !p.weight_only_group.empty();
  ct_scheme s;
  s.group = a16 ? p.weight_only_group : p.group;
  s.encoder = a16 ? p.weight_only_encoder : p.encoder;
  s.format = p.format;
  if (s.quantized()) s.weights = detail::qargs(p.weights);
  if (p.has_inputs && !a16) s.input_activations = detail::qargs(p.inputs);
  // Dynamic local scales under a static global one: the global scale is calibrated and stored.
  s.input_global_scale = p.has_inputs && !a16 && p.inputs.dynamic == "local";
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
