#pragma once
// The costs file (docs/file-formats.md "Costs file"): per Linear, per format, the exact
// storage bytes and the quantization error statistics the Δloss proxies consume. Written by
// the cost engine (`prismaquant cost`), read by the allocator.
//
// Error statistics, with E = W − Ŵ (float32 weight minus its dequantised round trip):
//   sse          Σ_{r,j} E_rj²                    (always)
//   n            number of elements = out·in      (always)
//   max_abs_err  max |E_rj|                       (always)
//   sse_row[r]   Σ_j E_rj²                        (optional; per-row Fisher proxy)
//   act_sse      Σ_{r,j} m_j·E_rj², m_j = xtx_diag[j]/rows_seen of the stats file, i.e. the
//                diagonal approximation of E_x‖E x‖² (optional; activation-weighted proxy)
#include <prismaquant/core/error.hpp>
#include <prismaquant/stats/document.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace prismaquant::stats {

struct format_cost {
  std::int64_t bytes = 0;               // exact storage bytes of this Linear in this format
  std::int64_t n = 0;                   // elements
  double sse = 0.0;
  double max_abs_err = 0.0;
  std::vector<double> sse_row;          // optional (size out_features)
  std::optional<double> act_sse;        // optional

  double mse() const { return n > 0 ? sse / static_cast<double>(n) : 0.0; }
};

struct linear_costs {
  std::string name;
  std::int64_t out_features = 0;
  std::int64_t in_features = 0;
  std::map<std::string, format_cost> formats;  // by canonical format name
};

struct model_costs {
  std::map<std::string, linear_costs> linears;

  void validate(const std::string& where) const;
};

inline void validate_format_cost(const linear_costs& l, const std::string& fmt, const format_cost& c,
                                 const std::string& where) {
  const std::string w = where + ": linear \"" + l.name + "\" format \"" + fmt + "\"";
  if (c.bytes < 0) throw error(w, "bytes is negative");
  if (c.n != l.out_features * l.in_features)
    throw error(w, "n = " + std::to_string(c.n) + " does not match shape " + std::to_string(l.out_features) + "x" +
                       std::to_string(l.in_features));
  for (double v : {c.sse, c.max_abs_err})
    if (!std::isfinite(v) || v < 0.0) throw error(w, "error statistic is negative or not finite");
  if (c.act_sse && (!std::isfinite(*c.act_sse) || *c.act_sse < 0.0))
    throw error(w, "act_sse is negative or not finite");
  if (!c.sse_row.empty()) {
    if (static_cast<std::int64_t>(c.sse_row.size()) != l.out_features)
      throw error(w, "sse_row has " + std::to_string(c.sse_row.size()) + " entries, expected out_features = " +
                         std::to_string(l.out_features));
    double s = 0.0;
    for (double v : c.sse_row) {
      if (!std::isfinite(v) || v < 0.0) throw error(w, "sse_row has a negative or non-finite entry");
      s += v;
    }
    // The rows must add up to the total (float32 kernels: allow a small relative slack).
    if (std::fabs(s - c.sse) > 1e-4 * std::max(c.sse, s) + 1e-30)
      throw error(w, "sse_row sums to " + std::to_string(s) + " but sse is " + std::to_string(c.sse));
  }
  // max |e|² ≤ sse ≤ n·max|e|² (with float slack): catches swapped or garbage fields.
  if (c.max_abs_err * c.max_abs_err > c.sse * (1.0 + 1e-4) + 1e-30)
    throw error(w, "max_abs_err² exceeds sse (inconsistent error statistics)");
}

inline void model_costs::validate(const std::string& where) const {
  for (auto& [n, l] : linears) {
    if (l.out_features <= 0 || l.in_features <= 0) throw error(where + ": linear \"" + n + "\"", "shape must be positive");
    if (l.formats.empty()) throw error(where + ": linear \"" + n + "\"", "no formats");
    for (auto& [f, c] : l.formats) validate_format_cost(l, f, c, where);
  }
}

inline model_costs read_costs(const std::filesystem::path& path) {
  using namespace detail;
  const document doc = open_document(path, "prismaquant.costs");
  const json& j = doc.j;
  const ctx& c = doc.c;
  const side_tensors* sidep = doc.side_ptr();
  model_costs m;
  const json& L = need(j, "linears", c);
  if (!L.is_object()) c.fail("\"linears\" must be an object keyed by module name");
  for (auto& [name, e] : L.items()) {
    const ctx cl = c.sub("linears[\"" + name + "\"]");
    linear_costs l;
    l.name = name;
    read_shape(e, cl, l.out_features, l.in_features);
    const json& F = need(e, "formats", cl);
    if (!F.is_object() || F.empty()) cl.fail("\"formats\" must be a non-empty object keyed by format name");
    for (auto& [fmt, fe] : F.items()) {
      const ctx cf = cl.sub("formats[\"" + fmt + "\"]");
      format_cost fc;
      fc.bytes = nonneg_int(need(fe, "bytes", cf), "bytes", cf);
      fc.n = positive_int(need(fe, "n", cf), "n", cf);
      fc.sse = nonneg_number(need(fe, "sse", cf), "sse", cf);
      fc.max_abs_err = nonneg_number(need(fe, "max_abs_err", cf), "max_abs_err", cf);
      if (fe.contains("sse_row")) fc.sse_row = read_vector(fe["sse_row"], "sse_row", cf, sidep);
      if (fe.contains("act_sse")) fc.act_sse = nonneg_number(fe["act_sse"], "act_sse", cf);
      validate_format_cost(l, fmt, fc, path.string());
      l.formats.emplace(fmt, std::move(fc));
    }
    m.linears.emplace(name, std::move(l));
  }
  return m;
}

// Deterministic writer; vectors longer than inline_limit go to <stem>.safetensors.
inline void write_costs(const std::filesystem::path& path, const model_costs& m, std::size_t inline_limit = 64) {
  using namespace detail;
  m.validate(path.string());
  json j;
  j["format"] = "prismaquant.costs";
  j["version"] = 1;
  side_tensors side;
  json L = json::object();
  for (auto& [name, l] : m.linears) {
    json e;
    e["shape"] = {l.out_features, l.in_features};
    json F = json::object();
    for (auto& [fmt, c] : l.formats) {
      json f;
      f["bytes"] = c.bytes;
      f["n"] = c.n;
      f["sse"] = c.sse;
      f["max_abs_err"] = c.max_abs_err;
      if (!c.sse_row.empty()) {
        if (c.sse_row.size() <= inline_limit) f["sse_row"] = c.sse_row;
        else {
          const std::string t = name + "." + fmt + ".sse_row";
          side.put(t, c.sse_row);
          f["sse_row"] = {{"tensor", t}};
        }
      }
      if (c.act_sse) f["act_sse"] = *c.act_sse;
      F[fmt] = std::move(f);
    }
    e["formats"] = std::move(F);
    L[name] = std::move(e);
  }
  j["linears"] = std::move(L);
  write_document(path, std::move(j), side);
}

}  // namespace prismaquant::stats
