#pragma once
// INT-N group-wise formats, symmetric or asymmetric, as compressed-tensors `pack-quantized`
// writes them (GPTQ-style W4A16 / W8A16; CT compressors/pack_quantized.py):
//   <m>.weight_packed      I32   [out, ceil(in / (32/N))]   CT pack_to_int32: code = q + 2^(N-1)
//                                                           at bits k*N of each word, rows padded
//   <m>.weight_scale       BF16 | F8_E4M3  [out, n_groups]  n_groups = ceil(in/G) (1 per channel)
//   <m>.weight_shape       I64   [2]                         [out, in]
//   <m>.weight_zero_point  I32   [ceil(out / (32/N)), n_groups]   asymmetric only; packed along
//                                                           dim 0, code = zp + 2^(N-1)
//   <m>.weight_global_scale F32  [1]                          fp8-scaled variants only
// Recipe (after CT calculate_qparams; qmin = -2^(N-1), qmax = 2^(N-1) - 1, range = qmax - qmin):
//   symmetric   s = amax_b / qmax, zp = 0    -- NOT CT's amax_b / (range/2): with that scale the
//               block max lands on qmax + 0.5 and is clipped, so decode(encode(w)) is not a
//               fixed point (re-encoding shrinks or grows every scale). Ours keeps the law.
//   asymmetric  lo = min(min_b, 0), hi = max(max_b, 0); s = (hi - lo) / range;
//               zp = rne(clamp(qmin - lo / s, qmin, qmax))      (zp from the unrounded s, as CT)
//   scale rounding: BF16 scales -> bf16_rne(s); FP8 scales (INT3/INT2) -> like NVFP4 with
//               gs = 448 * qmax / amax_tensor: s8 = e4m3_rne(gs * s), eff = s8 / gs
//   a zero scale becomes the scale dtype's eps (bf16 2^-7; fp8 0.125, as CT)
//   q = rne(clamp(x / eff + zp, qmin, qmax)); dequant (q - zp) * eff.
// Our choices (flagged in docs/formats.md): BF16 scales whatever the source dtype (CT would use
// the weight's dtype; identical for bf16 models) and float32 arithmetic throughout; INT3/INT2's
// fp8 scales with an F32 global scale (vLLM has no kernel for them; the layout mirrors NVFP4).
// Shapes (CT): in % G == 0, or in < G (one short group); per-channel: any.
#include <prismaquant/formats/detail/packing.hpp>
#include <prismaquant/formats/format.hpp>

#include <algorithm>
#include <string>

namespace prismaquant::formats {

enum class int_scale_kind { bf16, fp8_global };

// Name: a type with `static constexpr std::string_view value` (a class-type template argument
// would be neater, but nvcc's kernel stubs cannot spell one).
template <int Bits, std::int64_t Group, bool Symmetric, int_scale_kind Scale, class Name>
struct int_format {
  static_assert(Bits >= 2 && Bits <= 8, "CT packs 1..8-bit integers");
  static constexpr std::string_view name = Name::value;
  static constexpr std::int64_t block_rows = 1;
  static constexpr std::int64_t block_cols = Group;
  static constexpr int element_bits = Bits;
  static constexpr bool symmetric = Symmetric;
  static constexpr int qmin = -(1 << (Bits - 1));
  static constexpr int qmax = (1 << (Bits - 1)) - 1;
  static constexpr float range = static_cast<float>(qmax - qmin);
  static constexpr bool global = Scale == int_scale_kind::fp8_global;

  using code_type = std::uint8_t;  // q + 2^(Bits-1), in [0, 2^Bits)
  struct tensor_params {
    float global_scale = 1.0f;  // fp8_global only
  };
  struct block_params {
    float eff = 1.0f;  // dequant step
    float zp = 0.0f;   // integer-valued zero point
    std::uint16_t scale_code = 0;  // bf16 bits or e4m3 code of the stored scale
  };

