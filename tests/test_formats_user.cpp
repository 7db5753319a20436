// A format defined entirely in user code — no library file touched — works with every generic
// entry point: the concept, encode/decode, round_trip, the reference statistics and a
// type-erased registry entry. (docs/formats.md walks through the same steps.)
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/formats/all.hpp>

#include <catch2/catch.hpp>

#include <random>

namespace fm = prismaquant::formats;
namespace pq = prismaquant;

namespace user {

// TERNARY_g64: blocks of 64 along `in`; codes {-1, 0, +1} as 2-bit fields (0, 1, 2 = -1, 0, +1)
// in a byte stream; one F16 scale per block = amax_b rounded to fp16. |x| >= scale/2 -> ±1.
struct ternary_g64 {
  static constexpr std::string_view name = "TERNARY_g64";
  static constexpr std::int64_t block_rows = 1, block_cols = 64;
  static constexpr int element_bits = 2;
  using code_type = std::uint8_t;
  struct tensor_params {};
  struct block_params {
    float scale = 0.0f;
  };

  static constexpr tensor_params prepare(fm::tensor_stats) { return {}; }
  static constexpr block_params block_scale(const tensor_params&, fm::block_range r) {
    return {pq::fp16::from_float(r.amax()).to_float()};
  }
  static constexpr code_type quantize(const block_params& b, float x) {
    if (b.scale == 0.0f) return 1;
    return x >= b.scale / 2 ? 2 : x <= -b.scale / 2 ? 0 : 1;
  }
  static constexpr float dequantize(const block_params& b, code_type q) {
    return (static_cast<float>(q) - 1.0f) * b.scale;
  }
  static constexpr std::uint64_t storage_bytes(std::int64_t r, std::int64_t c) {
    return static_cast<std::uint64_t>(r) * static_cast<std::uint64_t>((c * 2 + 7) / 8 + 2 * fm::block_count(64, c));
  }
  static void check_shape(std::int64_t r, std::int64_t c, std::string_view where) {
    if (r <= 0 || c <= 0 || c % 64 != 0) throw pq::error(std::string(where), "TERNARY_g64 needs in % 64 == 0");
  }
  static std::vector<fm::tensor_spec> layout(std::int64_t r, std::int64_t c, const tensor_params&) {
    return {{"weight_packed", pq::dtype::U8, {r, (c * 2 + 7) / 8}}, {"weight_scale", pq::dtype::F16, {r, c / 64}}};
  }
  static void store_tensor(fm::encoded_weight&, const tensor_params&) {}
  static void store_block(fm::encoded_weight& e, std::int64_t bi, std::int64_t bj, const block_params& b) {
    e.tensors[1].put<std::uint16_t>(static_cast<std::uint64_t>(bi * (e.cols / 64) + bj),
                                    static_cast<std::uint16_t>(pq::fp16::from_float(b.scale).bits()));
  }
  static void store_code(fm::encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    e.tensors[0].put_bits(static_cast<std::uint64_t>(i * ((e.cols * 2 + 7) / 8) * 8 + j * 2), 2, q);
  }
  static tensor_params load_tensor(const fm::encoded_weight&) { return {}; }
  static block_params load_block(const fm::encoded_weight& e, std::int64_t bi, std::int64_t bj, const tensor_params&) {
    return {pq::fp16::from_bits(e.tensors[1].get<std::uint16_t>(static_cast<std::uint64_t>(bi * (e.cols / 64) + bj))).to_float()};
  }
  static code_type load_code(const fm::encoded_weight& e, std::int64_t i, std::int64_t j) {
    return static_cast<code_type>(e.tensors[0].get_bits(static_cast<std::uint64_t>(i * ((e.cols * 2 + 7) / 8) * 8 + j * 2), 2));
  }
};

}  // namespace user

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
  CHECK(entry.encode(v, fm::measure(v)) == e);
  CHECK_THROWS_WITH(entry.check_shape(4, 100, "user.w"), Catch::Contains("user.w"));
}
