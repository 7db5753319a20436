// The probe and eval against transformers (tests/golden/probe/, written by
// python/golden/probe_reference.py with .venv-ref: transformers' float32 forward and autograd
// backward per batch; the re-routing sums from re-running the MoE with each expert masked).
// Exact: batch layout, rows_seen, routed counts, total_tokens. Everything else within a stated
// relative tolerance (float32 products summed in different orders on the two sides):
//   per-batch loss and CE sum, eval losses          1e-5
//   fisher_sum, fisher_token_sum, REAP sums, max    1e-4
//   input_amax                                      1e-5
//   xtx_diag, h_row_sum (per element, relative to
//     the vector's largest element)                 1e-4
//   reroute_fisher, reroute_sq                      1e-4
//   reroute_first (signed: relative to √(B·reroute_fisher), the Cauchy-Schwarz bound of its
//     per-batch terms over the B batches)           1e-4
// except the re-routing sums of the experts listed in `exact_tie` below (1e-2).
// The largest errors seen are printed, so the achieved tolerances are on record (MiniMax-M2
// tiny, 2 threads: losses ≤ 1e-7, Linear sums ≤ 5e-6, REAP sums ≤ 2e-6, re-routing ≤ 7e-6
// outside `exact_tie`).
#include <catch2/catch.hpp>

#include <prismaquant/engine/eval.hpp>
#include <prismaquant/io/safetensors_file.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/probe/probe.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
namespace pq = prismaquant;

