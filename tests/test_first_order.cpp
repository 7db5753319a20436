// The probe's first-order terms (probe --first-order, the taylor proxy's input) against what they
// claim to be: Σ_b ⟨G_b, Q_f(W) − W⟩ is the derivative of the calibration loss Σ_t CE_t along the
// format's error, d/ds L(W + s·ΔW) at s = 0. Checked by central finite differences of `eval`
// (engine::scaled_error_weights) on the shipped model — experts' Linears of the last layer (each
// sees only its routed tokens), alone and as a fused w1|w3 pair whose NVFP4 global scale is
// shared — and for exact merging across shards.
#include <catch2/catch.hpp>

#include "cli_run.hpp"

#include <prismaquant/engine/eval.hpp>
#include <prismaquant/engine/scaled_error_weights.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/probe/probe.hpp>
#include <prismaquant/proxies/registry.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace pq = prismaquant;
namespace fs = std::filesystem;

namespace {
const fs::path model_dir = fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny";

fs::path calib_rows(int rows) {
  std::ifstream in(model_dir / "calib_tokens.bin", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path p = fs::path(PQ_BUILD_DIR) / "test_first_order_tokens.bin";
  std::ofstream(p, std::ios::binary) << all.substr(0, static_cast<std::size_t>(rows) * 256 * 2);
  return p;
}

const pq::model::linear_info& linear_named(const pq::model::model_description& d, const std::string& suffix, int layer) {
  for (const auto& l : d.linears)
    if (l.layer == layer && l.name.size() >= suffix.size() &&
        l.name.compare(l.name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return l;
  FAIL("no Linear " << suffix << " in layer " << layer);
  throw;
}
}  // namespace

TEST_CASE("probe --first-order: Σ_b <G_b, Q_f(W) - W> is the derivative of the calibration loss along ΔW") {
  const auto m = pq::model::open_model(model_dir);
  const auto tokens = calib_rows(4);
  const pq::nn::cblas_gemm gemm;
  pq::probe::options po;
  po.batch_rows = 2;
  po.weighting = pq::nn::token_weighting::none;  // L = Σ_t CE_t, what eval averages
  po.first_order = {"INT3", "NVFP4"};
  const auto r = pq::probe::run(m, tokens, po, gemm);
  CHECK(r.stats.probe.at("first_order") == nlohmann::json{"INT3", "NVFP4"});

  pq::engine::eval_options eo;
  eo.batch_rows = 2;
  const pq::engine::source_weights src(*m.weights);
  const auto base = pq::engine::evaluate(m, tokens, eo, src, {}, gemm);
  const double positions = static_cast<double>(base.tokens);
  // d/ds of Σ_t CE_t at s = 0 along the format's error on `modules`, by central differences.
  auto derivative = [&](const std::vector<std::string>& modules, const std::string& fmt, double eps) {
    std::map<std::string, std::string> fm;
    for (const auto& n : modules) fm[n] = fmt;
    const pq::engine::scaled_error_weights plus(*m.weights, m.description, fm, eps), minus(*m.weights, m.description, fm, -eps);
    const double lp = pq::engine::evaluate(m, tokens, eo, plus, {}, gemm).loss;
    const double lm = pq::engine::evaluate(m, tokens, eo, minus, {}, gemm).loss;
    return (lp - lm) / (2.0 * eps) * positions;
  };
  auto probed = [&](const std::vector<std::string>& modules, const std::string& fmt) {
    double s = 0.0;
    for (const auto& n : modules) s += r.stats.linears.at(n).first_order_sum.at(fmt).value();
    return s;
  };

  // The last layer's experts: no router is downstream of them, so the loss is smooth along their
  // errors. Upstream of a router it is not: a weight change that moves a token's router scores
  // across a top-k tie switches experts, a jump in the loss, so finite differences there measure
  // routing flips as much as the derivative (the probe's term is the derivative at fixed routing).
  const auto& d = m.description;
  const std::string w2 = linear_named(d, "experts.3.w2", 3).name, w1 = linear_named(d, "experts.0.w1", 3).name;
  const std::vector<std::string> w13{linear_named(d, "experts.5.w1", 3).name, linear_named(d, "experts.5.w3", 3).name};
  struct probe_case {
    std::vector<std::string> modules;
    std::string fmt;
  };
  // w1|w3 in NVFP4 share one global scale (one pre-pass over both), as eval and the exporter have it.
  for (const auto& c : {probe_case{{w2}, "INT3"}, probe_case{{w2}, "NVFP4"}, probe_case{{w1}, "INT3"},
                        probe_case{{w1}, "NVFP4"}, probe_case{w13, "NVFP4"}, probe_case{w13, "INT3"}}) {
    const double p = probed(c.modules, c.fmt);
    const double fd = derivative(c.modules, c.fmt, 0.25);  // float32 forward: a step well above its noise
    INFO(c.modules.front() << " (" << c.modules.size() << " modules) " << c.fmt << ": probe " << p << ", finite differences "
                           << fd);
    CHECK(std::fabs(p) > 1e-3);
    CHECK(std::fabs(p - fd) <= 0.02 * std::fabs(fd));
  }
  // Upstream of routers the loss jumps where tokens switch experts: for layer 0's v_proj the
  // central differences at two step sizes disagree with each other far beyond the last layer's 2 %.
  {
    const std::vector<std::string> v{linear_named(d, "self_attn.v_proj", 0).name};
    const double a = derivative(v, "INT2", 0.05), b = derivative(v, "INT2", 0.25);
    INFO("layer 0 v_proj INT2: finite differences " << a << " (step 0.05), " << b << " (step 0.25)");
    CHECK(std::fabs(a - b) > 0.5 * std::max(std::fabs(a), std::fabs(b)));
  }
  // Every Linear has the formats asked for, and only those.
  for (const auto& [n, s] : r.stats.linears) {
    INFO(n);
    CHECK(s.first_order_sum.size() == 2);
  }
}

TEST_CASE("probe --first-order: shards merge into the single-process sums exactly; the stats file keeps them") {
  const auto m = pq::model::open_model(model_dir);
  const auto tokens = calib_rows(6);
  const pq::nn::cblas_gemm gemm;
  pq::probe::options po;
  po.batch_rows = 2;
  po.first_order = {"MXFP4"};
  const auto one = pq::probe::run(m, tokens, po, gemm);
  auto merged = [&] {
    po.shard = pq::engine::parse_shard("0/2");
    auto a = pq::probe::run(m, tokens, po, gemm).stats;
    po.shard = pq::engine::parse_shard("1/2");
    const auto b = pq::probe::run(m, tokens, po, gemm).stats;
    for (auto& [n, s] : a.linears) s.merge(b.linears.at(n));
    return a;
  }();
  for (const auto& [n, s] : one.stats.linears) {
    INFO(n);
    REQUIRE(s.first_order_sum.count("MXFP4") == 1);
    CHECK(merged.linears.at(n).first_order_sum.at("MXFP4").value() == s.first_order_sum.at("MXFP4").value());
  }
  // Written and read back: the same sums (a negative one among them), and the taylor proxy reads them.
  const fs::path f = fs::path(PQ_BUILD_DIR) / "test_first_order_stats.json";
  pq::stats::write_stats(f, one.stats);
  const auto back = pq::stats::read_stats(f);
  bool negative = false;
  for (const auto& [n, s] : one.stats.linears) {
    const auto& b = back.linears.at(n);
    CHECK(b.first_order_sum.at("MXFP4").value() == s.first_order_sum.at("MXFP4").value());
    negative = negative || s.first_order_sum.at("MXFP4").value() < 0.0;
    pq::stats::format_cost c;
    c.n = s.n_params();
    c.sse = 1e-3 * static_cast<double>(c.n);
    const double want = s.first_order_sum.at("MXFP4").value() / static_cast<double>(s.rows_seen) + 0.5 * s.h_trace() * 1e-3;
    CHECK(pq::proxy::taylor{}(b, "MXFP4", c) == Approx(want).epsilon(1e-12));
    CHECK_THROWS_WITH(pq::proxy::taylor{}(b, "NVFP4", c), Catch::Contains("probe --first-order NVFP4"));
  }
  CHECK(negative);  // the shipped model is not at a minimum of its calibration loss
  po.shard = {};
  po.first_order = {"NO_SUCH_FORMAT"};
  CHECK_THROWS_WITH(pq::probe::run(m, tokens, po, gemm), Catch::Contains("unknown format \"NO_SUCH_FORMAT\""));
}

TEST_CASE("probe --first-order, cost, allocate --proxy taylor: the command line end to end") {
  const auto d = fs::path(PQ_BUILD_DIR) / "test_tmp" / "first_order_cli";
  fs::remove_all(d);
  fs::create_directories(d);
  const std::string tokens = calib_rows(8).string();
  auto r = pq_test::run_cli("probe --quiet --model " + model_dir.string() + " --calib " + tokens +
                            " --first-order NVFP4,MXFP4,FP8_SOURCE --out " + (d / "stats.json").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const auto m = pq::stats::read_stats(d / "stats.json");
  CHECK(m.probe.at("first_order") == nlohmann::json{"NVFP4", "MXFP4", "FP8_SOURCE"});
  for (const auto& [n, s] : m.linears) {
    INFO(n);
    REQUIRE(s.first_order_sum.size() == 3);
    CHECK(s.first_order_sum.at("FP8_SOURCE").value() == 0.0);  // the source's own FP8 blocks: no error at all
  }
  r = pq_test::run_cli("cost --quiet --model " + model_dir.string() + " --formats NVFP4,MXFP4,FP8_SOURCE --proxies taylor --out " +
                       (d / "costs.json").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  r = pq_test::run_cli("allocate --stats " + (d / "stats.json").string() + " --costs " + (d / "costs.json").string() +
                       " --out " + (d / "alloc").string() + " --target-bits 5 --proxy taylor");
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(fs::exists(d / "alloc" / "layer_config.json"));
  // A format the probe did not price: allocate says which and how to get it, and writes nothing.
  r = pq_test::run_cli("cost --quiet --model " + model_dir.string() + " --formats NVFP4,INT4_W4A16_g128,FP8_SOURCE --out " +
                       (d / "costs2.json").string());
  REQUIRE(r.code == 0);
  r = pq_test::run_cli("allocate --stats " + (d / "stats.json").string() + " --costs " + (d / "costs2.json").string() +
                       " --out " + (d / "alloc2").string() + " --target-bits 5 --proxy taylor");
  CHECK(r.code != 0);
  CHECK(r.out.find("probe --first-order INT4_W4A16_g128") != std::string::npos);
  CHECK(!fs::exists(d / "alloc2"));
  r = pq_test::run_cli("probe --quiet --model " + model_dir.string() + " --calib " + tokens +
                       " --first-order NVFP4,NOPE --out " + (d / "bad.json").string());
  CHECK(r.code != 0);
  CHECK(r.out.find("unknown format \"NOPE\"") != std::string::npos);
  CHECK(!fs::exists(d / "bad.json"));
}
