// Laws every format must keep, typed over the whole built-in list (and the MX rule variants):
//   storage_bytes(shape) == the bytes of the encoded tensors, for many shapes incl. edge blocks;
//   the encoded tensors have exactly the layout's names, dtypes and shapes;
//   decode(encode(w)) is a fixed point: encode(decode(encode(w, t)), t) == encode(w, t) bytewise
//     (t = the tensor stats of w), and decode(encode(ŵ)) == ŵ for ŵ = decode(encode(w));
//   representable values round-trip exactly (ŵ above, and values built from random codes);
//   round_trip<F>(w) == decode(encode(w)); bf16/fp16 inputs equal their float32 values;
//   NaN/Inf are rejected naming the tensor; tensors of the wrong dtype/shape fail to decode.
#include <prismaquant/formats/all.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <algorithm>
#include <random>
#include <set>
#include <bit>
#include <tuple>

namespace fm = prismaquant::formats;
namespace pq = prismaquant;

template <class L> struct as_tuple;
template <class... Fs> struct as_tuple<fm::format_list<Fs...>> { using type = std::tuple<Fs...>; };
using all_tuple = as_tuple<fm::concat_lists<fm::all_formats, fm::mx_rule_variants>::type>::type;

namespace {

// Realistic weights (normal, scale 0.02) with outliers, exact zeros, ties and a zero block.
std::vector<float> make_weight(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 0.02f);
  std::uniform_int_distribution<int> pick(0, 99);
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (auto& x : w) {
    const int p = pick(g);
    x = p < 2 ? n(g) * 40.0f : p < 4 ? 0.0f : p < 5 ? -0.0f : n(g);
  }
  // an all-zero run at the start of row 0 (a zero block in every group format)
  for (std::int64_t j = 0; j < std::min<std::int64_t>(cols, 32); ++j) w[static_cast<std::size_t>(j)] = 0.0f;
  return w;
}

