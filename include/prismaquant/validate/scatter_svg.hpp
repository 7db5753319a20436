#pragma once
// A scatter plot as a standalone SVG: points in named series (one colour each), optional log10
// axes, a title and axis labels. On a log axis a value ≤ 0 cannot be placed: it is drawn on the
// axis floor as a hollow marker (and the caption says how many), never silently dropped.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace prismaquant::validate {

struct scatter_series {
  std::string name;
  std::vector<double> x, y;
};

struct scatter_plot {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  bool diagonal = false;  // draw y = x (for axes in the same units)
  std::vector<scatter_series> series;
};

namespace detail {
inline std::string svg_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}
inline std::string svg_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}
inline std::string tick_label(double v, bool log) {
  char b[32];
  if (log) std::snprintf(b, sizeof b, "1e%d", static_cast<int>(std::lround(v)));
  else std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}
}  // namespace detail

inline std::string scatter_svg(const scatter_plot& p) {
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                  "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  const double W = 640, H = 440, L = 80, R = 170, T = 40, B = 60;
  auto tx = [&](double v) { return p.log_x ? (v > 0 ? std::log10(v) : std::numeric_limits<double>::quiet_NaN()) : v; };
  auto ty = [&](double v) { return p.log_y ? (v > 0 ? std::log10(v) : std::numeric_limits<double>::quiet_NaN()) : v; };
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : p.series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const double a = tx(s.x[i]), b = ty(s.y[i]);
      if (std::isfinite(a)) x0 = std::min(x0, a), x1 = std::max(x1, a);
      if (std::isfinite(b)) y0 = std::min(y0, b), y1 = std::max(y1, b);
    }
  if (x0 > x1) x0 = 0, x1 = 1;
  if (y0 > y1) y0 = 0, y1 = 1;
  if (p.diagonal) x0 = y0 = std::min(x0, y0), x1 = y1 = std::max(x1, y1);
  const double padx = (x1 - x0) * 0.05 + 1e-12, pady = (y1 - y0) * 0.05 + 1e-12;
  x0 -= padx, x1 += padx, y0 -= pady, y1 += pady;
  auto X = [&](double a) { return L + (a - x0) / (x1 - x0) * (W - L - R); };
  auto Y = [&](double b) { return H - B - (b - y0) / (y1 - y0) * (H - T - B); };
  using detail::svg_num;
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + svg_num(W) + "\" height=\"" + svg_num(H) +
                  "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + svg_num(W / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"13\">" + detail::svg_escape(p.title) + "</text>\n";
  o += "<rect x=\"" + svg_num(L) + "\" y=\"" + svg_num(T) + "\" width=\"" + svg_num(W - L - R) + "\" height=\"" +
       svg_num(H - T - B) + "\" fill=\"none\" stroke=\"black\"/>\n";
  for (int k = 0; k <= 4; ++k) {
    const double a = x0 + (x1 - x0) * k / 4, b = y0 + (y1 - y0) * k / 4;
    o += "<text x=\"" + svg_num(X(a)) + "\" y=\"" + svg_num(H - B + 16) + "\" text-anchor=\"middle\">" +
         detail::tick_label(a, p.log_x) + "</text>\n";
    o += "<text x=\"" + svg_num(L - 6) + "\" y=\"" + svg_num(Y(b) + 4) + "\" text-anchor=\"end\">" +
         detail::tick_label(b, p.log_y) + "</text>\n";
  }
  o += "<text x=\"" + svg_num((L + W - R) / 2) + "\" y=\"" + svg_num(H - 18) + "\" text-anchor=\"middle\">" +
       detail::svg_escape(p.x_label) + "</text>\n";
  o += "<text transform=\"translate(18," + svg_num((T + H - B) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       detail::svg_escape(p.y_label) + "</text>\n";
  if (p.diagonal)
    o += "<line x1=\"" + svg_num(X(x0)) + "\" y1=\"" + svg_num(Y(x0)) + "\" x2=\"" + svg_num(X(x1)) + "\" y2=\"" +
         svg_num(Y(x1)) + "\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n";
  int clipped = 0;
  for (std::size_t si = 0; si < p.series.size(); ++si) {
    const auto& s = p.series[si];
    const std::string c = colours[si % 10];
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      double a = tx(s.x[i]), b = ty(s.y[i]);
      const bool floor = !std::isfinite(a) || !std::isfinite(b);
      if (!std::isfinite(a)) a = x0;
      if (!std::isfinite(b)) b = y0;
      clipped += floor;
      o += "<circle cx=\"" + svg_num(X(a)) + "\" cy=\"" + svg_num(Y(b)) + "\" r=\"3\" " +
           (floor ? "fill=\"none\" stroke=\"" + c + "\"" : "fill=\"" + c + "\" fill-opacity=\"0.75\"") + "/>\n";
    }
    o += "<circle cx=\"" + svg_num(W - R + 16) + "\" cy=\"" + svg_num(T + 10 + 16.0 * static_cast<double>(si)) +
         "\" r=\"4\" fill=\"" + c + "\"/><text x=\"" + svg_num(W - R + 26) + "\" y=\"" +
         svg_num(T + 14 + 16.0 * static_cast<double>(si)) + "\">" + detail::svg_escape(s.name) + "</text>\n";
  }
  if (clipped)
    o += "<text x=\"" + svg_num(L) + "\" y=\"" + svg_num(H - 4) + "\">hollow: " + std::to_string(clipped) +
         " points with a value &lt;= 0 drawn on the log axis floor</text>\n";
  return o + "</svg>\n";
}

}  // namespace prismaquant::validate
