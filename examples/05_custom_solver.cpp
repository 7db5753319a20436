// 05: write your own knapsack solver and run the command line with it — your own
// `prismaquant` executable is one line: prismaquant::cli::run<greedy_upgrade>(argc, argv).
//
// A solver is a type with a name and solve(flat_problem, budget, options) returning one
// candidate per item and a certified lower bound (here none: -inf, so its gap is reported as
// unknown rather than assumed). `greedy_upgrade` starts every item at its smallest candidate
// and keeps taking the upgrade that saves the most Δloss per extra byte while it fits.
//
// End to end through the library's commands: cost → allocate (candidates, this solver, the
// sweep, layer_config) and solve on a problem file. Checked against direct computations: the
// layer_config's Δloss summed by hand from the stats and costs files equals what allocate
// reports; every answer is within budget; the exact solver is never worse.
#include "example_cli.hpp"
#include "example_support.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

namespace pq = prismaquant;
namespace pqs = prismaquant::solvers;

struct greedy_upgrade {
  static constexpr std::string_view name = "greedy_upgrade";
  pqs::solution solve(const pqs::flat_problem& f, std::int64_t budget, const pqs::solve_options&) const {
    pqs::solution s;
    s.choice.assign(f.items(), 0);
    std::int64_t used = 0;
    for (std::size_t i = 0; i < f.items(); ++i) {  // smallest candidate (ties: least Δloss)
      int best = 0;
      for (int k = 1; k < f.count(i); ++k) {
        const auto a = f.offset[i] + k, b = f.offset[i] + best;
        if (f.bytes[a] < f.bytes[b] || (f.bytes[a] == f.bytes[b] && f.dloss[a] < f.dloss[b])) best = k;
      }
      s.choice[i] = best;
      used += f.bytes[f.offset[i] + best];
    }
    for (;;) {
      double best_rate = 0.0;
      std::size_t bi = 0;
      int bk = -1;
      for (std::size_t i = 0; i < f.items(); ++i) {
        const auto cur = f.offset[i] + s.choice[i];
        for (int k = 0; k < f.count(i); ++k) {
          const auto c = f.offset[i] + k;
          const std::int64_t more = f.bytes[c] - f.bytes[cur];
          const double saved = f.dloss[cur] - f.dloss[c];
          if (saved <= 0.0 || used + more > budget) continue;
          const double rate = more <= 0 ? std::numeric_limits<double>::infinity() : saved / static_cast<double>(more);
          if (rate > best_rate) best_rate = rate, bi = i, bk = k;
        }
      }
      if (bk < 0) break;
      used += f.bytes[f.offset[bi] + bk] - f.bytes[f.offset[bi] + s.choice[bi]];
      s.choice[bi] = bk;
    }
    s.lower_bound = -std::numeric_limits<double>::infinity();  // no certificate
    s.status = pqs::solve_status::feasible;
    return s;
  }
};
static_assert(pqs::check_solver<greedy_upgrade>());

static nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

// Δloss of an allocation, straight from the files: 0.5·H_trace·SSE/n per kept Linear
// (fisher_trace) plus α·reap_dropout per dropped expert.
static double direct_dloss(const std::filesystem::path& out, const pq::stats::model_stats& st,
                           const pq::stats::model_costs& co, double alpha) {
  double d = 0.0;
  const auto lc = read_json(out / "layer_config.json");  // alive for the whole loop
  for (const auto& [m, e] : lc.items()) {
    const auto& c = co.linears.at(m).formats.at(e["fmt"].get<std::string>());
    const auto& s = st.linears.at(m);
    d += 0.5 * (s.fisher_sum.value() / static_cast<double>(s.rows_seen)) * c.sse / static_cast<double>(c.n);
  }
  const auto pm = read_json(out / "layer_config.json.prune.json");
  for (const auto& [router, m] : pm.items()) {
    const auto& dom = st.routers.at(router).domains.at("default");
    for (int e : m["pruned_expert_ids"])
      d += alpha * dom.experts[static_cast<std::size_t>(e)].sum_g_norm_sq.value() / static_cast<double>(dom.total_tokens);
  }
  return d;
}