// Shapes legal for F: some with partial edge blocks where the format allows them.
template <class F>
std::vector<std::pair<std::int64_t, std::int64_t>> shapes() {
  std::vector<std::pair<std::int64_t, std::int64_t>> cand{{1, 16},  {3, 32},   {8, 64},   {5, 128}, {17, 256},
                                                          {130, 160}, {2, 8},  {7, 12},   {33, 96}, {4, 384},
                                                          {129, 130}, {1, 2},  {9, 1000}, {6, 31}};
  std::vector<std::pair<std::int64_t, std::int64_t>> ok;
  for (auto [r, c] : cand) {
    try {
      F::check_shape(r, c, "w");
      ok.push_back({r, c});
    } catch (const pq::error&) {
    }
  }
  return ok;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("storage bytes equal the encoded tensors and the layout", "[formats][laws]", all_tuple) {
  using F = TestType;
  for (auto [r, c] : shapes<F>()) {
    CAPTURE(F::name, r, c);
    const auto w = make_weight(r, c, static_cast<std::uint32_t>(r * 1000 + c));
    const fm::weight_view v(w.data(), r, c, "w");
    const fm::encoded_weight e = fm::encode<F>(v);
    if constexpr (requires { F::storage_bytes(r, c, pq::dtype::F32); })
      CHECK(e.total_bytes() == F::storage_bytes(r, c, pq::dtype::F32));  // scale dtype follows the source
    else
      CHECK(e.total_bytes() == F::storage_bytes(r, c));
    const auto specs = F::layout(r, c, F::prepare(fm::measure(v)));
    REQUIRE(specs.size() == e.tensors.size());
    for (std::size_t k = 0; k < specs.size(); ++k) {
      CHECK(e.tensors[k].suffix == specs[k].suffix);
      CHECK(e.tensors[k].type == specs[k].type);
      CHECK(e.tensors[k].shape == specs[k].shape);
      CHECK(e.tensors[k].bytes.size() == fm::dtype_bytes(specs[k].type, e.tensors[k].numel()));
    }
  }
  // at least one shape per format, and the big realistic one
  CHECK(!shapes<F>().empty());
  CHECK(F::storage_bytes(1536, 3072) > 0);
}

// Where the law is only approximate, and why (docs/formats.md, "Laws"):
//  - MX with the RCEIL / CT scale rules: re-encoding the decoded block can pick the next lower
//    shared exponent (the rounded block max falls exactly on the smaller scale's grid); the
//    VALUES are a fixed point, the stored exponent is not (CT rule: values too, rarely, move:
//    a block max rounded up to 1.75*2^k re-encodes under the lower exponent).
//  - INT3/INT2 (fp8 block scales) and the asymmetric INT formats: a coarsely rounded scale
//    (fp8 subnormal scales; bf16/fp8 scale rounding against a zero point) can move the block
//    extremes off qmin/qmax, so a few blocks re-encode with another scale.
template <class F>
constexpr bool bytes_fixed_point() {
  if constexpr (requires { F::rule; }) return F::rule == fm::mx_scale_rule::ocp_floor;
  if constexpr (requires { F::symmetric; }) return F::symmetric && !F::global;
  return true;
}
template <class F>
constexpr bool values_fixed_point() {
  if constexpr (requires { F::rule; }) return F::rule != fm::mx_scale_rule::ct;
  if constexpr (requires { F::symmetric; }) return F::symmetric && !F::global;
  return true;
}

std::size_t count_differences(const std::vector<float>& a, const std::vector<float>& b) {  // bitwise
  std::size_t n = 0;
  for (std::size_t k = 0; k < a.size(); ++k) n += std::bit_cast<std::uint32_t>(a[k]) != std::bit_cast<std::uint32_t>(b[k]);
  return n;
}
std::size_t count_value_differences(const std::vector<float>& a, const std::vector<float>& b) {  // -0 == +0
  std::size_t n = 0;
  for (std::size_t k = 0; k < a.size(); ++k) n += !(a[k] == b[k]);
  return n;
}
// CT's fp4 packer writes -0.0 as 0x0 while a negative value that rounds to zero is 0x8 (which
// decodes to -0.0): so for fp4 formats the bytes law holds up to those signed-zero nibbles.
template <class F>
fm::encoded_weight without_negative_zero_nibbles(fm::encoded_weight e) {
  if constexpr (F::element_bits == 4)
    for (auto& b : e.tensors[0].bytes) {
      if ((b & 0x0F) == 0x08) b = static_cast<std::uint8_t>(b & 0xF0);
      if ((b & 0xF0) == 0x80) b = static_cast<std::uint8_t>(b & 0x0F);
    }
  return e;
}

TEMPLATE_LIST_TEST_CASE("decode(encode(w)) is a fixed point", "[formats][laws]", all_tuple) {
  using F = TestType;
  std::size_t elements = 0, value_diffs = 0;
  for (auto [r, c] : shapes<F>()) {
    for (std::uint32_t seed : {1u, 2u, 3u}) {
      CAPTURE(F::name, r, c, seed);
      const auto w = make_weight(r, c, seed * 7919u + static_cast<std::uint32_t>(r * c));
      const fm::weight_view v(w.data(), r, c, "w");
      const fm::tensor_stats t = fm::measure(v);
      const fm::encoded_weight e = fm::encode<F>(v, t);
      const std::vector<float> q = fm::decode<F>(e);
      // round_trip (no tensors built) agrees with decode(encode) bit for bit
      REQUIRE(count_differences(fm::round_trip<F>(v, t), q) == 0);
      // fixed point with the same tensor-level stats (they are an input: siblings share them)
      const fm::weight_view qv(q.data(), r, c, "q");
      const fm::encoded_weight e2 = fm::encode<F>(qv, t);
      if constexpr (bytes_fixed_point<F>())
        CHECK(without_negative_zero_nibbles<F>(e2) == without_negative_zero_nibbles<F>(e));
      const std::size_t d = count_value_differences(fm::decode<F>(e2), q);
      if constexpr (values_fixed_point<F>()) CHECK(d == 0);
      elements += q.size();
      value_diffs += d;
      // where values move, re-quantizing costs no more than quantizing did
      const std::vector<float> q2 = fm::decode<F>(e2);
      double e_first = 0, e_second = 0;
      for (std::size_t k = 0; k < q.size(); ++k) {
        e_first += (double(w[k]) - q[k]) * (double(w[k]) - q[k]);
        e_second += (double(q2[k]) - q[k]) * (double(q2[k]) - q[k]);
      }
      CHECK(e_second <= e_first);
    }
  }
  // the approximate cases stay rare on realistic weights (asymmetric INT: a moved block
  // extreme shifts its whole block, a whole row for per-channel INT8 — see the comment above)
  CAPTURE(F::name, value_diffs, elements);
  if constexpr (requires { F::symmetric; }) {
    if constexpr (!F::symmetric) CHECK(value_diffs * 4 <= elements);
    else CHECK(value_diffs * 50 <= elements);
  } else {
    CHECK(value_diffs * 50 <= elements);
  }
}

TEMPLATE_LIST_TEST_CASE("representable values round-trip exactly", "[formats][laws]", all_tuple) {
  using F = TestType;
  // Values k * step on each block's own grid: encode a weight, then set every element code to
  // a random code no larger in magnitude than the block's largest code, keeping the largest
  // one in place, and decode. Every value is representable under the same block params, so
  // round_trip must return it unchanged.
  const std::int64_t r = 16, c = 256;
  const auto w = make_weight(r, c, 42);
  const fm::weight_view v(w.data(), r, c, "w");
  const fm::tensor_stats t = fm::measure(v);
  const auto tp = F::prepare(t);
  std::mt19937 g(7);
  std::size_t checked = 0, diffs = 0;
  fm::for_each_block<F>(v, tp, [&](std::int64_t, std::int64_t, std::int64_t i0, std::int64_t i1, std::int64_t j0,
                                   std::int64_t j1, const float* band, const typename F::block_params& bp) {
    // the codes of this block's elements and their values
    std::vector<typename F::code_type> codes;
    std::vector<float> vals;
    for (std::int64_t i = i0; i < i1; ++i)
      for (std::int64_t j = j0; j < j1; ++j) {
        codes.push_back(F::quantize(bp, band[(i - i0) * c + j]));
        vals.push_back(F::dequantize(bp, codes.back()));
      }
    // shuffle the block's own representable values (keeps its extremes, so its params)
    std::shuffle(vals.begin(), vals.end(), g);
    for (float x : vals) {
      ++checked;
      diffs += fm::round_trip<F>(bp, x) != x;
    }
  });
  CAPTURE(F::name);
  CHECK(checked == static_cast<std::size_t>(r * c));
  CHECK(diffs == 0);
  // and every finite code's value is a fixed point of its block params
  fm::for_each_block<F>(v, tp, [&](std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                   const float*, const typename F::block_params& bp) {
    for (unsigned code = 0; code < (1u << std::min(F::element_bits, 16)); ++code) {
      const float x = F::dequantize(bp, static_cast<typename F::code_type>(code));
      if (!std::isfinite(x)) continue;
      const float y = fm::round_trip<F>(bp, x);
      if (y != x) {
        CAPTURE(F::name, code, x, y);
        FAIL_CHECK("representable value moved");
        return;
      }
    }
  });
}

TEMPLATE_LIST_TEST_CASE("bf16 and fp16 inputs are converted exactly", "[formats][laws]", all_tuple) {
  using F = TestType;
  const std::int64_t r = 8, c = 128;
  const auto w = make_weight(r, c, 5);
  std::vector<pq::bf16> b(w.size());
  std::vector<pq::fp16> h(w.size());
  std::vector<float> fb(w.size()), fh(w.size());
  for (std::size_t k = 0; k < w.size(); ++k) {
    b[k] = pq::bf16::from_float(w[k]);
    h[k] = pq::fp16::from_float(w[k]);
    fb[k] = b[k].to_float();
    fh[k] = h[k].to_float();
  }
  const fm::weight_view vb(b.data(), r, c, "wb"), vh(h.data(), r, c, "wh");
  fm::tensor_stats tb = fm::measure(fm::weight_view(fb.data(), r, c)), th = fm::measure(fm::weight_view(fh.data(), r, c));
  tb.source = pq::dtype::BF16;
  th.source = pq::dtype::F16;
  CHECK(fm::measure(vb).amax == tb.amax);
  CHECK(fm::measure(vb).source == pq::dtype::BF16);
  CHECK(fm::encode<F>(vb) == fm::encode<F>(fm::weight_view(fb.data(), r, c), tb));
  CHECK(fm::encode<F>(vh) == fm::encode<F>(fm::weight_view(fh.data(), r, c), th));
}

TEMPLATE_LIST_TEST_CASE("NaN and Inf weights are rejected naming the tensor", "[formats][laws]", all_tuple) {
  using F = TestType;
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    auto w = make_weight(4, 64, 9);
    w[70] = bad;
    const fm::weight_view v(w.data(), 4, 64, "model.layers.0.mlp.down_proj.weight");
    CHECK_THROWS_WITH(fm::encode<F>(v), Catch::Contains("model.layers.0.mlp.down_proj.weight") && Catch::Contains("[1, 6]"));
    CHECK_THROWS_AS(fm::round_trip<F>(v, fm::tensor_stats{1.0f}), pq::error);
  }
}

