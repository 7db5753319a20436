#pragma once
// Simulated input quantization for the compressed-tensors schemes that quantize activations,
// computed as compressed-tensors' forward does it (dynamic scales from each group's amax, the
// same calculate_qparams as for weights), so each reuses the weight format that is bit-exact to
// CT on that granularity, applied to the input rows viewed as a float32 weight:
//
//   input_activations                              simulated as
//   float 8, token, dynamic                        FP8_E4M3 (one scale per row = per token)
//   float 8, group 128, dynamic                    FP8_E4M3 on rows of 128 (one scale per group)
//   float 4 / 8, group 32, dynamic, scale uint8    MXFP4_CT / MXFP8_E4M3_CT (per row, groups of 32)
//   float 4, tensor_group 16, dynamic local        NVFP4 with the stored input_global_scale (static)
//
// Anything else is an error naming the Linear.
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/encode.hpp>
#include <prismaquant/formats/nvfp4.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/nn/input_quantizer.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <vector>
#include <string>

namespace prismaquant::engine {

namespace detail {

// x [rows × cols] through a registry format's round trip, rows as the format's rows.
inline void round_trip_rows(const formats::format_entry& f, float* x, std::int64_t rows, std::int64_t cols) {
  const auto v = formats::weight_view::from_bytes(x, dtype::F32, rows, cols, "activations");
  const auto q = f.round_trip(v, formats::measure(v));
  std::memcpy(x, q.data(), q.size() * 4);
}

}  // namespace detail

// `input_activations` of a config group (CT QuantizationArgs JSON) as an input quantizer;
// input_global_scale: the Linear's stored `input_global_scale` (NVFP4 only, else ignored).
template <class Json>
nn::input_quantizer activation_quantizer(const Json& a, float input_global_scale, const std::string& where) {
  nn::input_quantizer q;
  if (a.is_null()) return q;
  if (!a.is_object()) throw error(where, "input_activations must be an object or null");
  const int bits = a.value("num_bits", 0);
  const std::string type = a.value("type", std::string{}), strategy = a.value("strategy", std::string{});
  const int group = a.contains("group_size") && a["group_size"].is_number_integer() ? a["group_size"].template get<int>() : -1;
  const bool dynamic = a.contains("dynamic") && (a["dynamic"] == true || a["dynamic"] == "local");
  const bool mx_scale = a.contains("scale_dtype") && a["scale_dtype"] == "torch.uint8";
  auto unsupported = [&]() {
    return error(where, "input activations " + std::to_string(bits) + "-bit " + type + " " + strategy + " (group " +
                            std::to_string(group) + (dynamic ? ", dynamic" : ", static") +
                            ") cannot be simulated (eval --act-quant off ignores activation quantization)");
  };
  if (type != "float" || !dynamic) throw unsupported();
  if (bits == 8 && strategy == "token") {
    const auto* f = &formats::entry_of<formats::fp8_e4m3_channel>();
    q.scheme = "FP8 E4M3 per token";
    q.apply = [f](float* x, std::int64_t rows, std::int64_t cols) { detail::round_trip_rows(*f, x, rows, cols); };
  } else if (bits == 8 && strategy == "group" && !mx_scale && group > 0) {
    const auto* f = &formats::entry_of<formats::fp8_e4m3_channel>();
    const std::int64_t g = group;
    q.scheme = "FP8 E4M3 per token, groups of " + std::to_string(g);
    q.apply = [f, g, where](float* x, std::int64_t rows, std::int64_t cols) {
      if (cols % g) throw error(where, "input width " + std::to_string(cols) + " is not a multiple of the activation group " + std::to_string(g));
      detail::round_trip_rows(*f, x, rows * cols / g, g);
    };
  } else if ((bits == 4 || bits == 8) && strategy == "group" && mx_scale && group == 32) {
    const auto* f = bits == 4 ? &formats::entry_of<formats::mxfp4_ct>() : &formats::entry_of<formats::mxfp8_e4m3_ct>();
    q.scheme = bits == 4 ? "MXFP4 per token" : "MXFP8 E4M3 per token";
    q.apply = [f](float* x, std::int64_t rows, std::int64_t cols) { detail::round_trip_rows(*f, x, rows, cols); };
  } else if (bits == 4 && strategy == "tensor_group" && group == 16) {
    if (!(input_global_scale > 0.0f) || !std::isfinite(input_global_scale))
      throw error(where, "NVFP4 input activations need a positive finite input_global_scale");
    using F = formats::nvfp4_format<false>;
    q.scheme = "NVFP4 per token, input_global_scale " + std::to_string(input_global_scale);
    q.apply = [input_global_scale](float* x, std::int64_t rows, std::int64_t cols) {
      const auto v = formats::weight_view::from_bytes(x, dtype::F32, rows, cols, "activations");
      F::tensor_params tp;
      tp.global_scale = input_global_scale;
      std::vector<float> out(static_cast<std::size_t>(rows * cols));
      formats::for_each_block<F>(v, tp, [&](std::int64_t, std::int64_t, std::int64_t i0, std::int64_t i1, std::int64_t j0,
                                            std::int64_t j1, const float* band, const F::block_params& bp) {
        for (std::int64_t i = i0; i < i1; ++i)
          for (std::int64_t j = j0; j < j1; ++j)
            out[static_cast<std::size_t>(i * cols + j)] = formats::round_trip<F>(bp, band[(i - i0) * cols + j]);
      });
      std::memcpy(x, out.data(), out.size() * 4);
    };
  } else {
    throw unsupported();
  }
  return q;
}

// The same from a format's compressed-tensors preset (formats/ct_preset.hpp): its input
// arguments as an export writes them (dynamic schemes only: NVFP4 W4A4's scale is calibrated).
inline nn::input_quantizer activation_quantizer(const formats::ct_args& a, const std::string& where) {
  using nlohmann::json;
  const json j{{"num_bits", a.bits},
               {"type", std::string(a.type)},
               {"strategy", std::string(a.strategy)},
               {"group_size", a.group_size > 0 ? json(a.group_size) : json(nullptr)},
               {"dynamic", a.dynamic == "true" ? json(true) : a.dynamic == "false" ? json(false) : json(std::string(a.dynamic))},
               {"scale_dtype", a.scale_dtype.empty() ? json(nullptr) : json(std::string(a.scale_dtype))}};
  return activation_quantizer(j, 0.0f, where);
}

}  // namespace prismaquant::engine