int main() {
  example::workspace ws("pq_example_05");
  const auto model = example::tiny_minimax(ws.dir);
  const auto st = example::synthetic_stats(pq::model::open_model(model).description);
  pq::stats::write_stats(ws / "stats.json", st);
  const std::string m = model.string(), stats = (ws / "stats.json").string(), costs = (ws / "costs.json").string();

  int rc = example::cli<greedy_upgrade>({"cost", "--quiet", "--model", m, "--out", costs});
  const auto co = pq::stats::read_costs(costs);
  const std::vector<std::string> io = {"--stats", stats, "--costs", costs, "--model", m, "--prune-ratios", "0,0.25"};
  auto allocate = [&](std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> a = {"allocate", "--out", (ws / out).string()};
    a.insert(a.end(), io.begin(), io.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return example::cli<greedy_upgrade>(a);
  };
  rc |= allocate({"--solver", "greedy_upgrade", "--sweep", "4.6,5,5.5,6,7,8"}, "sweep");
  rc |= allocate({"--solver", "greedy_upgrade", "--target-bits", "5.5"}, "greedy");
  rc |= allocate({"--solver", "exact", "--target-bits", "5.5"}, "exact");
  if (rc != 0) return 1;

  bool ok = true;
  for (const char* out : {"sweep", "greedy", "exact"}) {
    const auto summary = read_json(ws / out / "allocation.json")["chosen"];
    const double reported = summary["dloss"], direct = direct_dloss(ws / out, st, co, 0.15);
    const std::int64_t bytes = summary["total_bytes"], budget = summary["budget_bytes"];
    std::printf("%-6s %s: %.4f bits, Δloss %.6g (direct sum %.6g), %lld of %lld bytes\n", out,
                summary["status"].get<std::string>().c_str(), summary["achieved_bits"].get<double>(), reported, direct,
                static_cast<long long>(bytes), static_cast<long long>(budget));
    ok = ok && std::fabs(reported - direct) <= 1e-9 * std::fabs(direct) && bytes <= budget;
  }
  const double greedy = read_json(ws / "greedy" / "allocation.json")["chosen"]["dloss"];
  const double exact = read_json(ws / "exact" / "allocation.json")["chosen"]["dloss"];
  std::printf("greedy_upgrade is %.3g %% above the exact optimum at 5.5 bits\n", 100.0 * (greedy - exact) / exact);
  ok = ok && greedy >= exact * (1 - 1e-12);

  // `solve` on a problem file: 3 items, every choice enumerated by hand.
  {
    std::ofstream p(ws / "problem.json");
    p << R"({"items": [
      {"name": "a", "n_params": 100, "candidates": [{"fmt": "X", "memory_bytes": 50, "dloss": 4.0},
                                                   {"fmt": "Y", "memory_bytes": 100, "dloss": 1.0}]},
      {"name": "b", "n_params": 100, "candidates": [{"fmt": "X", "memory_bytes": 50, "dloss": 3.0},
                                                   {"fmt": "Y", "memory_bytes": 100, "dloss": 0.5}]},
      {"name": "c", "n_params": 100, "candidates": [{"fmt": "X", "memory_bytes": 60, "dloss": 2.0},
                                                   {"fmt": "Y", "memory_bytes": 80, "dloss": 1.9}]}]})";
  }
  if (example::cli<greedy_upgrade>({"solve", "--problem", (ws / "problem.json").string(), "--target-bytes", "220",
                                    "--solver", "greedy_upgrade", "--out", (ws / "solution.json").string()}) != 0)
    return 1;
  const auto sol = read_json(ws / "solution.json");
  const double bytes[3][2] = {{50, 100}, {50, 100}, {60, 80}}, dl[3][2] = {{4, 1}, {3, 0.5}, {2, 1.9}};
  double best = 1e300, got = 0, got_bytes = 0;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 2; ++c)
        if (bytes[0][a] + bytes[1][b] + bytes[2][c] <= 220) best = std::min(best, dl[0][a] + dl[1][b] + dl[2][c]);
  for (int i = 0; i < 3; ++i) {
    const int k = sol["choices"][i]["index"];
    got += dl[i][k];
    got_bytes += bytes[i][k];
  }
  std::printf("solve --solver greedy_upgrade: Δloss %g in %g bytes (best possible within 220 bytes: %g)\n", got,
              got_bytes, best);
  ok = ok && got == sol["dloss"].get<double>() && got_bytes <= 220 && got >= best;
  return ok ? 0 : 1;
}
