// INT formats against the real compressed-tensors packer (golden: tests/golden/ct_int, made by
// python/golden/make_ct_int_golden.py with llm-compressor's model_free_ptq, CT 0.19):
// prismaquant decodes CT's `pack-quantized` tensors (weight_packed I32 via pack_to_int32,
// BF16 weight_scale, weight_shape, zero points packed along dim 0) to exactly CT's own
// dequantization, and its encoder writes the same tensor names, dtypes and shapes.
// (Scale recipes differ on purpose: prismaquant's symmetric scale is amax/qmax — docs/formats.md.)
#include <prismaquant/formats/all.hpp>
#include <prismaquant/io/safetensors.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

namespace fm = prismaquant::formats;
namespace pq = prismaquant;
namespace fs = std::filesystem;

namespace {
struct w4_name { static constexpr std::string_view value = "CT_W4A16"; };
struct w4a_name { static constexpr std::string_view value = "CT_W4A16_ASYM"; };
struct w8_name { static constexpr std::string_view value = "CT_W8A16_g128"; };
using ct_w4a16 = fm::int_format<4, 128, true, fm::int_scale_kind::bf16, w4_name>;
using ct_w4a16_asym = fm::int_format<4, 128, false, fm::int_scale_kind::bf16, w4a_name>;
using ct_w8a16 = fm::int_format<8, 128, true, fm::int_scale_kind::bf16, w8_name>;

const fs::path root = fs::path(PQ_SOURCE_DIR) / "tests" / "golden" / "ct_int";

template <class F>
void check_scheme(const std::string& scheme) {
  pq::safetensors_file in(root / "input.safetensors");
  pq::safetensors_file out(root / scheme / "output.safetensors");
  int modules = 0;
  for (const auto& t : in.tensors()) {
    const std::string name(t.name);
    const std::string m = name.substr(0, name.size() - 7);  // strip ".weight"
    const auto rows = static_cast<std::int64_t>(t.shape[0]), cols = static_cast<std::int64_t>(t.shape[1]);
    CAPTURE(scheme, name);
    // our tensors, in our layout order, filled from CT's file
    const auto specs = F::layout(rows, cols, {});
    fm::encoded_weight e;
    e.rows = rows;
    e.cols = cols;
    for (const auto& s : specs) {
      REQUIRE(out.contains(m + "." + s.suffix));
      const auto r = out.at(m + "." + s.suffix);
      fm::encoded_tensor et{s.suffix, r.type, std::vector<std::int64_t>(r.shape.begin(), r.shape.end()), {}};
      et.bytes.resize(r.bytes.size());
      std::memcpy(et.bytes.data(), r.bytes.data(), r.bytes.size());
      e.tensors.push_back(std::move(et));
    }
    // no CT tensor we do not know about (besides the reference's own .dequant)
    int ct_tensors = 0;
    for (const auto& n : out.names())
      if (n.rfind(m + ".", 0) == 0 && n != m + ".dequant") ++ct_tensors;
    CHECK(ct_tensors == static_cast<int>(specs.size()));
    // decode == CT's dequantization, exactly (check_layout inside decode checks dtypes/shapes)
    const std::vector<float> ours = fm::decode<F>(e, name);
    const std::vector<float> ref = out.at(m + ".dequant").to_vector<float>();
    REQUIRE(ref.size() == ours.size());
    std::size_t diff = 0;
    for (std::size_t k = 0; k < ref.size(); ++k) diff += ref[k] != ours[k];
    CHECK(diff == 0);
    // our encoder writes the same names, dtypes, shapes, and weight_shape bytes
    const fm::weight_view v = fm::weight_view::from_bytes(t.bytes.data(), t.type, rows, cols, name);
    const fm::encoded_weight mine = fm::encode<F>(v);
    REQUIRE(mine.tensors.size() == e.tensors.size());
    for (std::size_t k = 0; k < e.tensors.size(); ++k) {
      CHECK(mine.tensors[k].suffix == e.tensors[k].suffix);
      CHECK(mine.tensors[k].type == e.tensors[k].type);
      CHECK(mine.tensors[k].shape == e.tensors[k].shape);
    }
    CHECK(mine.at("weight_shape").bytes == e.at("weight_shape").bytes);
    // re-packing CT's codes with our packer gives CT's bytes
    fm::encoded_weight repacked = fm::encoded_weight::allocate(rows, cols, specs);
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j) F::store_code(repacked, i, j, F::load_code(e, i, j));
    CHECK(repacked.tensors[0].bytes == e.tensors[0].bytes);
    ++modules;
  }
  CHECK(modules == 4);
}
}  // namespace

TEST_CASE("CT W4A16 (int4 g128 symmetric) tensors decode exactly", "[formats][int][ct]") { check_scheme<ct_w4a16>("W4A16"); }
TEST_CASE("CT W4A16_ASYM tensors decode exactly", "[formats][int][ct]") { check_scheme<ct_w4a16_asym>("W4A16_ASYM"); }
TEST_CASE("CT W8A16 (int8 g128) tensors decode exactly", "[formats][int][ct]") { check_scheme<ct_w8a16>("W8A16"); }
