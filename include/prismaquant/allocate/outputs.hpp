#pragma once
// Allocation outputs (docs/file-formats.md): layer_config.json, its prune manifest
// (<layer_config>.prune.json, the reference's name: layer_config.json.prune.json),
// pareto.csv (the reference's columns + lower_bound, gap) and pareto.svg (curve, knee,
// chosen point). All written atomically and deterministically.
#include <prismaquant/allocate/allocate.hpp>
#include <prismaquant/allocate/kneedle.hpp>
#include <prismaquant/allocate/layer_config.hpp>
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/stats/detail/json_util.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace prismaquant::allocate {

// Shortest decimal that round-trips (what Python's repr writes for a float).
inline std::string num(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";  // 4 -> 4.0, as Python prints floats
  return s;
}

inline void write_layer_config(const std::filesystem::path& path, const allocation_result& r) {
  write_file_atomic(path, layer_config_text(r.layer_formats));
}

// Keyed by router; `num_experts` per router from the stats.
inline void write_prune_manifest(const std::filesystem::path& path, const allocation_result& r,
                                 const stats::model_stats& st) {
  std::map<std::string, std::pair<int, std::vector<int>>> d;
  for (auto& [router, dropped] : r.pruned) d[router] = {st.routers.at(router).num_experts, dropped};
  write_file_atomic(path, prune_manifest_text(d));
}

inline std::vector<std::string> formats_in(const std::vector<allocation_result>& rows, const candidate_builder& b) {
  std::set<std::string> f;
  for (auto& [m, row] : b.linear_table())
    for (auto& [fmt, c] : row) f.insert(fmt);
  for (auto& r : rows)
    for (auto& [fmt, n] : r.layers_by_fmt) f.insert(fmt);
  return {f.begin(), f.end()};
}

inline std::string pareto_csv(const std::vector<allocation_result>& rows, const std::vector<std::string>& fmts) {
  std::ostringstream o;
  o << "target_bits,feasible,achieved_bits,predicted_dloss,global_prune_ratio,n_layers_pruned,n_experts_dropped";
  for (auto& f : fmts) o << ",layers_" << f;
  for (auto& f : fmts) o << ",params_" << f;
  o << ",lower_bound,gap\n";
  for (auto& r : rows) {
    o << num(r.target_bits) << "," << (r.feasible ? "True" : "False");
    if (!r.feasible) {
      o << ",,,,,";
      for (std::size_t i = 0; i < 2 * fmts.size(); ++i) o << ",";
      o << ",,\n";  // lower_bound, gap
      continue;
    }
    o << "," << num(r.sol.achieved_bits) << "," << num(r.sol.dloss) << "," << num(r.ratio) << "," << r.n_layers_pruned << ","
      << r.n_experts_dropped;
    for (auto& f : fmts) o << "," << (r.layers_by_fmt.count(f) ? r.layers_by_fmt.at(f) : 0);
    for (auto& f : fmts) o << "," << (r.params_by_fmt.count(f) ? r.params_by_fmt.at(f) : 0);
    o << "," << num(r.sol.lower_bound) << "," << num(r.sol.gap) << "\n";
  }
  return o.str();
}

// The Pareto curve (achieved bits vs Δloss; log Δloss axis when every Δloss is positive),
// the knee (orange circle) and the chosen point (green square). -1 = none.
inline std::string pareto_svg(const std::vector<allocation_result>& rows, int knee, int chosen) {
  std::vector<std::pair<double, double>> pts;
  std::vector<int> idx;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (rows[i].feasible) { pts.push_back({rows[i].sol.achieved_bits, rows[i].sol.dloss}); idx.push_back(static_cast<int>(i)); }
  const double W = 640, H = 420, L = 70, R = 20, T = 30, B = 50;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << W / 2 << "\" y=\"18\" text-anchor=\"middle\">prismaquant Pareto curve</text>\n";
  if (pts.empty()) {
    o << "<text x=\"" << W / 2 << "\" y=\"" << H / 2 << "\" text-anchor=\"middle\">no feasible point</text>\n</svg>\n";
    return o.str();
  }
  bool logy = true;
  for (auto& p : pts) logy = logy && p.second > 0.0;
  auto fy = [&](double v) { return logy ? std::log10(v) : v; };
  double x0 = pts[0].first, x1 = x0, y0 = fy(pts[0].second), y1 = y0;
  for (auto& p : pts) {
    x0 = std::min(x0, p.first); x1 = std::max(x1, p.first);
    y0 = std::min(y0, fy(p.second)); y1 = std::max(y1, fy(p.second));
  }
  if (x1 == x0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 == y0) { y0 -= 0.5; y1 += 0.5; }
  auto px = [&](double v) { return L + (v - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double v) { return H - B - (fy(v) - y0) / (y1 - y0) * (H - T - B); };
  o << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
  o << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
  o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">achieved bits / parameter</text>\n";
  o << "<text transform=\"translate(16," << (T + H - B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">predicted Δloss"
    << (logy ? " (log10)" : "") << "</text>\n";
  for (int k = 0; k <= 4; ++k) {
    const double xv = x0 + (x1 - x0) * k / 4, yv = y0 + (y1 - y0) * k / 4;
    o << "<text x=\"" << px(xv) << "\" y=\"" << H - B + 16 << "\" text-anchor=\"middle\">" << num(std::round(xv * 1000) / 1000) << "</text>\n";
    const double ypix = H - B - (yv - y0) / (y1 - y0) * (H - T - B);
    o << "<text x=\"" << L - 6 << "\" y=\"" << ypix + 4 << "\" text-anchor=\"end\">"
      << num(std::round((logy ? yv : yv) * 1000) / 1000) << "</text>\n";
  }
  std::vector<std::size_t> order(pts.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return pts[a].first < pts[b].first; });
  o << "<polyline fill=\"none\" stroke=\"steelblue\" stroke-width=\"2\" points=\"";
  for (auto i : order) o << px(pts[i].first) << "," << py(pts[i].second) << " ";
  o << "\"/>\n";
  for (std::size_t i = 0; i < pts.size(); ++i)
    o << "<circle cx=\"" << px(pts[i].first) << "\" cy=\"" << py(pts[i].second) << "\" r=\"3\" fill=\"steelblue\"/>\n";
  auto mark = [&](int row, const char* what) {
    for (std::size_t i = 0; i < idx.size(); ++i)
      if (idx[i] == row) {
        if (std::string(what) == "knee")
          o << "<circle cx=\"" << px(pts[i].first) << "\" cy=\"" << py(pts[i].second)
            << "\" r=\"8\" fill=\"none\" stroke=\"darkorange\" stroke-width=\"2\"><title>knee</title></circle>\n"
            << "<text x=\"" << px(pts[i].first) + 10 << "\" y=\"" << py(pts[i].second) - 10 << "\" fill=\"darkorange\">knee</text>\n";
        else
          o << "<rect x=\"" << px(pts[i].first) - 6 << "\" y=\"" << py(pts[i].second) - 6
            << "\" width=\"12\" height=\"12\" fill=\"none\" stroke=\"green\" stroke-width=\"2\"><title>chosen</title></rect>\n"
            << "<text x=\"" << px(pts[i].first) + 10 << "\" y=\"" << py(pts[i].second) + 18 << "\" fill=\"green\">chosen</text>\n";
      }
  };
  mark(knee, "knee");
  mark(chosen, "chosen");
  o << "</svg>\n";
  return o.str();
}

// Knee among the feasible rows (reference's simple variant on achieved bits vs Δloss);
// returns the row index or -1 with fewer than 3 feasible rows.
inline int pareto_knee(const std::vector<allocation_result>& rows) {
  std::vector<double> x, y;
  std::vector<int> idx;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (rows[i].feasible) { x.push_back(rows[i].sol.achieved_bits); y.push_back(rows[i].sol.dloss); idx.push_back(static_cast<int>(i)); }
  if (x.size() < 3) return -1;
  return idx[knee_simple(x, y)];
}

}  // namespace prismaquant::allocate
