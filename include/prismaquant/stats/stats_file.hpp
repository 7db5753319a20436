#pragma once
// The stats file (docs/file-formats.md "Stats file"): per-Linear statistics and per-router
// expert accumulators, read and written by the library, merged across shards.
// Version 2 (written now) adds fisher_token_sum, input_amax, the re-routing sums, exact
// remainders of the vectors (shard files), the probe's settings and, when asked for, the
// first-order sums per format; version 1 files still read.
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/stats/document.hpp>
#include <prismaquant/stats/expert_stats.hpp>
#include <prismaquant/stats/linear_stats.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace prismaquant::stats {

struct model_stats {
  std::vector<std::string> shards;                 // names of the shards merged into this
  nlohmann::json probe = nlohmann::json::object(); // the settings of the probe that wrote it
  std::map<std::string, linear_stats> linears;     // by checkpoint module name
  std::map<std::string, router_stats> routers;     // by router module name

  void validate(const std::string& where) const {
    for (auto& [n, l] : linears) l.validate(where);
    for (auto& [n, r] : routers) r.validate(where);
  }
};

namespace detail {

inline json sum_to_json(const exact_sum& s) {
  const auto p = s.canonical();
  if (p.empty()) return 0.0;
  if (p.size() == 1) return p[0];
  return json(p);  // exact expansion: the value is the exact sum of these doubles
}

inline exact_sum sum_from_json(const json& v, const std::string& name, const ctx& c) {
  if (v.is_number()) return exact_sum(nonneg_number(v, name, c));
  if (v.is_array()) {
    std::vector<double> p;
    for (auto& x : v) p.push_back(finite_number(x, name, c));
    auto s = exact_sum::from_partials(p);
    if (s.value() < 0.0) c.fail("field \"" + name + "\" is negative");
    return s;
  }
  c.fail("field \"" + name + "\" must be a number or an array of partial sums");
}

// A sum that may be negative (reroute_first).
inline exact_sum signed_sum_from_json(const json& v, const std::string& name, const ctx& c) {
  if (v.is_number()) return exact_sum(finite_number(v, name, c));
  if (v.is_array()) {
    std::vector<double> p;
    for (auto& x : v) p.push_back(finite_number(x, name, c));
    return exact_sum::from_partials(p);
  }
  c.fail("field \"" + name + "\" must be a number or an array of partial sums");
}

// The remainder rows of a vector field ("<name>_rest"): inline [[...], ...] or a side tensor
// holding the rows one after another.
inline std::vector<std::vector<double>> read_rest(const json& v, const std::string& name, std::size_t n, const ctx& c,
                                                  const side_tensors* side) {
  std::vector<std::vector<double>> rows;
  if (v.is_array()) {
    for (auto& r : v) {
      if (!r.is_array()) c.fail("field \"" + name + "\" must be an array of rows");
      rows.push_back(read_vector(r, name, c, side));
    }
  } else {
    const auto flat = read_vector(v, name, c, side);
    if (n == 0 || flat.size() % n) c.fail("field \"" + name + "\" is not a whole number of rows");
    for (std::size_t k = 0; k < flat.size() / n; ++k) rows.emplace_back(flat.begin() + k * n, flat.begin() + (k + 1) * n);
  }
  for (auto& r : rows)
    if (r.size() != n) c.fail("field \"" + name + "\" rows must have " + std::to_string(n) + " entries");
  return rows;
}

}  // namespace detail

// ---- reading ---------------------------------------------------------------------------------
// Experts per router the reader accepts (real MoE models have at most a few hundred).
inline constexpr std::int64_t max_experts = 1 << 16;

