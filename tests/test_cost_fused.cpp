// The fused cost pass (cost/engine.hpp) against the scalar reference (cost/reference.hpp):
// every format, every input dtype (BF16, F16, F32, FP8 with 128x128 block multipliers),
// random weights of realistic scale and adversarial ones (zero blocks, lone outliers, tiny
// and subnormal values, constant rows, partial chunks and blocks). The element round trips are
// checked bit for bit in test_cost_simd.cpp; here the statistics are compared: sums within a
// relative 2e-6 (squared errors are summed in float over 4 elements per lane, then in double;
// the reference sums in double), max |error| within one float rounding.
#include <prismaquant/cost/engine.hpp>
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/formats/list.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;
namespace cost = prismaquant::cost;

template <class L> struct as_tuple;
template <class... F> struct as_tuple<fm::format_list<F...>> { using type = std::tuple<F...>; };
using all_tuple = as_tuple<fm::all_formats>::type;
using variants_tuple = as_tuple<fm::mx_rule_variants>::type;

namespace {

// Owns a weight in one dtype and hands out a formats::weight_view.
struct weight_store {
  pq::dtype type;
  std::int64_t rows, cols;
  std::vector<std::uint16_t> u16;
  std::vector<float> f32, scale_inv;
  std::vector<std::uint8_t> u8;
  std::string name;
  fm::weight_view view() const {
    switch (type) {
      case pq::dtype::BF16: return fm::weight_view::from_bytes(u16.data(), type, rows, cols, name);
      case pq::dtype::F16: return fm::weight_view::from_bytes(u16.data(), type, rows, cols, name);
      case pq::dtype::F8_E4M3: return fm::weight_view::from_bytes(u8.data(), type, rows, cols, name, scale_inv.data());
      default: return fm::weight_view::from_bytes(f32.data(), type, rows, cols, name);
    }
  }
};

enum class pattern { normal, adversarial };

weight_store make_weight(pq::dtype type, std::int64_t rows, std::int64_t cols, pattern p, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::uniform_int_distribution<int> pick(0, 99);
  std::vector<float> v(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      float x = nd(rng);
      if (p == pattern::adversarial) {
        const int k = pick(rng);
        if (i % 7 == 3) x = 0.0f;                                // zero rows
        else if (i % 7 == 5) x = 0.125f;                         // constant rows
        else if ((j / 16) % 5 == 2) x = 0.0f;                    // zero 16-blocks
        else if (k < 3) x *= 3000.0f;                            // lone outliers
        else if (k < 8) x *= 1e-30f;                             // tiny / f32-subnormal-ish
        else if (k < 10) x = (k & 1 ? -1.0f : 1.0f) * 0x1p-9f * static_cast<float>(pick(rng) % 16);
      } else if (pick(rng) == 0) {
        x *= 20.0f;  // realistic heavy tail
      }
      v[static_cast<std::size_t>(i * cols + j)] = x;
    }
  weight_store w{type, rows, cols, {}, {}, {}, {}, "w(" + std::string(pq::dtype_name(type)) + ")"};
  switch (type) {
    case pq::dtype::BF16:
      for (float x : v) w.u16.push_back(static_cast<std::uint16_t>(pq::bf16::from_float(x).bits()));
      break;
    case pq::dtype::F16:
      for (float x : v) w.u16.push_back(static_cast<std::uint16_t>(pq::fp16::from_float(x).bits()));
      break;
    case pq::dtype::F8_E4M3: {
      const std::int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
      w.scale_inv.assign(static_cast<std::size_t>(sr * sc), 0.0f);
      for (std::int64_t bi = 0; bi < sr; ++bi)
        for (std::int64_t bj = 0; bj < sc; ++bj) {
          float amax = 0.0f;
          for (std::int64_t i = bi * 128; i < std::min(rows, bi * 128 + 128); ++i)
            for (std::int64_t j = bj * 128; j < std::min(cols, bj * 128 + 128); ++j)
              amax = std::max(amax, std::fabs(v[static_cast<std::size_t>(i * cols + j)]));
          w.scale_inv[static_cast<std::size_t>(bi * sc + bj)] = amax > 0 ? amax / 448.0f : 1.0f;
        }
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j)
          w.u8.push_back(static_cast<std::uint8_t>(
              pq::fp8_e4m3::from_float(v[static_cast<std::size_t>(i * cols + j)] /
                                       w.scale_inv[static_cast<std::size_t>((i / 128) * sc + j / 128)])
                  .bits()));
      break;
    }
    default: w.f32 = v;
  }
  return w;
}

std::vector<float> make_act(std::int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 4.0f);
  std::vector<float> a(static_cast<std::size_t>(cols));
  for (auto& x : a) x = u(rng) * u(rng);
  return a;
}