TEMPLATE_LIST_TEST_CASE("malformed tensors fail to decode with a clear error", "[formats][laws]", all_tuple) {
  using F = TestType;
  const auto w = make_weight(4, 64, 11);
  const fm::encoded_weight e = fm::encode<F>(fm::weight_view(w.data(), 4, 64, "w"));
  auto bad = e;
  bad.tensors.back().shape.push_back(1);
  CHECK_THROWS_WITH(fm::decode<F>(bad, "layer.x"), Catch::Contains("layer.x"));
  auto bad2 = e;
  bad2.tensors.front().type = bad2.tensors.front().type == pq::dtype::I64 ? pq::dtype::F64 : pq::dtype::I64;
  CHECK_THROWS_AS(fm::decode<F>(bad2, "layer.x"), pq::error);
  auto bad3 = e;
  bad3.tensors.pop_back();
  CHECK_THROWS_AS(fm::decode<F>(bad3, "layer.x"), pq::error);
}

TEST_CASE("the registry knows every canonical name once", "[formats][registry]") {
  const char* names[] = {"NVFP4",      "NVFP4A16",        "MXFP4",      "MXFP6_E2M3",      "MXFP6_E3M2",
                         "MXFP8_E4M3", "MXFP8_E5M2",      "FP8_E4M3",   "FP8_E4M3_TENSOR", "FP8_SOURCE",
                         "INT4_W4A16_g128", "INT8_W8A16", "INT3",       "INT2",            "INT4_W4A16_ASYM_g128",
                         "INT8_W8A16_ASYM", "INT3_ASYM",  "INT2_ASYM",  "BF16",            "MXFP4_RCEIL",
                         "MXFP4_CT",   "MXFP8_E4M3_CT"};
  for (const char* n : names) CHECK(fm::find(n).name == n);
  std::set<std::string_view> seen;
  for (const auto& f : fm::registry()) CHECK(seen.insert(f.name).second);
  CHECK_THROWS_WITH(fm::find("NVFP5"), Catch::Contains("unknown format \"NVFP5\"") && Catch::Contains("MXFP8_E4M3"));
  // type-erased entry points agree with the typed ones
  const auto w = make_weight(8, 64, 3);
  const fm::weight_view v(w.data(), 8, 64, "w");
  CHECK(fm::find("NVFP4").encode(v, fm::measure(v)) == fm::encode<fm::nvfp4>(v));
  CHECK(fm::find("INT3").storage_bytes(8, 64) == fm::int3_g16::storage_bytes(8, 64));
  CHECK(fm::find("BF16").bits_per_param(8, 64) == 16.0);
}