inline model_stats read_stats(const std::filesystem::path& path) {
  using namespace detail;
  const document doc = open_document(path, "prismaquant.stats", 2);
  const json& j = doc.j;
  const ctx& c = doc.c;
  const side_tensors* sidep = doc.side_ptr();
  const int version = j.value("version", 1);
  model_stats m;
  if (j.contains("probe")) {
    if (!j["probe"].is_object()) c.fail("\"probe\" must be an object");
    m.probe = j["probe"];
  }
  if (j.contains("shards")) {
    if (!j["shards"].is_array()) c.fail("\"shards\" must be an array of names");
    for (auto& s : j["shards"]) m.shards.push_back(string_field(s, "shards[]", c));
  }
  if (j.contains("linears")) {
    const json& L = j["linears"];
    if (!L.is_object()) c.fail("\"linears\" must be an object keyed by module name");
    for (auto& [name, e] : L.items()) {
      const ctx cl = c.sub("linears[\"" + name + "\"]");
      linear_stats s;
      s.name = name;
      read_shape(e, cl, s.out_features, s.in_features);
      try {
        s.source_dtype = parse_dtype(string_field(need(e, "source_dtype", cl), "source_dtype", cl));
      } catch (const error& ex) {
        cl.fail(ex.what());
      }
      if (e.contains("source_block")) {
        const json& b = e["source_block"];
        if (!b.is_array() || b.size() != 2) cl.fail("\"source_block\" must be [block_out, block_in]");
        s.source_block_out = positive_int(b[0], "source_block[0]", cl);
        s.source_block_in = positive_int(b[1], "source_block[1]", cl);
      }
      s.rows_seen = nonneg_int(need(e, "rows_seen", cl), "rows_seen", cl);
      if (e.contains("fisher_sum")) {
        s.fisher_sum = sum_from_json(e["fisher_sum"], "fisher_sum", cl);
      } else if (version >= 2 && !e.contains("h_trace")) {
        s.has_fisher = false;  // the probe was not asked for it
      } else {
        const double h = nonneg_number(need(e, "h_trace", cl), "h_trace", cl);
        s.fisher_sum = exact_sum(h * static_cast<double>(s.rows_seen));
        if (s.rows_seen == 0 && h != 0.0) cl.fail("h_trace is non-zero but rows_seen is 0");
      }
      if (e.contains("h_row_sum")) s.h_row_sum = read_vector(e["h_row_sum"], "h_row_sum", cl, sidep);
      if (e.contains("xtx_diag")) s.xtx_diag = read_vector(e["xtx_diag"], "xtx_diag", cl, sidep);
      if (e.contains("h_row_sum_rest"))
        s.h_row_rest = read_rest(e["h_row_sum_rest"], "h_row_sum_rest", s.h_row_sum.size(), cl, sidep);
      if (e.contains("xtx_diag_rest"))
        s.xtx_diag_rest = read_rest(e["xtx_diag_rest"], "xtx_diag_rest", s.xtx_diag.size(), cl, sidep);
      if (e.contains("fisher_token_sum"))
        s.fisher_token_sum = sum_from_json(e["fisher_token_sum"], "fisher_token_sum", cl);
      if (e.contains("input_amax")) s.input_amax = nonneg_number(e["input_amax"], "input_amax", cl);
      if (e.contains("first_order_sum")) {
        const json& F = e["first_order_sum"];
        if (!F.is_object()) cl.fail("\"first_order_sum\" must be an object keyed by format name");
        for (auto& [f, v] : F.items()) s.first_order_sum[f] = signed_sum_from_json(v, "first_order_sum." + f, cl);
      }
      s.validate(path.string());
      m.linears.emplace(name, std::move(s));
    }
  }
  if (j.contains("routers")) {
    const json& R = j["routers"];
    if (!R.is_object()) c.fail("\"routers\" must be an object keyed by router module name");
    for (auto& [name, e] : R.items()) {
      const ctx cr = c.sub("routers[\"" + name + "\"]");
      router_stats r;
      r.name = name;
      r.num_experts = static_cast<int>(int_in(need(e, "num_experts", cr), "num_experts", cr, 1, max_experts));
      r.top_k = static_cast<int>(int_in(need(e, "top_k", cr), "top_k", cr, 1, r.num_experts));
      r.experts_prefix = string_field(need(e, "experts_prefix", cr), "experts_prefix", cr);
      const json& D = need(e, "domains", cr);
      if (!D.is_object() || D.empty()) cr.fail("\"domains\" must be a non-empty object");
      for (auto& [dname, dentry] : D.items()) {
        const json& de = dentry;  // a plain reference: lambdas may capture it (clang 14 cannot capture bindings)
        const ctx cd = cr.sub("domains[\"" + dname + "\"]");
        domain_acc& acc = r.domain(dname);
        acc.total_tokens = nonneg_int(need(de, "total_tokens", cd), "total_tokens", cd);
        auto arr = [&](const char* key) -> const json& {
          const json& a = need(de, key, cd);
          if (!a.is_array()) cd.fail(std::string("\"") + key + "\" must be an array");
          if (static_cast<int>(a.size()) != r.num_experts)
            cd.fail(std::string("\"") + key + "\" has " + std::to_string(a.size()) + " entries, expected num_experts = " +
                    std::to_string(r.num_experts) + " (missing expert?)");
          return a;
        };
        const json& cnt = arr("count");
        const json& sgn = arr("sum_g_norm");
        const json& sgn2 = arr("sum_g_norm_sq");
        const json& sg = arr("sum_g");
        const json& sn = arr("sum_norm");
        const json& sn2 = arr("sum_norm_sq");
        const json& mx = arr("max_g_norm");
        const int rr = de.contains("reroute_first") + de.contains("reroute_fisher") + de.contains("reroute_sq");
        if (rr != 0 && rr != 3) cd.fail("reroute_first, reroute_fisher and reroute_sq come together");
        const json* rf = rr ? &arr("reroute_first") : nullptr;
        const json* rfi = rr ? &arr("reroute_fisher") : nullptr;
        const json* rsq = rr ? &arr("reroute_sq") : nullptr;
        for (int x = 0; x < r.num_experts; ++x) {
          const ctx ce = cd.sub("expert " + std::to_string(x));
          auto& ex = acc.experts[static_cast<std::size_t>(x)];
          ex.count = nonneg_int(cnt[x], "count", ce);
          ex.sum_g_norm = sum_from_json(sgn[x], "sum_g_norm", ce);
          ex.sum_g_norm_sq = sum_from_json(sgn2[x], "sum_g_norm_sq", ce);
          ex.sum_g = sum_from_json(sg[x], "sum_g", ce);
          ex.sum_norm = sum_from_json(sn[x], "sum_norm", ce);
          ex.sum_norm_sq = sum_from_json(sn2[x], "sum_norm_sq", ce);
          ex.max_g_norm = nonneg_number(mx[x], "max_g_norm", ce);
          if (rr) {
            ex.reroute = true;
            ex.reroute_first = signed_sum_from_json((*rf)[x], "reroute_first", ce);
            ex.reroute_fisher = sum_from_json((*rfi)[x], "reroute_fisher", ce);
            ex.reroute_sq = sum_from_json((*rsq)[x], "reroute_sq", ce);
          }
        }
      }
      r.validate(path.string());
      m.routers.emplace(name, std::move(r));
    }
  }
  return m;
}