void compare(const cost::format_cost& got, const cost::error_stats& ref, const std::string& what) {
  INFO(what << " format " << got.format);
  const double tol = 2e-6;
  CHECK(got.sse == Approx(ref.sum_sq).epsilon(tol).margin(1e-30));
  CHECK(got.act_sse == Approx(ref.weighted_sq).epsilon(tol).margin(1e-30));
  CHECK(static_cast<double>(got.max_abs) == Approx(ref.max_abs).epsilon(1e-7).margin(1e-38));
  REQUIRE(got.row_sse.size() == ref.row_sq.size());
  std::size_t bad = 0;
  for (std::size_t r = 0; r < ref.row_sq.size(); ++r)
    if (std::fabs(got.row_sse[r] - ref.row_sq[r]) > tol * std::fabs(ref.row_sq[r]) + 1e-30) ++bad;
  CHECK(bad == 0);
}

struct shape {
  std::int64_t rows, cols;
};
const shape shapes[] = {{37, 256}, {130, 384}, {5, 16}, {9, 8}, {3, 160}};
const pq::dtype dtypes[] = {pq::dtype::BF16, pq::dtype::F16, pq::dtype::F32, pq::dtype::F8_E4M3};

template <class F>
void check_against_reference() {
  using one = fm::format_list<F>;
  int cases = 0;
  unsigned seed = 1;
  for (auto sh : shapes) {
    bool legal = true;
    try {
      F::check_shape(sh.rows, sh.cols, "shape");
    } catch (const pq::error&) {
      legal = false;
    }
    if (!legal) continue;
    for (auto dt : dtypes)
      for (auto p : {pattern::normal, pattern::adversarial}) {
        const weight_store w = make_weight(dt, sh.rows, sh.cols, p, ++seed);
        const auto act = make_act(sh.cols, seed);
        const auto got = cost::evaluate<one, cost::all_stats>(w.view(), act.data());
        const auto ref = cost::reference_stats<F>(w.view(), act);
        compare(got.formats.at(0), ref,
                w.name + " " + std::to_string(sh.rows) + "x" + std::to_string(sh.cols) +
                    (p == pattern::normal ? " normal" : " adversarial"));
        ++cases;
      }
  }
  CHECK(cases >= 8);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("fused pass equals the scalar reference, one format", "[cost]", all_tuple) {
  check_against_reference<TestType>();
}

TEMPLATE_LIST_TEST_CASE("fused pass equals the scalar reference, MX rule variants", "[cost]", variants_tuple) {
  check_against_reference<TestType>();
}

TEST_CASE("all formats in one pass equal their references, for every dtype", "[cost]") {
  for (auto dt : dtypes)
    for (auto p : {pattern::normal, pattern::adversarial}) {
      const weight_store w = make_weight(dt, 136, 512, p, 77);
      const auto act = make_act(512, 78);
      const auto got = cost::evaluate<fm::all_formats, cost::all_stats>(w.view(), act.data());
      REQUIRE(got.formats.size() == fm::all_formats::size);
      std::size_t i = 0;
      fm::all_formats::for_each([&]<class F>() {
        compare(got.formats[i], cost::reference_stats<F>(w.view(), act), w.name + " all-formats");
        CHECK(got.formats[i].format == F::name);
        ++i;
      });
    }
}

TEST_CASE("FP8_SOURCE on an FP8 128x128 source is the identity; BF16 on a bf16 source too", "[cost]") {
  const weight_store w8 = make_weight(pq::dtype::F8_E4M3, 256, 256, pattern::normal, 5);
  const auto c8 = cost::evaluate<fm::format_list<fm::fp8_source>, cost::request<cost::stat::sse, cost::stat::max_abs>>(w8.view());
  CHECK(c8.formats[0].sse == 0.0);
  CHECK(c8.formats[0].max_abs == 0.0f);
  const weight_store wb = make_weight(pq::dtype::BF16, 64, 256, pattern::normal, 6);
  CHECK(cost::evaluate<fm::format_list<fm::bf16_passthrough>>(wb.view()).formats[0].sse == 0.0);
  const weight_store wf = make_weight(pq::dtype::F32, 64, 256, pattern::normal, 6);
  CHECK(cost::evaluate<fm::format_list<fm::bf16_passthrough>>(wf.view()).formats[0].sse > 0.0);
}

TEST_CASE("only the requested statistics are produced", "[cost]") {
  const weight_store w = make_weight(pq::dtype::BF16, 64, 256, pattern::normal, 9);
  const auto c = cost::evaluate<fm::format_list<fm::nvfp4>, cost::request<cost::stat::max_abs>>(w.view());
  CHECK(std::isnan(c.formats[0].sse));
  CHECK(std::isnan(c.formats[0].act_sse));
  CHECK(c.formats[0].row_sse.empty());
  CHECK(c.formats[0].max_abs > 0.0f);
}

TEST_CASE("results are bit-identical for any thread count and task size", "[cost]") {
  const weight_store w = make_weight(pq::dtype::BF16, 301, 768, pattern::normal, 11);
  const auto act = make_act(768, 12);
  using fmts = fm::format_list<fm::nvfp4, fm::mxfp8_e4m3, fm::fp8_source, fm::bf16_passthrough, fm::int4_w4a16_g128>;
  cost::thread_pool p1(1), p3(3);
  const auto a = cost::evaluate<fmts, cost::all_stats>(w.view(), act.data(), {&p1, 1});
  const auto b = cost::evaluate<fmts, cost::all_stats>(w.view(), act.data(), {&p3, 7});
  const auto c = cost::evaluate<fmts, cost::all_stats>(w.view(), act.data(), {&p3, 64});
  for (std::size_t i = 0; i < fmts::size; ++i) {
    CHECK(std::memcmp(&a.formats[i].sse, &b.formats[i].sse, sizeof(double)) == 0);
    CHECK(std::memcmp(&a.formats[i].sse, &c.formats[i].sse, sizeof(double)) == 0);
    CHECK(std::memcmp(&a.formats[i].act_sse, &c.formats[i].act_sse, sizeof(double)) == 0);
    CHECK(a.formats[i].row_sse == c.formats[i].row_sse);
    CHECK(a.formats[i].max_abs == c.formats[i].max_abs);
  }
}

TEST_CASE("fused siblings share the tensor stats they are given", "[cost]") {
  const weight_store w1 = make_weight(pq::dtype::BF16, 64, 256, pattern::normal, 21);
  const weight_store w3 = make_weight(pq::dtype::BF16, 64, 256, pattern::adversarial, 22);
  const auto group = fm::measure_group({w1.view(), w3.view()});
  const cost::job jobs[] = {{w1.view(), nullptr, group}, {w3.view(), nullptr, group}};
  const auto got = cost::evaluate<fm::format_list<fm::nvfp4>>(std::span<const cost::job>(jobs));
  CHECK(got[0].formats[0].sse == Approx(cost::reference_stats<fm::nvfp4>(w1.view(), group).sum_sq).epsilon(2e-6));
  CHECK(got[1].formats[0].sse == Approx(cost::reference_stats<fm::nvfp4>(w3.view(), group).sum_sq).epsilon(2e-6));
}

TEST_CASE("a job group shares the merge of its members' own stats, as measure_group gives", "[cost]") {
  const weight_store w1 = make_weight(pq::dtype::BF16, 64, 256, pattern::normal, 21);
  const weight_store w3 = make_weight(pq::dtype::BF16, 64, 256, pattern::adversarial, 22);
  const weight_store lone = make_weight(pq::dtype::BF16, 32, 256, pattern::normal, 23);
  const auto shared = fm::measure_group({w1.view(), w3.view()});
  REQUIRE(shared.amax != fm::measure(w1.view()).amax);  // the group changes w1's global scale
  using fmts = fm::format_list<fm::nvfp4, fm::mxfp4>;
  using req = cost::request<cost::stat::sse, cost::stat::row_sse, cost::stat::max_abs>;
  // groups interleaved with an ungrouped job and another group, in any order
  const cost::job grouped[] = {{w1.view(), nullptr, std::nullopt, 7},
                               {lone.view(), nullptr, std::nullopt, -1},
                               {w3.view(), nullptr, std::nullopt, 7},
                               {lone.view(), nullptr, std::nullopt, 2}};
  const cost::job given[] = {{w1.view(), nullptr, shared}, {lone.view(), nullptr, std::nullopt},
                             {w3.view(), nullptr, shared}, {lone.view(), nullptr, std::nullopt}};
  const auto a = cost::evaluate<fmts, req>(std::span<const cost::job>(grouped));
  const auto b = cost::evaluate<fmts, req>(std::span<const cost::job>(given));
  REQUIRE(a.size() == 4);
  for (std::size_t t = 0; t < 4; ++t)
    for (std::size_t i = 0; i < fmts::size; ++i) {
      CHECK(std::memcmp(&a[t].formats[i].sse, &b[t].formats[i].sse, sizeof(double)) == 0);
      CHECK(a[t].formats[i].row_sse == b[t].formats[i].row_sse);
      CHECK(a[t].formats[i].max_abs == b[t].formats[i].max_abs);
    }
  CHECK(a[0].formats[0].sse == Approx(cost::reference_stats<fm::nvfp4>(w1.view(), shared).sum_sq).epsilon(2e-6));
}

TEST_CASE("bad input gives a clear error naming the tensor", "[cost]") {
  weight_store w = make_weight(pq::dtype::F32, 4, 64, pattern::normal, 3);
  w.f32[70] = std::nanf("");
  w.name = "layers.0.w1";
  CHECK_THROWS_WITH((cost::evaluate<fm::format_list<fm::nvfp4>>(w.view())),
                    Catch::Contains("layers.0.w1") && Catch::Contains("NaN at [1, 6]"));
  const weight_store ok = make_weight(pq::dtype::F32, 4, 64, pattern::normal, 3);
  CHECK_THROWS_WITH((cost::evaluate<fm::format_list<fm::nvfp4>, cost::request<cost::stat::act_sse>>(ok.view())),
                    Catch::Contains("activation-weighted"));
  const weight_store odd = make_weight(pq::dtype::F32, 4, 40, pattern::normal, 3);
  CHECK_THROWS_WITH((cost::evaluate<fm::format_list<fm::mxfp4>>(odd.view())), Catch::Contains("MXFP4"));
}
