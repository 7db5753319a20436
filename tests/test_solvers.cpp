// Solvers against brute force on thousands of random small instances: ties, duplicate
// candidates, zero-byte deltas, single-candidate items, negative Δloss, budgets at the
// boundaries and infeasible budgets. The exact solver must match the brute-force optimum and
// every reported lower bound must be a real lower bound; every solver must fit the budget.
#include <prismaquant/solvers/registry.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace pqs = prismaquant::solvers;

namespace {

// (appending avoids GCC 12's false -Wrestrict on `label("L", i)`)
std::string label(const char* prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

struct gen_params {
  int max_items = 7;
  int max_cands = 5;
  bool small_bytes = true;   // small byte values: many ties and zero deltas
  bool negative = false;     // allow negative Δloss
  bool coarse_dloss = true;  // Δloss from a small set: many ties
};

pqs::problem random_problem(std::mt19937_64& rng, const gen_params& g) {
  std::uniform_int_distribution<int> ni(1, g.max_items), nc(1, g.max_cands);
  pqs::problem p;
  const int n = ni(rng);
  for (int i = 0; i < n; ++i) {
    pqs::item it;
    it.name = label("L", i);
    // realistic bits/param (<= ~40), so the reference DP's bin count stays small
    it.n_params = g.small_bytes ? std::uniform_int_distribution<std::int64_t>(4, 40)(rng)
                                : std::uniform_int_distribution<std::int64_t>(1'000'000'000, 10'000'000'000)(rng);
    const int k = nc(rng);
    for (int c = 0; c < k; ++c) {
      pqs::candidate cand;
      if (c > 0 && rng() % 5 == 0) {
        cand = it.candidates[rng() % it.candidates.size()];  // duplicate candidate
      } else {
        cand.fmt = label("F", c);
        cand.memory_bytes = g.small_bytes ? std::int64_t(rng() % 12)
                                          : std::uniform_int_distribution<std::int64_t>(1000, 5'000'000'000)(rng);
        if (g.coarse_dloss) cand.dloss = double(rng() % 6) * 0.25;
        else cand.dloss = std::exp(std::uniform_real_distribution<double>(-12, 3)(rng));
        if (g.negative && rng() % 3 == 0) cand.dloss = -cand.dloss;
      }
      it.candidates.push_back(cand);
    }
    p.items.push_back(std::move(it));
  }
  return p;
}

std::int64_t max_total(const pqs::flat_problem& f) {
  std::int64_t s = 0;
  for (std::size_t i = 0; i < f.items(); ++i) {
    std::int64_t m = 0;
    for (auto k = f.offset[i]; k < f.offset[i + 1]; ++k) m = std::max(m, f.bytes[k]);
    s += m;
  }
  return s;
}

// Budgets that stress the boundaries: the minimum, the maximum, exact sums of random
// combinations (and one byte less), and random values in between.
std::vector<std::int64_t> budgets_for(std::mt19937_64& rng, const pqs::flat_problem& f) {
  const std::int64_t lo = pqs::min_total_bytes(f), hi = max_total(f);
  std::vector<std::int64_t> b{lo, hi};
  for (int r = 0; r < 3; ++r) {
    std::vector<int> c(f.items());
    for (std::size_t i = 0; i < f.items(); ++i) c[i] = int(rng() % f.count(i));
    const auto s = pqs::evaluate(f, c).bytes;
    b.push_back(s);
    if (s - 1 >= lo) b.push_back(s - 1);
  }
  b.push_back(lo + std::int64_t(rng() % std::uint64_t(hi - lo + 1)));
  return b;
}

double tol_for(const pqs::flat_problem& f, double opt) {
  double scale = 0;
  for (double d : f.dloss) scale = std::max(scale, std::fabs(d));
  return 1e-9 * std::max(std::fabs(opt), 1e-300) + 1e-12 * scale * double(f.items());
}

void check_against_brute_force(std::mt19937_64& rng, const gen_params& g, int instances,
                               pqs::solve_options exact_opts = {}) {
  for (int t = 0; t < instances; ++t) {
    const auto p = random_problem(rng, g);
    const auto f = pqs::flatten(p);
    for (auto budget : budgets_for(rng, f)) {
      const auto bf = pqs::solve<pqs::brute_force>(p, budget);
      const double opt = bf.dloss, tol = tol_for(f, opt);
      INFO("instance " << t << " budget " << budget << " optimum " << opt);
      REQUIRE(bf.total_bytes <= budget);
      for (auto name : pqs::solver_names()) {
        const auto s = pqs::solve_by_name(name, p, budget);
        INFO("solver " << name << " dloss " << s.dloss << " lower_bound " << s.lower_bound);
        REQUIRE(s.total_bytes <= budget);
        REQUIRE(s.total_bytes == pqs::evaluate(f, s.choice).bytes);
        REQUIRE(s.dloss >= opt - tol);               // nobody beats the optimum
        REQUIRE(s.lower_bound <= opt + tol);         // every bound is a real lower bound
        REQUIRE(s.gap >= 0.0);
        if (s.status == pqs::solve_status::optimal) REQUIRE(s.dloss <= opt + tol);
      }
      const auto ex = pqs::solve<pqs::exact>(p, budget, exact_opts);
      REQUIRE(ex.status == pqs::solve_status::optimal);
      REQUIRE(std::fabs(ex.dloss - opt) <= tol);
      REQUIRE(ex.root_bound <= opt + tol);
    }
  }
}

}  // namespace

TEST_CASE("solvers vs brute force: small bytes, tied Δloss, duplicates, zero deltas") {
  std::mt19937_64 rng(1);
  check_against_brute_force(rng, {}, 1500);
}

TEST_CASE("solvers vs brute force: large byte counts, Δloss over 15 orders of magnitude") {
  std::mt19937_64 rng(2);
  gen_params g;
  g.small_bytes = false;
  g.coarse_dloss = false;
  g.max_items = 8;
  g.max_cands = 4;
  check_against_brute_force(rng, g, 1500);
}

TEST_CASE("exact with its two-phase core search forced on small instances, vs brute force") {
  std::mt19937_64 rng(6);
  gen_params g;
  g.max_items = 9;
  g.max_cands = 4;
  pqs::solve_options o;
  o.phase1_items = 3;  // phase 1 on every core of two or more items
  check_against_brute_force(rng, g, 800, o);
  g.small_bytes = false;
  g.coarse_dloss = false;
  check_against_brute_force(rng, g, 800, o);
}

TEST_CASE("solvers vs brute force: negative Δloss") {
  std::mt19937_64 rng(3);
  gen_params g;
  g.negative = true;
  g.coarse_dloss = false;
  check_against_brute_force(rng, g, 500);
}

TEST_CASE("exact: many items, few distinct sizes (the per-Linear structure), vs brute force") {
  std::mt19937_64 rng(4);
  for (int t = 0; t < 60; ++t) {
    pqs::problem p;
    const int n = 10 + int(rng() % 3);  // 3^12 = 531441 combinations
    for (int i = 0; i < n; ++i) {
      const std::int64_t np = (rng() % 2) ? 4718592 : 3145728;
      const double h = std::exp(std::uniform_real_distribution<double>(-8, 4)(rng));
      p.items.push_back({label("L", i), np,
                         {{"NVFP4", np / 2 + np / 16, h * 1e-2, {}}, {"MXFP8", np + np / 32, h * 4e-5, {}}, {"BF16", 2 * np, 0.0, {}}}});
    }
    const auto f = pqs::flatten(p);
    for (auto budget : budgets_for(rng, f)) {
      const auto bf = pqs::solve<pqs::brute_force>(p, budget);
      const auto ex = pqs::solve<pqs::exact>(p, budget);
      INFO("instance " << t << " budget " << budget);
      REQUIRE(ex.status == pqs::solve_status::optimal);
      REQUIRE(std::fabs(ex.dloss - bf.dloss) <= tol_for(f, bf.dloss));
      REQUIRE(ex.total_bytes <= budget);
    }
  }
}

// An independent exact method for small integer byte counts: DP over every byte total.
double dp_over_bytes(const pqs::flat_problem& f, std::int64_t budget) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(budget + 1, inf), next(budget + 1);
  best[0] = 0.0;
  for (std::size_t i = 0; i < f.items(); ++i) {
    std::fill(next.begin(), next.end(), inf);
    for (std::int64_t w = 0; w <= budget; ++w) {
      if (best[w] == inf) continue;
      for (auto k = f.offset[i]; k < f.offset[i + 1]; ++k)
        if (w + f.bytes[k] <= budget) next[w + f.bytes[k]] = std::min(next[w + f.bytes[k]], best[w] + f.dloss[k]);
    }
    best.swap(next);
  }
  return *std::min_element(best.begin(), best.end());
}

TEST_CASE("exact vs a DP over bytes on hundreds of items (large cores, both phases)") {
  std::mt19937_64 rng(7);
  std::int64_t max_core = 0;
  for (int t = 0; t < 40; ++t) {
    pqs::flat_problem f;
    const int n = 100 + int(rng() % 400);
    const int k = 2 + int(rng() % 4);
    for (int i = 0; i < n; ++i) {
      f.add_item(64);
      const double h = std::exp(std::uniform_real_distribution<double>(-5, 5)(rng));
      for (int c = 0; c < k; ++c) {
        const auto b = std::int64_t(4 + 4 * c + rng() % 3);  // few distinct sizes: many near-ties
        f.add_candidate(b, h * std::pow(0.3, c) * std::uniform_real_distribution<double>(0.8, 1.2)(rng));
      }
    }
    const std::int64_t lo = pqs::min_total_bytes(f), hi = max_total(f);
    for (int r = 0; r < 3; ++r) {
      const std::int64_t budget = lo + std::int64_t(rng() % std::uint64_t(hi - lo + 1));
      const double opt = dp_over_bytes(f, budget);
      const auto ex = pqs::solve<pqs::exact>(f, budget);
      INFO("instance " << t << " items " << n << " budget " << budget);
      REQUIRE(ex.status == pqs::solve_status::optimal);
      REQUIRE(ex.total_bytes <= budget);
      REQUIRE(std::fabs(ex.dloss - opt) <= 1e-9 * std::fabs(opt));
      REQUIRE(ex.root_bound <= opt * (1 + 1e-12));
      max_core = std::max(max_core, ex.core_items);
      const auto hg = pqs::solve<pqs::hull_greedy>(f, budget);
      REQUIRE(hg.total_bytes <= budget);
      REQUIRE(hg.dloss >= opt * (1 - 1e-12));
      REQUIRE(hg.lower_bound <= opt * (1 + 1e-12));
    }
  }
  REQUIRE(max_core > 96);  // the heuristic first phase ran
}

TEST_CASE("exact: a truncated search still returns a feasible solution and a real bound") {
  std::mt19937_64 rng(5);
  gen_params g;
  g.small_bytes = false;
  g.coarse_dloss = false;
  g.max_items = 10;
  g.max_cands = 4;
  int truncated = 0;
  for (int t = 0; t < 400; ++t) {
    const auto p = random_problem(rng, g);
    const auto f = pqs::flatten(p);
    for (auto budget : budgets_for(rng, f)) {
      const auto bf = pqs::solve<pqs::brute_force>(p, budget);
      pqs::solve_options o;
      o.max_states = 1;
      const auto ex = pqs::solve<pqs::exact>(p, budget, o);
      REQUIRE(ex.total_bytes <= budget);
      REQUIRE(ex.lower_bound <= bf.dloss + tol_for(f, bf.dloss));
      REQUIRE(ex.dloss >= bf.dloss - tol_for(f, bf.dloss));
      if (ex.status == pqs::solve_status::feasible) ++truncated;
      else REQUIRE(std::fabs(ex.dloss - bf.dloss) <= tol_for(f, bf.dloss));
    }
  }
  REQUIRE(truncated > 0);  // the limit did bite somewhere, so the bound path was exercised
}

TEST_CASE("infeasible budgets are a clear error stating the smallest feasible size") {
  pqs::problem p{{{"a", 8, {{"x", 5, 1.0, {}}, {"y", 9, 0.5, {}}}}, {"b", 8, {{"x", 3, 2.0, {}}}}}};
  for (auto name : pqs::solver_names()) {
    INFO(name);
    REQUIRE_THROWS_WITH(pqs::solve_by_name(name, p, 7), Catch::Contains("smallest feasible size 8 bytes") &&
                                                             Catch::Contains("4.000000 bits/param"));
    REQUIRE_NOTHROW(pqs::solve_by_name(name, p, 8));
  }
  REQUIRE_THROWS_WITH(pqs::solve<pqs::exact>(p, -1), Catch::Contains("infeasible budget"));
}

TEST_CASE("invalid problems are rejected with the item named") {
  pqs::problem empty_cands{{{"a", 8, {}}}};
  REQUIRE_THROWS_WITH(pqs::solve<pqs::exact>(empty_cands, 100), Catch::Contains("empty candidate list"));
  pqs::problem neg{{{"a", 8, {{"x", -5, 1.0, {}}}}}};
  REQUIRE_THROWS_WITH(pqs::solve<pqs::exact>(neg, 100), Catch::Contains("memory_bytes is negative"));
  pqs::problem nan{{{"a", 8, {{"x", 5, std::nan(""), {}}}}}};
  REQUIRE_THROWS_WITH(pqs::solve<pqs::exact>(nan, 100), Catch::Contains("dloss is not finite"));
  pqs::problem dup{{{"a", 8, {{"x", 5, 1.0, {}}}}, {"a", 8, {{"x", 5, 1.0, {}}}}}};
  REQUIRE_THROWS_WITH(pqs::solve<pqs::exact>(dup, 100), Catch::Contains("duplicate item name \"a\""));
  REQUIRE_THROWS_WITH(pqs::solve_by_name("nope", dup, 100), Catch::Contains("unknown solver \"nope\""));
}

TEST_CASE("brute force refuses large problems") {
  pqs::problem p;
  for (int i = 0; i < 23; ++i) p.items.push_back({label("L", i), 1, {{"a", 1, 1.0, {}}, {"b", 2, 0.5, {}}}});
  REQUIRE_THROWS_WITH(pqs::solve<pqs::brute_force>(p, 100), Catch::Contains("more than 4194304 combinations"));
}

namespace {
struct user_solver {  // a user's policy: everything at its first candidate
  static constexpr std::string_view name = "first";
  pqs::solution solve(const pqs::flat_problem& f, std::int64_t, const pqs::solve_options&) const {
    pqs::solution s;
    s.choice.assign(f.items(), 0);
    s.lower_bound = -1e300;
    return s;
  }
};
static_assert(pqs::solver<user_solver> && pqs::solver<pqs::exact> && pqs::solver<pqs::reference_dp>);
}  // namespace

TEST_CASE("a user solver plugs in; the library checks its budget") {
  pqs::problem p{{{"a", 8, {{"x", 5, 1.0, {}}, {"y", 1, 2.0, {}}}}}};
  auto s = pqs::solve<user_solver>(p, 5);
  REQUIRE(s.total_bytes == 5);
  REQUIRE(s.status == pqs::solve_status::feasible);
  REQUIRE_THROWS_WITH(pqs::solve<user_solver>(p, 4), Catch::Contains("over the budget of 4"));
}

TEST_CASE("reference_dp reproduces the reference's bins: half-to-even rounding, re-solve, repair") {
  // Two items of 8 params (fraction 1/2), bin = 1 bit. Item a: +1 bit/param = 0.5 bin, which
  // Python's round() sends to 0 bins (free); item b: +3 bits/param = 1.5 bins -> 2 bins.
  pqs::problem p{{{"a", 8, {{"lo", 8, 1.0, {}}, {"hi", 9, 0.5, {}}}}, {"b", 8, {{"lo", 8, 1.0, {}}, {"hi", 11, 0.0, {}}}}}};
  pqs::solve_options o;
  o.bit_precision = 1.0;
  SECTION("budget 17: a's free upgrade fits; b's two bins exceed n_bins = round(0.5)+2 = 2") {
    auto s = pqs::solve<pqs::reference_dp>(p, 17, o);
    REQUIRE(s.choice == std::vector<int>{1, 0});
    REQUIRE(s.iterations == 1);
    REQUIRE_FALSE(s.repaired);
  }
  SECTION("budget 16: the free upgrade overshoots, the tightened target is below the floor, repair") {
    auto s = pqs::solve<pqs::reference_dp>(p, 16, o);
    REQUIRE(s.iterations == 2);
    REQUIRE(s.repaired);
    REQUIRE(s.choice == std::vector<int>{0, 0});
    REQUIRE(s.total_bytes == 16);
  }
  SECTION("budget 19: the re-solve loop tightens 9.5 -> 9.25 -> 9.0 -> 8.75 -> 8.5 bits until it fits") {
    // n_bins = round(excess)+2: 4, 3, 3, 3, 2. Both upgrades charge 2 bins (0 + 2) and need 20
    // bytes; each overshoot of 0.5 bit tightens by 0.25 until b's 2 bins no longer fit.
    auto s = pqs::solve<pqs::reference_dp>(p, 19, o);
    REQUIRE(s.iterations == 5);
    REQUIRE_FALSE(s.repaired);
    REQUIRE(s.choice == std::vector<int>{1, 0});
    REQUIRE(s.dloss == 1.5);
    REQUIRE(pqs::solve<pqs::exact>(p, 19).dloss == 1.0);  // b's upgrade alone: the optimum
  }
}

TEST_CASE("an empty problem is solved by every solver") {
  pqs::problem p;
  for (auto name : pqs::solver_names()) {
    auto s = pqs::solve_by_name(name, p, 0);
    REQUIRE(s.choice.empty());
    REQUIRE(s.total_bytes == 0);
    REQUIRE(s.dloss == 0.0);
  }
}
