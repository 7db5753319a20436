#pragma once
// `prismaquant solve`: one multiple-choice knapsack from a problem JSON (docs/solvers.md).
//   prismaquant solve --problem P.json (--target-bits B | --target-bytes N) [--solver NAME] --out S.json
// --target-bits B means a budget of floor(B·Σ n_params / 8) bytes.
#include <prismaquant/cli/command.hpp>
#include <prismaquant/cli/options.hpp>
#include <prismaquant/cli/toolset.hpp>

#include <prismaquant/core/error.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/solvers/json.hpp>
#include <prismaquant/solvers/registry.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <filesystem>
#include <string>
#include <vector>

namespace prismaquant::cli {

namespace solve_detail {

struct solve_args {
  std::string problem, out, solver = "exact";
  double target_bits = 0.0;
  std::int64_t target_bytes = -1;
  double gap_tolerance = 0.0, time_limit = 0.0, bit_precision = 1e-4;
};

inline int run_solve(const toolset& tools, const solve_args& a, bool have_bits, bool have_bytes) {
  namespace pqs = prismaquant::solvers;
  namespace fs = std::filesystem;
  if (have_bits == have_bytes) throw prismaquant::error("--target-bits", "give exactly one of --target-bits and --target-bytes");
  const auto& solver = tools.solver(a.solver);
  // The solution file appears complete or not at all (io/output_set.hpp), checked before the work.
  const fs::path out_path(a.out);
  prismaquant::output_set out(out_path.parent_path().empty() ? fs::path(".") : out_path.parent_path(),
                              prismaquant::publish_mode::replace_files, {}, "--out " + a.out);
  const pqs::problem p = pqs::read_problem(a.problem);
  const pqs::flat_problem f = pqs::flatten(p);
  std::int64_t budget = a.target_bytes;
  if (have_bits) {
    if (!std::isfinite(a.target_bits) || a.target_bits <= 0.0)
      throw prismaquant::error("solve", "--target-bits must be a positive number");
    const long double b = std::floor(static_cast<long double>(a.target_bits) * f.total_params() / 8.0L);
    if (b > static_cast<long double>(INT64_MAX)) throw prismaquant::error("solve", "--target-bits gives a budget beyond int64");
    budget = static_cast<std::int64_t>(b);
  } else if (budget < 0) {
    throw prismaquant::error("solve", "--target-bytes must not be negative");
  }
  pqs::solve_options o;
  o.gap_tolerance = a.gap_tolerance;
  o.time_limit_s = a.time_limit;
  o.bit_precision = a.bit_precision;
  pqs::check_budget(f, budget, a.problem);
  const pqs::solution s = pqs::solve(solver, f, budget, o);
  pqs::write_solution(out.path(out_path.filename().string()), p, s);
  out.publish();
  std::printf("solve: %s, %lld bytes (%.6f bits/param) within %lld, dloss %.9g, lower bound %.9g, gap %.3g, %.3f s -> %s\n",
              std::string(pqs::to_string(s.status)).c_str(), static_cast<long long>(s.total_bytes), s.achieved_bits,
              static_cast<long long>(budget), s.dloss, s.lower_bound, s.gap, s.seconds, a.out.c_str());
  return 0;
}

}  // namespace solve_detail

inline std::function<int()> setup_solve(CLI::App& sub, const toolset& tools) {
  using namespace solve_detail;
  auto a = std::make_shared<solve_args>();
  sub.add_option("--problem", a->problem, "problem JSON: {\"items\":[{\"name\",\"n_params\",\"candidates\":[...]}]}")
      ->required()
      ->check(check::existing_file());
  auto* bits = sub.add_option("--target-bits", a->target_bits,
                              "average bits per parameter; budget = floor(B * sum(n_params) / 8) bytes")
                   ->check(check::number(0, 1e6, check::open_low));
  auto* bytes = sub.add_option("--target-bytes", a->target_bytes, "byte budget")->transform(check::integer(0, INT64_MAX));
  bits->excludes(bytes);
  bytes->excludes(bits);
  sub.add_option("--solver", a->solver, "knapsack solver: " + toolset::names(tools.solvers))
      ->capture_default_str()
      ->check(check::one_of(toolset::name_list(tools.solvers)));
  sub.add_option("--out", a->out, "solution JSON (written atomically)")->required()->check(check::output_file());
  sub.add_option("--gap-tolerance", a->gap_tolerance, "exact: stop at this certified relative gap")
      ->capture_default_str()
      ->check(check::number(0, 1e300));
  sub.add_option("--time-limit", a->time_limit,
                 "exact: search time limit, seconds (0: none; a limit makes the answer depend on the machine's speed)")
      ->capture_default_str()
      ->check(check::number(0, 1e9));
  sub.add_option("--bit-precision", a->bit_precision, "reference_dp: bin width in bits/param")
      ->capture_default_str()
      ->check(check::number(0, 64, check::open_low));
  return [a, bits, bytes, &tools] { return run_solve(tools, *a, bits->count() > 0, bytes->count() > 0); };
}

}  // namespace prismaquant::cli
