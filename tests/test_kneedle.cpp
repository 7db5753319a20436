// Kneedle on kneed's documented examples (values from the kneed README / docs; the full
// comparison runs live in tests/live/test_kneedle_kneed.py), plus the reference's simple variant.
#include <catch2/catch.hpp>

#include <prismaquant/allocate/kneedle.hpp>

#include <cmath>

namespace pa = prismaquant::allocate;

TEST_CASE("kneed's example curves") {
  const std::vector<double> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  pa::kneedle_options o;
  o.curve = pa::knee_curve::convex;
  o.direction = pa::knee_direction::decreasing;
  // kneed docs: convex decreasing [100,40,20,15,10,5,4,3,2,1] -> knee at x = 2 (y = 20)
  auto r = pa::kneedle(x, {100, 40, 20, 15, 10, 5, 4, 3, 2, 1}, o);
  REQUIRE(r.knee);
  REQUIRE(*r.knee == 2.0);
  REQUIRE(*r.knee_y == 20.0);
  // figure 2 of the Kneedle paper: y = -1/(x+0.1) + 5 on linspace(0,1,10), concave increasing -> 0.2222
  std::vector<double> fx(10), fy(10);
  for (int i = 0; i < 10; ++i) { fx[i] = i / 9.0; fy[i] = -1.0 / (fx[i] + 0.1) + 5.0; }
  auto f = pa::kneedle(fx, fy, {});
  REQUIRE(f.knee);
  REQUIRE(*f.knee == Approx(0.2222222222));
  // a straight line has no knee
  auto l = pa::kneedle(x, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {});
  REQUIRE_FALSE(l.knee);
}

TEST_CASE("simple variant: argmin y_n - (1 - x_n)") {
  // Pareto-like: Δloss falls steeply then flattens; knee at the bend.
  const std::vector<double> x = {3, 4, 5, 6, 7, 8}, y = {10, 3, 1, 0.6, 0.4, 0.3};
  // normalised: xn = 0,.2,.4,.6,.8,1; yn = (y-0.3)/9.7 -> d = yn - (1-xn)
  std::size_t best = 0;
  double bd = 1e9;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double d = (y[i] - 0.3) / 9.7 - (1.0 - (x[i] - 3) / 5.0);
    if (d < bd) { bd = d; best = i; }
  }
  REQUIRE(pa::knee_simple(x, y) == best);
  REQUIRE(pa::knee_simple({1, 2}, {2, 1}) == 0);
  REQUIRE(pa::knee_simple({1, 1, 1}, {3, 2, 1}) == 0);
  REQUIRE_THROWS(pa::knee_simple({1, 2, 3}, {1, 2}));
}