// ---- writing ---------------------------------------------------------------------------------
// Vectors longer than `inline_limit` go to a safetensors side file named
// <stem>.safetensors next to the JSON (F64, exact). Output is deterministic. With
// `exact_vectors` the vectors' remainders are written too (shard files: they merge exactly);
// without, each element is its correctly rounded value.
inline void write_stats(const std::filesystem::path& path, const model_stats& m, std::size_t inline_limit = 64,
                        bool exact_vectors = false) {
  using namespace detail;
  json j;
  j["format"] = "prismaquant.stats";
  j["version"] = 2;
  if (!m.shards.empty()) j["shards"] = m.shards;
  if (!m.probe.empty()) j["probe"] = m.probe;
  side_tensors side;
  auto vec = [&](const std::vector<double>& v, const std::string& tname) -> json {
    if (v.size() <= inline_limit) return json(v);
    side.put(tname, v);
    return json{{"tensor", tname}};
  };
  json L = json::object();
  for (auto& [name, s] : m.linears) {
    json e;
    e["shape"] = {s.out_features, s.in_features};
    e["source_dtype"] = std::string(dtype_name(s.source_dtype));
    if (s.source_block_out) e["source_block"] = {s.source_block_out, s.source_block_in};
    e["rows_seen"] = s.rows_seen;
    if (s.has_fisher) {
      e["h_trace"] = s.h_trace();
      e["fisher_sum"] = sum_to_json(s.fisher_sum);
    }
    if (s.fisher_token_sum) e["fisher_token_sum"] = sum_to_json(*s.fisher_token_sum);
    if (s.input_amax) e["input_amax"] = *s.input_amax;
    if (!s.first_order_sum.empty()) {
      json F = json::object();
      for (const auto& [f, v] : s.first_order_sum) F[f] = sum_to_json(v);
      e["first_order_sum"] = std::move(F);
    }
    auto rest = [&](const std::vector<std::vector<double>>& rows, const std::string& tname) -> json {
      std::vector<double> flat;
      for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
      if (flat.size() <= inline_limit) return json(rows);
      side.put(tname, flat);
      return json{{"tensor", tname}};
    };
    if (!s.h_row_sum.empty()) {
      e["h_row_sum"] = vec(s.h_row_sum, name + ".h_row_sum");
      if (exact_vectors && !s.h_row_rest.empty()) e["h_row_sum_rest"] = rest(s.h_row_rest, name + ".h_row_sum.rest");
    }
    if (!s.xtx_diag.empty()) {
      e["xtx_diag"] = vec(s.xtx_diag, name + ".xtx_diag");
      if (exact_vectors && !s.xtx_diag_rest.empty()) e["xtx_diag_rest"] = rest(s.xtx_diag_rest, name + ".xtx_diag.rest");
    }
    L[name] = std::move(e);
  }
  j["linears"] = std::move(L);
  json R = json::object();
  for (auto& [name, r] : m.routers) {
    json e;
    e["num_experts"] = r.num_experts;
    e["top_k"] = r.top_k;
    e["experts_prefix"] = r.experts_prefix;
    json D = json::object();
    for (auto& [dname, acc] : r.domains) {
      json d;
      d["total_tokens"] = acc.total_tokens;
      json cnt = json::array(), sgn = json::array(), sgn2 = json::array(), sg = json::array(), sn = json::array(),
           sn2 = json::array(), mx = json::array();
      for (auto& ex : acc.experts) {
        cnt.push_back(ex.count);
        sgn.push_back(sum_to_json(ex.sum_g_norm));
        sgn2.push_back(sum_to_json(ex.sum_g_norm_sq));
        sg.push_back(sum_to_json(ex.sum_g));
        sn.push_back(sum_to_json(ex.sum_norm));
        sn2.push_back(sum_to_json(ex.sum_norm_sq));
        mx.push_back(ex.max_g_norm);
      }
      d["count"] = cnt; d["sum_g_norm"] = sgn; d["sum_g_norm_sq"] = sgn2; d["sum_g"] = sg;
      d["sum_norm"] = sn; d["sum_norm_sq"] = sn2; d["max_g_norm"] = mx;
      if (!acc.experts.empty() && acc.experts.front().reroute) {
        json rf = json::array(), rfi = json::array(), rsq = json::array();
        for (auto& ex : acc.experts) {
          rf.push_back(sum_to_json(ex.reroute_first));
          rfi.push_back(sum_to_json(ex.reroute_fisher));
          rsq.push_back(sum_to_json(ex.reroute_sq));
        }
        d["reroute_first"] = rf; d["reroute_fisher"] = rfi; d["reroute_sq"] = rsq;
      }
      D[dname] = std::move(d);
    }
    e["domains"] = std::move(D);
    R[name] = std::move(e);
  }
  j["routers"] = std::move(R);
  write_document(path, std::move(j), side);
}

