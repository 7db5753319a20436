// cost/reference.hpp: the scalar reference statistics equal the statistics of the
// materialised round trip decode(encode(w)), for every format, and an independent naive
// computation (plain loops over the decoded tensor, different summation order) within 1e-12.
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/formats/all.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <tuple>

namespace fm = prismaquant::formats;
namespace pq = prismaquant;

template <class L> struct as_tuple;
template <class... Fs> struct as_tuple<fm::format_list<Fs...>> { using type = std::tuple<Fs...>; };
using all_tuple = as_tuple<fm::all_formats>::type;

TEMPLATE_LIST_TEST_CASE("reference statistics equal the materialised round trip", "[cost][reference]", all_tuple) {
  using F = TestType;
  const std::int64_t r = 130, c = 256;
  std::mt19937 g(11);
  std::normal_distribution<float> n(0.0f, 0.02f);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  std::vector<float> w(static_cast<std::size_t>(r * c)), act(static_cast<std::size_t>(c));
  for (auto& x : w) x = n(g);
  w[77] = 0.9f;  // an outlier
  for (auto& a : act) a = u(g);
  const fm::weight_view v(w.data(), r, c, "w");
  const fm::tensor_stats t = fm::measure(v);

  const auto s = pq::cost::reference_stats<F>(v, t, act);
  const auto q = fm::decode<F>(fm::encode<F>(v, t));
  const auto m = pq::cost::stats_from_round_trip(v, q, act);
  CAPTURE(F::name);
  CHECK(s.sum_sq == m.sum_sq);
  CHECK(s.row_sq == m.row_sq);
  CHECK(s.has_weighted);
  CHECK(s.weighted_sq == m.weighted_sq);
  CHECK(s.max_abs == m.max_abs);

  // naive, column-major order, long double
  long double tot = 0, wt = 0, mx = 0;
  std::vector<long double> rows(static_cast<std::size_t>(r), 0);
  for (std::int64_t j = 0; j < c; ++j)
    for (std::int64_t i = 0; i < r; ++i) {
      const long double d = static_cast<long double>(w[static_cast<std::size_t>(i * c + j)]) - q[static_cast<std::size_t>(i * c + j)];
      tot += d * d;
      wt += act[static_cast<std::size_t>(j)] * d * d;
      rows[static_cast<std::size_t>(i)] += d * d;
      mx = std::max(mx, std::fabs(d));
    }
  CHECK(s.sum_sq == Approx(static_cast<double>(tot)).epsilon(1e-12));
  CHECK(s.weighted_sq == Approx(static_cast<double>(wt)).epsilon(1e-12));
  CHECK(s.max_abs == static_cast<double>(mx));
  for (std::int64_t i = 0; i < r; ++i) CHECK(s.row_sq[static_cast<std::size_t>(i)] == Approx(static_cast<double>(rows[static_cast<std::size_t>(i)])).epsilon(1e-12));
  CHECK(s.mse() == Approx(static_cast<double>(tot) / static_cast<double>(r * c)).epsilon(1e-12));
  // a lossy format has a nonzero error, BF16 of float32 data too
  CHECK(s.sum_sq > 0.0);
  // without activation weights: no weighted statistic
  CHECK_FALSE(pq::cost::reference_stats<F>(v, t).has_weighted);
  CHECK_THROWS_WITH(pq::cost::reference_stats<F>(v, t, std::span<const float>(act.data(), 5)), Catch::Contains("w"));
}

TEST_CASE("FP8_SOURCE passes an FP8 128x128 source through with zero error", "[cost][reference][fp8_source]") {
  const std::int64_t r = 200, c = 300;
  std::mt19937 g(5);
  std::uniform_int_distribution<int> code(0, 0xFE);
  std::vector<pq::fp8_e4m3> q(static_cast<std::size_t>(r * c));
  for (auto& x : q) {
    int b = code(g);
    if ((b & 0x7F) == 0x7F) b = 0;  // no NaN codes
    x = pq::fp8_e4m3::from_bits(static_cast<unsigned>(b));
  }
  std::vector<float> sinv{1e-3f, 2e-3f, 5e-4f, 1.5e-3f, 3e-3f, 7e-4f};  // [2, 3] blocks
  const fm::weight_view v(q.data(), sinv.data(), r, c, "src");
  const auto e = fm::encode<fm::fp8_source>(v);
  CHECK(e.at("weight").bytes.size() == static_cast<std::size_t>(r * c));
  CHECK(std::memcmp(e.at("weight").bytes.data(), q.data(), q.size()) == 0);
  CHECK(std::memcmp(e.at("weight_scale").bytes.data(), sinv.data(), 24) == 0);
  CHECK(e.at("weight_scale").shape == std::vector<std::int64_t>{2, 3});
  const auto s = pq::cost::reference_stats<fm::fp8_source>(v);
  CHECK(s.sum_sq == 0.0);
  CHECK(s.max_abs == 0.0);
  // dequantization is fp8 * scale_inv in float32
  const auto d = fm::decode<fm::fp8_source>(e);
  CHECK(d[static_cast<std::size_t>(150 * c + 250)] == q[static_cast<std::size_t>(150 * c + 250)].to_float() * sinv[4]);  // block (1, 1)
  // other formats read the same source as float32 values fp8 * scale_inv
  const auto sn = pq::cost::reference_stats<fm::fp8_e4m3_channel>(v);
  CHECK(sn.sum_sq > 0.0);
}