  PQ_HD static constexpr tensor_params prepare(tensor_stats s) noexcept {
    tensor_params tp;
    if (global) {
      const float tiny = 1.17549435e-38f;
      const float gs = 448.0f * static_cast<float>(qmax) / (s.amax > tiny ? s.amax : tiny);
      tp.global_scale = detail::is_finite(gs) ? gs : 1.0f;
    }
    return tp;
  }
  // Round half to even for |v| < 2^22: adding 1.5*2^23 leaves no fraction bits (float RNE).
  PQ_HD static constexpr float rne(float v) noexcept {
    const float big = 12582912.0f;
    const float t = v + big;
    return t - big;
  }
  PQ_HD static constexpr block_params block_from_code(const tensor_params& tp, unsigned code, float zp) noexcept {
    block_params bp;
    bp.scale_code = static_cast<std::uint16_t>(code);
    bp.zp = zp;
    bp.eff = global ? fp8_e4m3::from_bits(code).to_float() / tp.global_scale : bf16::from_bits(code).to_float();
    return bp;
  }
  PQ_HD static constexpr block_params block_scale(const tensor_params& tp, block_range r) noexcept {
    float s = 0.0f, zp = 0.0f;
    if (Symmetric) {
      s = r.amax() / static_cast<float>(qmax);
    } else {
      const float lo = r.min < 0.0f ? r.min : 0.0f, hi = r.max > 0.0f ? r.max : 0.0f;
      s = (hi - lo) / range;
      if (s != 0.0f) {
        float z = static_cast<float>(qmin) - lo / s;
        z = z < qmin ? static_cast<float>(qmin) : z > qmax ? static_cast<float>(qmax) : z;
        zp = rne(z);
      }
    }
    unsigned code = 0;
    if (global) {
      code = fp8_e4m3::from_float(tp.global_scale * s).bits();
      if (code == 0 || code == 0x80) code = 0x20;  // zero -> fp8 eps 0.125
    } else {
      code = bf16::from_float(s).bits();
      if ((code & 0x7FFF) == 0) code = 0x3C00;  // zero -> bf16 eps 2^-7
    }
    return block_from_code(tp, code, zp);
  }
  PQ_HD static constexpr code_type quantize(const block_params& bp, float x) noexcept {
    float v = x / bp.eff + bp.zp;
    v = v < qmin ? static_cast<float>(qmin) : v > qmax ? static_cast<float>(qmax) : v;
    return static_cast<code_type>(static_cast<int>(rne(v)) - qmin);
  }
  PQ_HD static constexpr float dequantize(const block_params& bp, code_type q) noexcept {
    return (static_cast<float>(static_cast<int>(q) + qmin) - bp.zp) * bp.eff;
  }

