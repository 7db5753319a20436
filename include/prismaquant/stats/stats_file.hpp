#pragma once
// The stats file (docs/file-formats.md "Stats file"): per-Linear statistics and per-router
// expert accumulators, read and written by the library, merged across shards.
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/stats/detail/json_util.hpp>
#include <prismaquant/stats/expert_stats.hpp>
#include <prismaquant/stats/linear_stats.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace prismaquant::stats {

struct model_stats {
  std::vector<std::string> shards;                 // names of the shards merged into this
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

}  // namespace detail

// ---- reading ---------------------------------------------------------------------------------
// Experts per router the reader accepts (real MoE models have at most a few hundred).
inline constexpr std::int64_t max_experts = 1 << 16;

inline model_stats read_stats(const std::filesystem::path& path) {
  using namespace detail;
  const document doc = open_document(path, "prismaquant.stats");
  const json& j = doc.j;
  const ctx& c = doc.c;
  const side_tensors* sidep = doc.side_ptr();
  model_stats m;
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
      } else {
        const double h = nonneg_number(need(e, "h_trace", cl), "h_trace", cl);
        s.fisher_sum = exact_sum(h * static_cast<double>(s.rows_seen));
        if (s.rows_seen == 0 && h != 0.0) cl.fail("h_trace is non-zero but rows_seen is 0");
      }
      if (e.contains("h_row_sum")) s.h_row_sum = read_vector(e["h_row_sum"], "h_row_sum", cl, sidep);
      if (e.contains("xtx_diag")) s.xtx_diag = read_vector(e["xtx_diag"], "xtx_diag", cl, sidep);
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
      r.num_experts = static_cast<int>(int_in_range(need(e, "num_experts", cr), "num_experts", cr, 1, max_experts));
      r.top_k = static_cast<int>(int_in_range(need(e, "top_k", cr), "top_k", cr, 1, r.num_experts));
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
// <stem>.safetensors next to the JSON (F64, exact). Output is deterministic.
inline void write_stats(const std::filesystem::path& path, const model_stats& m, std::size_t inline_limit = 64) {
  using namespace detail;
  json j;
  j["format"] = "prismaquant.stats";
  j["version"] = 1;
  if (!m.shards.empty()) j["shards"] = m.shards;
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
    e["h_trace"] = s.h_trace();
    e["fisher_sum"] = sum_to_json(s.fisher_sum);
    if (!s.h_row_sum.empty()) e["h_row_sum"] = vec(s.h_row_sum, name + ".h_row_sum");
    if (!s.xtx_diag.empty()) e["xtx_diag"] = vec(s.xtx_diag, name + ".xtx_diag");
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
      D[dname] = std::move(d);
    }
    e["domains"] = std::move(D);
    R[name] = std::move(e);
  }
  j["routers"] = std::move(R);
  write_document(path, std::move(j), side);
}

// Merge shards into one. Shards are combined in the order of their names (the first entry of
// each shard's `shards` list, or its position if unnamed), so the vector sums are
// deterministic for a given set of shards; scalar sums and expert accumulators are exact in any
// order anyway.
inline model_stats merge_shards(std::vector<model_stats> parts) {
  std::stable_sort(parts.begin(), parts.end(), [](const model_stats& a, const model_stats& b) {
    const std::string ka = a.shards.empty() ? std::string{} : a.shards.front();
    const std::string kb = b.shards.empty() ? std::string{} : b.shards.front();
    return ka < kb;
  });
  model_stats out;
  for (auto& p : parts) {
    for (auto& s : p.shards) out.shards.push_back(s);
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
  return out;
}

}  // namespace prismaquant::stats
