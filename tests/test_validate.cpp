// Validation building blocks: Pearson and Spearman against scipy.stats' values (ties given their
// average rank), the scatter SVG, and the cached evaluator against engine::evaluate — bit for
// bit on the source, with one layer changed, and with experts masked.
#include <catch2/catch.hpp>

#include <prismaquant/engine/cached_eval.hpp>
#include <prismaquant/engine/scaled_error_weights.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/validate/correlation.hpp>
#include <prismaquant/validate/scatter_svg.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace pq = prismaquant;
namespace pv = prismaquant::validate;
namespace fs = std::filesystem;

TEST_CASE("correlation: Pearson and Spearman as scipy.stats computes them") {
  // scipy.stats.spearmanr([1,2,3,4,5], [5,6,7,8,7]) = 0.8207826816681233 (its documented example:
  // the two 7s tie and share rank 3.5); pearsonr of the same = 0.8320502943378437.
  const std::vector<double> x{1, 2, 3, 4, 5}, y{5, 6, 7, 8, 7};
  CHECK(pv::spearman(x, y) == Approx(0.8207826816681233).epsilon(1e-14));
  CHECK(pv::pearson(x, y) == Approx(0.8320502943378437).epsilon(1e-14));
  CHECK(pv::average_ranks(y) == std::vector<double>{1, 2, 3.5, 5, 3.5});
  // Monotone but not linear: ρ = 1, r < 1; reversed: ρ = −1.
  const std::vector<double> e{1, 10, 100, 1000, 10000};
  CHECK(pv::spearman(x, e) == Approx(1.0));
  CHECK(pv::pearson(x, e) < 0.9);
  CHECK(pv::spearman(x, std::vector<double>{5, 4, 3, 2, 1}) == Approx(-1.0));
  // A constant series has no correlation (NaN, as scipy), and lengths must match.
  CHECK(std::isnan(pv::spearman(x, std::vector<double>(5, 2.0))));
  CHECK_THROWS(pv::pearson(x, std::vector<double>{1, 2}));
}

TEST_CASE("scatter SVG: one marker per point, non-positive values on a log axis drawn hollow") {
  pv::scatter_plot p{"t <&>", "x", "y", true, true, false, {}};
  p.series.push_back({"a", {1e-3, 1e-2, 1e-1}, {2e-3, -1.0, 3e-1}});
  p.series.push_back({"b", {1.0}, {1.0}});
  const auto svg = pv::scatter_svg(p);
  int circles = 0;
  for (auto at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  CHECK(circles == 4 + 2);  // points + legend markers
  CHECK(svg.find("hollow: 1 points") != std::string::npos);
  CHECK(svg.find("t &lt;&amp;&gt;") != std::string::npos);
}

namespace {
// The first `rows` rows of the shipped model's held-out tokens.
fs::path few_rows(int rows) {
  const fs::path src = fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny" / "eval_tokens.bin";
  std::ifstream in(src, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path p = fs::path(PQ_BUILD_DIR) / "test_validate_tokens.bin";
  std::ofstream(p, std::ios::binary) << all.substr(0, static_cast<std::size_t>(rows) * 256 * 2);
  return p;
}
}  // namespace

TEST_CASE("cached_eval equals engine::evaluate: source, one layer changed, experts masked") {
  const auto m = pq::model::open_model(fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny");
  const auto tokens = few_rows(6);
  pq::engine::eval_options o;
  o.batch_rows = 2;
  const pq::nn::cblas_gemm gemm;
  pq::engine::cached_eval ce(m, tokens, o, gemm);
  const pq::engine::source_weights src(*m.weights);
  const auto ref = pq::engine::evaluate(m, tokens, o, src, {}, gemm);
  CHECK(ce.source_loss() == ref.loss);  // bit for bit: same batches, exact sums
  CHECK(ce.positions() == ref.tokens);

  // Layer 2's attention through INT2: the cache starts at layer 2; evaluate runs every layer.
  std::map<std::string, std::string> fm;
  for (const auto& l : m.description.linears)
    if (l.layer == 2 && l.expert < 0) fm[l.name] = "INT2";
  REQUIRE(!fm.empty());
  const pq::engine::round_trip_weights rt(*m.weights, m.description, fm);
  const double changed = ce.loss(rt, {2});
  CHECK(changed == pq::engine::evaluate(m, tokens, o, rt, {}, gemm).loss);
  CHECK(changed != ce.source_loss());
  // The mirror image −ΔW: what scaled_error_weights(−1) gives, evaluated both ways.
  const pq::engine::scaled_error_weights mirror(*m.weights, m.description, fm, -1.0);
  CHECK(ce.loss(mirror, {2}) == pq::engine::evaluate(m, tokens, o, mirror, {}, gemm).loss);

  // Expert 5 of layer 1 unrouted (a mask only: the weights stay the source's).
  std::vector<std::vector<std::uint8_t>> active(4);
  active[1].assign(32, 1);
  active[1][5] = 0;
  const double dropped = ce.loss(src, {}, active);
  CHECK(dropped == pq::engine::evaluate(m, tokens, o, src, active, gemm).loss);
  CHECK(dropped != ce.source_loss());
  // Masks do not outlive the call.
  CHECK(ce.loss(src, {}) == ce.source_loss());
  CHECK(ce.loss(src, {0}) == ce.source_loss());  // the source reloaded from layer 0
  CHECK_THROWS_WITH(ce.loss(src, {7}), Catch::Contains("out of range"));
}

TEST_CASE("cached_eval refuses more than --max-memory, saying so") {
  const auto m = pq::model::open_model(fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny");
  pq::engine::eval_options o;
  o.max_memory = 1000;
  const pq::nn::cblas_gemm gemm;
  CHECK_THROWS_WITH(pq::engine::cached_eval(m, few_rows(2), o, gemm), Catch::Contains("evaluate fewer rows"));
}