  // ---- storage ----
  static constexpr std::size_t i_scale = 1, i_shape = 2, i_zp = 3, i_gs = Symmetric ? 3 : 4;
  PQ_HD static constexpr std::int64_t groups(std::int64_t cols) noexcept { return block_count(Group, cols); }
  PQ_HD static constexpr std::int64_t words(std::int64_t n) noexcept { return (n + 32 / Bits - 1) / (32 / Bits); }
  PQ_HD static constexpr std::uint64_t storage_bytes(std::int64_t rows, std::int64_t cols) noexcept {
    const auto r = static_cast<std::uint64_t>(rows), g = static_cast<std::uint64_t>(groups(cols));
    return 4 * r * static_cast<std::uint64_t>(words(cols)) + (global ? 1 : 2) * r * g + 16 +
           (Symmetric ? 0 : 4 * static_cast<std::uint64_t>(words(rows)) * g) + (global ? 4 : 0);
  }
  static void check_shape(std::int64_t rows, std::int64_t cols, std::string_view where) {
    if (rows <= 0 || cols <= 0) throw error(std::string(where), std::string(name) + " needs a non-empty 2-D weight");
    if (Group != whole && !(cols % Group == 0 || cols < Group))
      throw error(std::string(where), std::string(name) + " needs in_features divisible by " + std::to_string(Group) +
                                          " (or < " + std::to_string(Group) + "), got " + std::to_string(cols));
  }
  static std::vector<tensor_spec> layout(std::int64_t rows, std::int64_t cols, const tensor_params&) {
    std::vector<tensor_spec> v{{"weight_packed", dtype::I32, {rows, words(cols)}},
                               {"weight_scale", global ? dtype::F8_E4M3 : dtype::BF16, {rows, groups(cols)}},
                               {"weight_shape", dtype::I64, {2}}};
    if (!Symmetric) v.push_back({"weight_zero_point", dtype::I32, {words(rows), groups(cols)}});
    if (global) v.push_back({"weight_global_scale", dtype::F32, {1}});
    return v;
  }
  static void store_tensor(encoded_weight& e, const tensor_params& tp) {
    e.tensors[i_shape].put<std::int64_t>(0, e.rows);
    e.tensors[i_shape].put<std::int64_t>(1, e.cols);
    if (global) e.tensors[i_gs].put<float>(0, tp.global_scale);
  }
  static void store_block(encoded_weight& e, std::int64_t bi, std::int64_t bj, const block_params& bp) {
    const auto k = static_cast<std::uint64_t>(bi * groups(e.cols) + bj);
    if (global) e.tensors[i_scale].bytes[k] = static_cast<std::uint8_t>(bp.scale_code);
    else e.tensors[i_scale].put<std::uint16_t>(k, bp.scale_code);
    if (!Symmetric)
      detail::store_packed_dim0(e.tensors[i_zp], Bits, groups(e.cols), bi, bj,
                                static_cast<unsigned>(static_cast<int>(bp.zp) - qmin));
  }
  static void store_code(encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    detail::store_packed(e.tensors[0], Bits, e.cols, i, j, q);
  }
  static tensor_params load_tensor(const encoded_weight& e) {
    tensor_params tp;
    if (global) tp.global_scale = e.tensors[i_gs].get<float>(0);
    return tp;
  }
  static block_params load_block(const encoded_weight& e, std::int64_t bi, std::int64_t bj, const tensor_params& tp) {
    const auto k = static_cast<std::uint64_t>(bi * groups(e.cols) + bj);
    const unsigned code = global ? e.tensors[i_scale].bytes[k] : e.tensors[i_scale].get<std::uint16_t>(k);
    const float zp = Symmetric ? 0.0f
                               : static_cast<float>(static_cast<int>(detail::load_packed_dim0(
                                                        e.tensors[i_zp], Bits, groups(e.cols), bi, bj)) + qmin);
    return block_from_code(tp, code, zp);
  }
  static code_type load_code(const encoded_weight& e, std::int64_t i, std::int64_t j) {
    return static_cast<code_type>(detail::load_packed(e.tensors[0], Bits, e.cols, i, j));
  }
};

namespace names {
struct int4_w4a16_g128 { static constexpr std::string_view value = "INT4_W4A16_g128"; };
struct int8_w8a16 { static constexpr std::string_view value = "INT8_W8A16"; };
struct int3_g16 { static constexpr std::string_view value = "INT3"; };
struct int2_g16 { static constexpr std::string_view value = "INT2"; };
struct int4_w4a16_asym_g128 { static constexpr std::string_view value = "INT4_W4A16_ASYM_g128"; };
struct int8_w8a16_asym { static constexpr std::string_view value = "INT8_W8A16_ASYM"; };
struct int3_asym_g16 { static constexpr std::string_view value = "INT3_ASYM"; };
struct int2_asym_g16 { static constexpr std::string_view value = "INT2_ASYM"; };
}  // namespace names

using int4_w4a16_g128 = int_format<4, 128, true, int_scale_kind::bf16, names::int4_w4a16_g128>;
using int8_w8a16 = int_format<8, whole, true, int_scale_kind::bf16, names::int8_w8a16>;
using int3_g16 = int_format<3, 16, true, int_scale_kind::fp8_global, names::int3_g16>;
using int2_g16 = int_format<2, 16, true, int_scale_kind::fp8_global, names::int2_g16>;
using int4_w4a16_asym_g128 = int_format<4, 128, false, int_scale_kind::bf16, names::int4_w4a16_asym_g128>;
using int8_w8a16_asym = int_format<8, whole, false, int_scale_kind::bf16, names::int8_w8a16_asym>;
using int3_asym_g16 = int_format<3, 16, false, int_scale_kind::fp8_global, names::int3_asym_g16>;
using int2_asym_g16 = int_format<2, 16, false, int_scale_kind::fp8_global, names::int2_asym_g16>;

}  // namespace prismaquant::formats
