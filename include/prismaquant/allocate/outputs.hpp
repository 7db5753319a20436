#pragma once
// Allocation outputs (docs/file-formats.md): layer_config.json, its prune manifest
// (<layer_config>.prune.json, the reference's name: layer_config.json.prune.json),
// pareto.csv (the reference's columns + lower_bound, gap), pareto.svg (curve, knee, chosen
// point) and allocation.json (what produced them). All written deterministically and
// published together (io/output_set.hpp); `write_outputs(dir, sweep)` writes the whole set.
#include <prismaquant/allocate/layer_config.hpp>
#include <prismaquant/allocate/sweep.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/io/output_set.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>
#include <span>
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

// `fmts`: the formats the allocation chose from (a format it names must be among them).
inline void write_layer_config(const std::filesystem::path& path, const allocation_result& r,
                               std::span<const formats::format_entry> fmts) {
  write_file_atomic(path, layer_config_text(r.layer_formats, fmts));
}

inline std::string prune_manifest_text(const allocation_result& r) {
  std::map<std::string, std::pair<int, std::vector<int>>> d;
  for (const auto& [router, dropped] : r.pruned) d[router] = {r.num_experts.at(router), dropped};
  return prune_manifest_text(d);
}

inline void write_prune_manifest(const std::filesystem::path& path, const allocation_result& r) {
  write_file_atomic(path, prune_manifest_text(r));
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

// allocation.json: what produced the outputs and the chosen row.
inline nlohmann::json allocation_summary(const sweep_result& s) {
  nlohmann::json j;
  j["proxy"] = s.proxy;
  j["saliency"] = s.saliency;
  j["solver"] = s.solver;
  j["domain_policy"] = s.domain_policy;
  j["loader"] = s.loader;
  j["knee_method"] = s.knee_method;
  j["alpha"] = s.alpha;
  j["prune_ratios"] = s.prune_ratios;
  j["skipped_prune_ratios"] = s.skipped_prune_ratios;
  j["total_params"] = s.total_params;
  j["knee_index"] = s.knee;
  j["chosen_index"] = s.chosen;
  j["chosen_by"] = s.chosen_by;
  if (s.chosen >= 0) {
    const auto& c = s.rows[static_cast<std::size_t>(s.chosen)];
    j["chosen"] = {{"target_bits", c.target_bits},
                   {"budget_bytes", c.budget_bytes},
                   {"status", std::string(solvers::to_string(c.sol.status))},
                   {"total_bytes", c.sol.total_bytes},
                   {"achieved_bits", c.sol.achieved_bits},
                   {"dloss", c.sol.dloss},
                   {"lower_bound", c.sol.lower_bound},
                   {"gap", c.sol.gap},
                   {"global_prune_ratio", c.ratio},
                   {"n_layers_pruned", c.n_layers_pruned},
                   {"n_experts_dropped", c.n_experts_dropped},
                   {"layers_by_format", c.layers_by_fmt},
                   {"params_by_format", c.params_by_fmt}};
  }
  return j;
}

// Every output of a sweep into `dir`, published together (io/output_set.hpp: all five files
// or none): layer_config.json and its prune manifest (the chosen row), pareto.csv,
// pareto.svg, allocation.json. Nothing is written when no row is feasible. A command opens the
// output set before its work (so a bad --out fails at once) and hands it over.
inline void write_outputs(output_set& out, const sweep_result& s) {
  if (s.chosen < 0) {
    for (const auto& r : s.rows)
      if (!r.feasible) throw error("allocate", "no target is feasible: " + r.note);
    throw error("allocate", "no target is feasible");
  }
  std::vector<std::string> names;
  for (const auto& f : s.formats) names.emplace_back(f.name);
  std::sort(names.begin(), names.end());
  const auto& c = s.rows[static_cast<std::size_t>(s.chosen)];
  out.write("layer_config.json", layer_config_text(c.layer_formats, s.formats));
  out.write(prune_manifest_path("layer_config.json").string(), prune_manifest_text(c));
  out.write("pareto.csv", pareto_csv(s.rows, names));
  out.write("pareto.svg", pareto_svg(s.rows, s.knee, s.chosen));
  out.write("allocation.json", allocation_summary(s).dump(1) + "\n");
  out.publish();
}

inline void write_outputs(const std::filesystem::path& dir, const sweep_result& s) {
  output_set out(dir);
  write_outputs(out, s);
}

}  // namespace prismaquant::allocate
