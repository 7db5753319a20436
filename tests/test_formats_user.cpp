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
