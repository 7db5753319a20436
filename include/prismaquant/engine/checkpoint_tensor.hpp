#pragma once
// Reading one checkpoint tensor as float32 for the engine: F32 as is, BF16 / F16 widened
// exactly, FP8 E4M3 with 128×128 `weight_scale_inv` blocks dequantized (w = fp8 · scale in
// float32, as transformers' FineGrainedFP8 dequantize does). The shape is checked against what
// the architecture expects and NaN / Inf are refused, each with an error naming the tensor:
// stored codes by io/finite.hpp (file, tensor, index), then the float32 result (an FP8 code
// times a huge scale can still overflow).
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/formats/weight_view.hpp>
#include <prismaquant/io/checkpoint.hpp>
#include <prismaquant/io/finite.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace prismaquant::engine {

// A Linear's source weight as the formats read it (formats::weight_view), with its FP8 block
// scales copied so they are aligned floats.
struct source_weight {
  std::string name;  // "<module>.weight"
  formats::weight_view view;
  std::vector<float> scale_inv;
  std::vector<std::byte> realigned;
};

namespace detail {

inline std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string o = "[";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

inline void check_shape(const tensor_view& t, const std::string& name, const std::vector<std::int64_t>& shape) {
  bool ok = t.shape.size() == shape.size();
  for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = static_cast<std::int64_t>(t.shape[i]) == shape[i];
  if (!ok) {
    std::vector<std::int64_t> got(t.shape.begin(), t.shape.end());
    throw error(name, "shape " + shape_str(got) + " does not match the config, expected " + shape_str(shape));
  }
}

inline void check_finite(const float* v, std::int64_t n, const std::string& name) {
  for (std::int64_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      throw error(name, std::string(std::isnan(v[i]) ? "NaN" : "Inf") + " at element " + std::to_string(i) +
                            " (the model must have finite weights)");
}

inline const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> t = [] {
    std::array<float, 256> a{};
    for (int i = 0; i < 256; ++i) a[static_cast<std::size_t>(i)] = fp8_e4m3::from_bits(static_cast<unsigned>(i)).to_float();
    return a;
  }();
  return t;
}

}  // namespace detail

// `<module>.weight` [out, in] (+ `.weight_scale_inv` for FP8) as a weight_view.
// check_values: refuse NaN / Inf codes here (a reader that scans every value itself, like the
// cost pass, passes false and reads the weight once).
inline source_weight open_source_weight(const checkpoint& ck, const std::string& module, std::int64_t out,
                                        std::int64_t in, bool check_values = true) {
  source_weight s;
  s.name = module + ".weight";
  if (ck.contains(module + ".weight_packed") || (ck.contains(module + ".weight_scale") && !ck.contains(module + ".weight_scale_inv")))
    throw error(module, "is stored compressed (a compressed-tensors export): only `prismaquant eval` reads it; run the "
                        "method on the source checkpoint");
  const auto t = ck.tensor(s.name);
  detail::check_shape(t, s.name, {out, in});
  if (check_values) require_finite(t);
  const void* data = t.bytes.data();
  const std::size_t align = static_cast<std::size_t>(std::max(1, dtype_bits(t.type) / 8));
  if (reinterpret_cast<std::uintptr_t>(data) % align != 0) {
    s.realigned.assign(t.bytes.begin(), t.bytes.end());
    data = s.realigned.data();
  }
  const float* scales = nullptr;
  if (t.type == dtype::F8_E4M3) {
    const std::string sn = module + ".weight_scale_inv";
    if (!ck.contains(sn)) throw error(s.name, "F8_E4M3 weight without " + sn);
    const auto st = ck.tensor(sn);
    detail::check_shape(st, sn, {(out + 127) / 128, (in + 127) / 128});
    require_finite(st);
    if (st.type == dtype::F32) {
      s.scale_inv = st.to_vector<float>();
    } else if (st.type == dtype::BF16) {
      const auto raw = st.to_vector<std::uint16_t>();
      s.scale_inv.resize(raw.size());
      for (std::size_t i = 0; i < raw.size(); ++i) s.scale_inv[i] = bf16::from_bits(raw[i]).to_float();
    } else {
      throw error(sn, "dtype must be F32 or BF16");
    }
    detail::check_finite(s.scale_inv.data(), static_cast<std::int64_t>(s.scale_inv.size()), sn);
    scales = s.scale_inv.data();
  } else if (t.type != dtype::F32 && t.type != dtype::BF16 && t.type != dtype::F16) {
    throw error(s.name, "dtype " + std::string(dtype_name(t.type)) + " cannot be read (expected F32, BF16, F16 or F8_E4M3)");
  }
  s.view = formats::weight_view::from_bytes(data, t.type, out, in, s.name, scales, 128);
  return s;
}

// The view's elements as float32 into out[rows × cols] (exact; FP8 through a 256-entry table
// and one float multiply per element, as weight_view::at computes it). NaN / Inf refused.
inline void dequantize(const formats::weight_view& v, float* out) {
  if (v.type == dtype::F8_E4M3) {
    const auto& lut = detail::fp8_table();
    const auto* codes = static_cast<const std::uint8_t*>(v.data);
    const std::int64_t B = v.scale_block, sc = (v.cols + B - 1) / B;
    for (std::int64_t i = 0; i < v.rows; ++i) {
      const float* srow = v.scale_inv + (i / B) * sc;
      for (std::int64_t j = 0; j < v.cols; ++j) out[i * v.cols + j] = lut[codes[i * v.cols + j]] * srow[j / B];
    }
  } else {
    for (std::int64_t i = 0; i < v.rows; ++i) v.load_row(i, out + i * v.cols);
  }
  detail::check_finite(out, v.rows * v.cols, std::string(v.name));
}

// Any floating-point tensor (norm weights, router, bias, embeddings) as float32 with the given
// shape. FP8 needs rank 2 and its weight_scale_inv.
inline std::vector<float> read_tensor(const checkpoint& ck, const std::string& name, const std::vector<std::int64_t>& shape) {
  if (!ck.contains(name)) throw error(name, "missing from the checkpoint (the config promises it)");
  const auto t = ck.tensor(name);
  detail::check_shape(t, name, shape);
  require_finite(t);
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> out(static_cast<std::size_t>(n));
  if (t.type == dtype::F8_E4M3) {
    if (shape.size() != 2 || !name.ends_with(".weight")) throw error(name, "FP8 is only read for 2-D weights");
    const auto s = open_source_weight(ck, name.substr(0, name.size() - 7), shape[0], shape[1]);
    dequantize(s.view, out.data());
    return out;
  }
  if (t.type != dtype::F32 && t.type != dtype::BF16 && t.type != dtype::F16)
    throw error(name, "dtype " + std::string(dtype_name(t.type)) + " cannot be read (expected F32, BF16 or F16)");
  const auto v = formats::weight_view::from_bytes(t.bytes.data(), t.type, 1, n, name);
  if (t.type == dtype::F32) {
    std::memcpy(out.data(), t.bytes.data(), static_cast<std::size_t>(n) * 4);
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = v.at(0, i);
  }
  detail::check_finite(out.data(), n, name);
  return out;
}

}  // namespace prismaquant::engine
