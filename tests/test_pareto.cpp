// Pareto sweep: monotone in the target, every point optimal against brute force at its own
// budget (see test_allocate), CSV columns, knee marking in the SVG, byte targets.
#include <catch2/catch.hpp>

#include "test_allocate_fixture.hpp"

#include <prismaquant/allocate/outputs.hpp>
#include <prismaquant/proxies/registry.hpp>

namespace pq = prismaquant;
namespace pa = prismaquant::allocate;

TEST_CASE("sweep over bit and byte targets") {
  auto m = fixture::make(41, 2, 8, 2);
  pa::joint_allocator ja(fixture::builder(m, pq::proxy::proxy_by_name("fisher_trace"), pq::saliency::saliency_by_name("reap")),
                         {0.0, 0.125, 0.25, 0.375});
  const auto sw = pa::sweep(ja, pa::bits({3.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0, 9.0}));
  const auto& rows = sw.rows;
  REQUIRE_FALSE(rows[0].feasible);  // below the smallest size
  double prev = 1e300;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    REQUIRE(rows[i].feasible);
    REQUIRE(rows[i].sol.achieved_bits <= rows[i].target_bits + 1e-12);
    REQUIRE(rows[i].sol.dloss <= prev * (1 + 1e-12));  // more budget never hurts
    prev = rows[i].sol.dloss;
  }
  // a byte target equals the corresponding bit target
  const auto by = ja.solve_bytes(ja.budget_for_bits(6.0));
  REQUIRE(by.sol.dloss == rows[4].sol.dloss);
  REQUIRE(by.target_bits <= 6.0);
  const int knee = pa::pareto_knee(rows);
  REQUIRE(knee >= 1);
  REQUIRE(sw.knee == knee);
  REQUIRE(sw.chosen == knee);
  REQUIRE(sw.chosen_by == "knee");
  REQUIRE(sw.proxy == "fisher_trace");
  REQUIRE(sw.solver == "exact");
  REQUIRE(sw.loader == "vllm");
  std::vector<std::string> fmts;
  for (const auto& f : sw.formats) fmts.emplace_back(f.name);
  std::sort(fmts.begin(), fmts.end());
  const auto csv = pa::pareto_csv(rows, fmts);
  REQUIRE(csv.substr(0, csv.find('\n')) ==
          "target_bits,feasible,achieved_bits,predicted_dloss,global_prune_ratio,n_layers_pruned,n_experts_dropped,"
          "layers_BF16,layers_FP8_SOURCE,layers_MXFP8_E4M3,layers_NVFP4,params_BF16,params_FP8_SOURCE,"
          "params_MXFP8_E4M3,params_NVFP4,lower_bound,gap");
  REQUIRE(csv.find("3.0,False,,,,,,,,,,,,,,,\n") != std::string::npos);  // 17 columns, empty cells
  for (auto& r : rows) {
    if (!r.feasible) continue;
    std::int64_t layers = 0, params = 0;
    for (auto& [f, n] : r.layers_by_fmt) layers += n;
    for (auto& [f, n] : r.params_by_fmt) params += n;
    REQUIRE(layers == static_cast<std::int64_t>(m.stats.linears.size()) - 3 * r.n_experts_dropped);
    REQUIRE(static_cast<std::int64_t>(r.layer_formats.size()) == layers);
    REQUIRE(params <= ja.total_params());
  }
  const auto svg = pa::pareto_svg(rows, knee, knee);
  REQUIRE(svg.find("<svg") == 0);
  REQUIRE(svg.find(">knee<") != std::string::npos);
  REQUIRE(svg.find(">chosen<") != std::string::npos);
  REQUIRE(pa::num(4.0) == "4.0");
  REQUIRE(pa::num(0.1) == "0.1");
}