TEST_CASE("fused siblings share one NVFP4 global scale", "[formats][nvfp4]") {
  auto a = make_weight(16, 64, 1), b = make_weight(16, 64, 2);
  b[5] = 3.0f;  // b has the larger amax
  const fm::weight_view va(a.data(), 16, 64, "w1"), vb(b.data(), 16, 64, "w3");
  const fm::tensor_stats g = fm::measure_group({va, vb});
  CHECK(g.amax == std::max(fm::measure(va).amax, fm::measure(vb).amax));
  CHECK(g.amax == 3.0f);
  const auto ea = fm::encode<fm::nvfp4>(va, g), eb = fm::encode<fm::nvfp4>(vb, g);
  CHECK(ea.at("weight_global_scale").get<float>(0) == (1.0f / 3.0f) * 2688.0f  /* CT: reciprocal, then multiply */);
  CHECK(ea.at("weight_global_scale").bytes == eb.at("weight_global_scale").bytes);
  const auto both = fm::encode_group<fm::nvfp4>({va, vb});
  CHECK(both[0] == ea);
  CHECK(both[1] == eb);
  // alone, w1 would get its own, larger global scale
  CHECK(fm::encode<fm::nvfp4>(va).at("weight_global_scale").get<float>(0) > 2688.0f / 3.0f);
}