namespace detail {
// "I/N" (a probe shard's name) -> {I, N}; {-1, -1} for any other name.
inline std::pair<long, long> shard_index(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) return {-1, -1};
  long i = -1, n = -1;
  const char* b = s.data();
  const auto r1 = std::from_chars(b, b + slash, i);
  const auto r2 = std::from_chars(b + slash + 1, b + s.size(), n);
  if (r1.ec != std::errc{} || r1.ptr != b + slash || r2.ec != std::errc{} || r2.ptr != b + s.size() || i < 0 || i >= n)
    return {-1, -1};
  return {i, n};
}
}  // namespace detail

// Merge shards into one. Every sum, vectors included, is exact, so the order of the parts does
// not matter. Probe shards are named "I/N": the same one twice, or shards of different runs
// (different "probe" settings), are refused; a complete set 0/N … N−1/N merges into a file
// without a "shards" list, byte-identical to the single-process run's.
inline model_stats merge_shards(std::vector<model_stats> parts) {
  std::stable_sort(parts.begin(), parts.end(), [](const model_stats& a, const model_stats& b) {
    const std::string ka = a.shards.empty() ? std::string{} : a.shards.front();
    const std::string kb = b.shards.empty() ? std::string{} : b.shards.front();
    return ka < kb;
  });
  model_stats out;
  if (!parts.empty()) out.probe = parts.front().probe;
  for (auto& p : parts)
    if (p.probe != out.probe)
      throw error("merge", "the parts come from probes with different settings (\"probe\" differs: " + p.probe.dump() +
                               " vs " + out.probe.dump() + ")");
  for (auto& p : parts) {
    for (auto& s : p.shards) {
      if (detail::shard_index(s).first >= 0 && std::find(out.shards.begin(), out.shards.end(), s) != out.shards.end())
        throw error("merge", "shard " + s + " is given twice");
      out.shards.push_back(s);
    }
    for (auto& [n, l] : p.linears) {
      auto it = out.linears.find(n);
      if (it == out.linears.end()) out.linears.emplace(n, l);
      else it->second.merge(l);
    }
    for (auto& [n, r] : p.routers) {
      auto it = out.routers.find(n);
      if (it == out.routers.end()) out.routers.emplace(n, r);
      else it->second.merge(r);
    }
  }
  std::sort(out.shards.begin(), out.shards.end());
  // a complete set of probe shards is the whole run
  if (!out.shards.empty()) {
    const long n = detail::shard_index(out.shards.front()).second;
    bool complete = n > 0 && static_cast<long>(out.shards.size()) == n;
    for (const auto& s : out.shards) complete = complete && detail::shard_index(s).second == n;
    if (complete) out.shards.clear();
  }
  return out;
}

}  // namespace prismaquant::stats
