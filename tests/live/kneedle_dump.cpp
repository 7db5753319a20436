// Live-reference helper for tests/live/test_kneedle_kneed.py: reads one JSON case per line
// ({"x", "y", "S", "curve", "direction", "online", "interp", "degree"}) and prints one JSON
// result per line ({"knee", "knee_y", "norm_knee", "all_knees", "simple"}; null = no knee).
#include <prismaquant/allocate/kneedle.hpp>

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>

int main() {
  namespace pa = prismaquant::allocate;
  using nlohmann::json;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const json c = json::parse(line);
    pa::kneedle_options o;
    o.S = c.value("S", 1.0);
    o.curve = c.value("curve", std::string("concave")) == "convex" ? pa::knee_curve::convex : pa::knee_curve::concave;
    o.direction = c.value("direction", std::string("increasing")) == "decreasing" ? pa::knee_direction::decreasing
                                                                                   : pa::knee_direction::increasing;
    o.interp = c.value("interp", std::string("interp1d")) == "polynomial" ? pa::knee_interp::polynomial
                                                                          : pa::knee_interp::interp1d;
    o.online = c.value("online", false);
    o.polynomial_degree = c.value("degree", 7);
    const auto x = c["x"].get<std::vector<double>>();
    const auto y = c["y"].get<std::vector<double>>();
    json out;
    try {
      const auto r = pa::kneedle(x, y, o);
      out["knee"] = r.knee ? json(*r.knee) : json(nullptr);
      out["knee_y"] = r.knee_y ? json(*r.knee_y) : json(nullptr);
      out["norm_knee"] = r.norm_knee ? json(*r.norm_knee) : json(nullptr);
      out["all_knees"] = r.all_knees;
      out["simple"] = pa::knee_simple(x, y);
    } catch (const std::exception& e) {
      out["error"] = e.what();
    }
    std::cout << out.dump() << "\n";
  }
  return 0;
}