namespace {

nlohmann::json load_json(const fs::path& p) {
  std::ifstream f(p);
  REQUIRE(f.good());
  std::stringstream s;
  s << f.rdbuf();
  return nlohmann::json::parse(s.str());
}

// Largest relative errors per quantity, printed at the end of each model.
struct error_log {
  std::map<std::string, double> worst;
  void add(const std::string& what, double err) { worst[what] = std::max(worst[what], err); }
  void print(const std::string& model) const {
    std::printf("probe vs transformers, %s: largest relative errors\n", model.c_str());
    for (const auto& [k, v] : worst) std::printf("  %-34s %.2e\n", k.c_str(), v);
  }
};

// Re-routing entries whose replacement expert is an exact float32 tie in the reference: at
// one position the two best candidates (after excluding the expert) have bit-identical
// biased scores in transformers' forward, so which one replaces it is decided by the last
// bit of the router input, and the reference and the probe (whose GEMMs round differently)
// may pick different experts. That position's δ·Δy then differs by a whole term. Found by
//   .venv-ref/bin/python python/golden/reroute_ties.py --model models/minimax-m2-tiny --domains code,prose,math
// ("replacement scores 0.708013415 and 0.708013415": row 57, position 97, candidates 8 and
// 11; the reference picks 8). Every other entry keeps the 1e-4 tolerance; these get 1e-2
// (the flipped term is 0.4 % of expert 26's reroute_first scale, 0.08 % of its
// reroute_fisher, 0.02 % of its reroute_sq).
bool exact_tie(const std::string& model, const std::string& router, const std::string& domain, int expert) {
  return model == "minimax-m2-tiny" && router == "model.layers.1.block_sparse_moe.gate" && domain == "prose" &&
         (expert == 17 || expert == 18 || expert == 19 || expert == 26);
}

double rel(double a, double b, double scale) { return std::fabs(a - b) / std::max(scale, 1e-300); }

void check(error_log& log, const std::string& what, double got, double want, double tol, double scale = -1) {
  const double s = scale >= 0 ? scale : std::fabs(want);
  const double e = rel(got, want, s);
  log.add(what, e);
  if (e > tol) FAIL_CHECK(what << ": got " << got << " want " << want << " (relative error " << e << " > " << tol << ")");
}

void run_model(const std::string& name) {
  const fs::path src(PQ_SOURCE_DIR);
  const fs::path gdir = src / "tests" / "golden" / "probe";
  const auto g = load_json(gdir / (name + ".json"));
  const pq::safetensors_file side(gdir / g["tensors"].get<std::string>());
  const auto m = pq::model::open_model(src / "models" / name);
  pq::probe::options o;
  o.seq_len = g["seq_len"].get<std::int64_t>();
  o.batch_rows = g["batch"].get<std::int64_t>();
  o.weighting = g["token_weights"] == "clamped" ? pq::nn::token_weighting::clamped : pq::nn::token_weighting::none;
  o.domains = g["domains"].get<std::vector<std::string>>();
  o.threads = 2;
  const pq::nn::cblas_gemm gemm;
  const auto r = pq::probe::run(m, src / g["tokens"].get<std::string>(), o, gemm);
  error_log log;

  // per batch
  const auto& gb = g["batches"];
  REQUIRE(r.batches.size() == gb.size());
  for (std::size_t i = 0; i < gb.size(); ++i) {
    const auto& b = r.batches[i];
    REQUIRE(o.domains[static_cast<std::size_t>(b.domain)] == gb[i]["domain"].get<std::string>());
    REQUIRE(b.first_row == gb[i]["first_row"].get<std::int64_t>());
    REQUIRE(b.rows == gb[i]["rows"].get<std::int64_t>());
    REQUIRE(b.positions == gb[i]["positions"].get<std::int64_t>());
    check(log, "batch loss", b.loss, gb[i]["loss"].get<double>(), 1e-5);
    check(log, "batch CE sum", b.ce_sum, gb[i]["ce_sum"].get<double>(), 1e-5);
  }

  // per Linear
  const auto& gl = g["linears"];
  REQUIRE(r.stats.linears.size() == gl.size());
  for (const auto& [mod, want] : gl.items()) {
    INFO(mod);
    const auto& s = r.stats.linears.at(mod);
    REQUIRE(s.rows_seen == want["rows_seen"].get<std::int64_t>());
    check(log, "fisher_sum", s.fisher_sum.value(), want["fisher_sum"].get<double>(), 1e-4);
    check(log, "fisher_token_sum", s.fisher_token_sum->value(), want["fisher_token_sum"].get<double>(), 1e-4);
    check(log, "input_amax", *s.input_amax, want["input_amax"].get<double>(), 1e-5);
    for (const auto& [field, got] : {std::pair<std::string, const std::vector<double>*>{"xtx_diag", &s.xtx_diag},
                                     {"h_row_sum", &s.h_row_sum}}) {
      const auto ref = side.at(mod + "." + field).to_vector<double>();
      REQUIRE(got->size() == ref.size());
      double mx = 0;
      for (double v : ref) mx = std::max(mx, std::fabs(v));
      for (std::size_t j = 0; j < ref.size(); ++j) check(log, field + " (/ max element)", (*got)[j], ref[j], 1e-4, mx);
    }
  }

  // per router and domain
  const auto& gr = g["routers"];
  REQUIRE(r.stats.routers.size() == gr.size());
  for (const auto& [router, want] : gr.items()) {
    INFO(router);
    const auto& rs = r.stats.routers.at(router);
    REQUIRE(rs.num_experts == want["num_experts"].get<int>());
    REQUIRE(rs.top_k == want["top_k"].get<int>());
    for (const auto& [dom, wd] : want["domains"].items()) {
      INFO(dom);
      const auto& acc = rs.domains.at(dom);
      REQUIRE(acc.total_tokens == wd["total_tokens"].get<std::int64_t>());
      for (int e = 0; e < rs.num_experts; ++e) {
        INFO("expert " << e);
        const auto& x = acc.experts[static_cast<std::size_t>(e)];
        REQUIRE(x.count == wd["count"][e].get<std::int64_t>());
        check(log, "sum_g", x.sum_g.value(), wd["sum_g"][e].get<double>(), 1e-4);
        check(log, "sum_norm", x.sum_norm.value(), wd["sum_norm"][e].get<double>(), 1e-4);
        check(log, "sum_norm_sq", x.sum_norm_sq.value(), wd["sum_norm_sq"][e].get<double>(), 1e-4);
        check(log, "sum_g_norm", x.sum_g_norm.value(), wd["sum_g_norm"][e].get<double>(), 1e-4);
        check(log, "sum_g_norm_sq", x.sum_g_norm_sq.value(), wd["sum_g_norm_sq"][e].get<double>(), 1e-4);
        check(log, "max_g_norm", x.max_g_norm, wd["max_g_norm"][e].get<double>(), 1e-4);
        const bool tie = exact_tie(name, router, dom, e);
        const std::string tag = tie ? " (exact tie)" : "";
        const double rtol = tie ? 1e-2 : 1e-4;
        check(log, "reroute_fisher" + tag, x.reroute_fisher.value(), wd["reroute_fisher"][e].get<double>(), rtol);
        check(log, "reroute_sq" + tag, x.reroute_sq.value(), wd["reroute_sq"][e].get<double>(), rtol);
        // reroute_first is a signed sum that can cancel to near zero; its scale is the
        // Cauchy-Schwarz bound of its terms over the expert's batches, √(reroute_fisher·n_batches)
        const double scale = std::sqrt(wd["reroute_fisher"][e].get<double>() * static_cast<double>(gb.size()));
        check(log, "reroute_first (/ sqrt(B*fisher))" + tag, x.reroute_first.value(), wd["reroute_first"][e].get<double>(),
              rtol, std::max(std::fabs(wd["reroute_first"][e].get<double>()), scale));
      }
    }
  }

  // eval
  const auto ge = load_json(gdir / (name + ".eval.json"));
  pq::engine::eval_options eo;
  eo.seq_len = ge["seq_len"].get<std::int64_t>();
  eo.domains = ge["domains"].get<std::vector<std::string>>();
  eo.threads = 2;
  const pq::engine::source_weights sw(*m.weights);
  const auto ev = pq::engine::evaluate(m, src / ge["tokens"].get<std::string>(), eo, sw, {}, gemm);
  REQUIRE(ev.tokens == ge["tokens_count"].get<std::int64_t>());
  check(log, "eval loss", ev.loss, ge["loss"].get<double>(), 1e-5);
  for (std::size_t d = 0; d < ev.domains.size(); ++d)
    check(log, "eval domain loss", ev.domain_loss[d], ge["domains_loss"][ev.domains[d]].get<double>(), 1e-5);
  log.print(name);
}

}  // namespace

TEST_CASE("probe and eval match transformers on models/minimax-m2-tiny") { run_model("minimax-m2-tiny"); }
TEST_CASE("probe and eval match transformers on models/qwen3-moe-tiny") { run_model("qwen3-moe-tiny"); }
