// A format defined entirely in user code — no library file touched (examples/ternary_g64.hpp,
// which examples/06 also runs through the whole pipeline) — works with every generic entry
// point: the concept, encode/decode, round_trip, the reference statistics and a type-erased
// registry entry with the format's facts. (docs/formats.md walks through the same steps.)
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/formats/all.hpp>

#include <catch2/catch.hpp>

#include "../examples/ternary_g64.hpp"

#include <random>

namespace fm = prismaquant::formats;
namespace pq = prismaquant;


static_assert(fm::format<user::ternary_g64>);
static_assert(fm::scalar_format<user::ternary_g64>);
static_assert(fm::check_format<user::ternary_g64>());
static_assert(!fm::format<int>);

TEST_CASE("a user-defined format works with the generic drivers", "[formats][user]") {
  using F = user::ternary_g64;
  const std::int64_t r = 6, c = 192;
  std::mt19937 g(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> w(static_cast<std::size_t>(r * c));
  for (auto& x : w) x = n(g);
  const fm::weight_view v(w.data(), r, c, "user.w");

  const fm::encoded_weight e = fm::encode<F>(v);
  CHECK(e.total_bytes() == F::storage_bytes(r, c));
  CHECK(e.at("weight_scale").type == pq::dtype::F16);
  const std::vector<float> q = fm::decode<F>(e);

  // independent check of one element against the definition
  float amax0 = 0;
  for (int j = 0; j < 64; ++j) amax0 = std::max(amax0, std::fabs(w[static_cast<std::size_t>(j)]));
  const float s0 = pq::fp16::from_float(amax0).to_float();
  for (int j = 0; j < 64; ++j) {
    const float x = w[static_cast<std::size_t>(j)];
    const float expect = std::fabs(x) >= s0 / 2 ? std::copysign(s0, x) : 0.0f;
    CHECK(q[static_cast<std::size_t>(j)] == expect);
  }
  // law: a fixed point
  CHECK(fm::encode<F>(fm::weight_view(q.data(), r, c)) == e);
  // reference statistics
  const auto st = pq::cost::reference_stats<F>(v);
  const auto st2 = pq::cost::stats_from_round_trip(v, q);
  CHECK(st.sum_sq == st2.sum_sq);
  CHECK(st.max_abs == st2.max_abs);
  // type-erased, like a registry entry
  const fm::format_entry entry = fm::make_entry<F>(false);
  CHECK(entry.name == "TERNARY_g64");
  CHECK(entry.element_bits == 2);
  CHECK(entry.data_type == "ternary");
  CHECK(entry.group_size() == 64);
  CHECK(entry.allows(fm::source_format::bf16));
  CHECK(entry.encode(v, fm::measure(v)) == e);
  CHECK_THROWS_WITH(entry.check_shape(4, 100, "user.w"), Catch::Contains("user.w"));
}

// How an export stores each format is the format's own fact (formats/ct_preset.hpp): the
// built-ins with a compressed-tensors scheme, and a user format that declares one.
namespace user {
struct ternary_ct : ternary_g64 {
  static constexpr std::string_view name = "TERNARY_CT";
  static constexpr fm::ct_preset compressed_tensors = [] {
    fm::ct_preset p;
    p.group = "TERNARY", p.encoder = "TERNARY_CT", p.format = "ternary-pack-quantized";
    p.weights.bits = 2, p.weights.strategy = "group", p.weights.group_size = 64;
    return p;
  }();
};
}  // namespace user

TEST_CASE("compressed-tensors presets: read through the registry, user formats included", "[formats][export]") {
  std::vector<std::string> exportable;
  for (const auto& e : fm::registry())
    if (e.compressed_tensors) {
      exportable.emplace_back(e.name);
      // The encoder that writes it is a registry format with the same element bits and bytes.
      const auto& enc = fm::find(e.compressed_tensors->encoder);
      CHECK(enc.element_bits == e.element_bits);
      CHECK(enc.storage_bytes(256, 512) == e.storage_bytes(256, 512));
    }
  CHECK(exportable == std::vector<std::string>{"NVFP4", "NVFP4A16", "MXFP4", "MXFP8_E4M3", "FP8_E4M3", "FP8_SOURCE", "BF16",
                                               "MXFP4_CT", "MXFP8_E4M3_CT"});
  // NVFP4's weight-only form is NVFP4A16, 4 bytes smaller (no input_global_scale).
  const auto& nv = *fm::find("NVFP4").compressed_tensors;
  CHECK(nv.weight_only_encoder == "NVFP4A16");
  CHECK(fm::find("NVFP4").storage_bytes(256, 512) == fm::find("NVFP4A16").storage_bytes(256, 512) + 4);
  CHECK(fm::find("MXFP4").compressed_tensors == fm::find("MXFP4_CT").compressed_tensors);
  CHECK(fm::find("MXFP4_RCEIL").compressed_tensors == nullptr);
  CHECK(fm::find("INT4_W4A16_g128").compressed_tensors == nullptr);

  static_assert(fm::ct_preset_of<user::ternary_ct>::value == &user::ternary_ct::compressed_tensors);
  static_assert(fm::ct_preset_of<user::ternary_g64>::value == nullptr);
  const auto mine = fm::entries_of<fm::format_list<user::ternary_ct>>();
  REQUIRE(mine[0].compressed_tensors != nullptr);
  CHECK(mine[0].compressed_tensors->format == "ternary-pack-quantized");
}

TEST_CASE("a format by its type, a list by its names", "[formats]") {
  CHECK(&fm::entry_of<fm::nvfp4>() == &fm::find("NVFP4"));
  CHECK(&fm::entry_of<fm::mxfp4_ct>() == &fm::find("MXFP4_CT"));
  CHECK(&fm::entry_of<fm::fp8_e4m3_tensor>() == &fm::find("FP8_E4M3_TENSOR"));
  CHECK(fm::names_of<fm::seed_formats>() == std::vector<std::string>{"NVFP4", "MXFP8_E4M3", "FP8_SOURCE", "BF16"});
  CHECK(fm::names_of<fm::pipeline_formats>() ==
        std::vector<std::string>{"NVFP4", "MXFP4", "MXFP8_E4M3", "FP8_E4M3", "FP8_SOURCE", "BF16"});
  // A user format is not in the built-in registry: entry_of says so (make_entry<F>() builds its entry).
  CHECK_THROWS_WITH(fm::entry_of<user::ternary_g64>(), Catch::Contains("unknown format \"TERNARY_g64\""));
}
