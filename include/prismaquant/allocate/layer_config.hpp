#pragma once
// The allocation as files (docs/file-formats.md): `layer_config.json` (a format per kept
// checkpoint Linear, the reference's AutoRound-style entries plus our "fmt") and its prune
// manifest `<layer_config>.prune.json` (per router: the experts dropped and the renumbering of
// those kept). Writers for `prismaquant allocate`, strict readers for the commands that apply
// an allocation (export, eval): every problem is one prismaquant::error naming the file, the
// entry and the field. Host only.
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/stats/detail/json_util.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace prismaquant::allocate {

// ---- layer_config.json -------------------------------------------------------------------

// The reference's AutoRound-style entry for a canonical format name (its canonicalize_format
// maps these back); formats the reference does not know get data_type "prismaquant".
inline nlohmann::json layer_config_entry(const std::string& fmt) {
  using nlohmann::json;
  auto e = [&](int bits, int gs, const char* dt) { return json{{"bits", bits}, {"group_size", gs}, {"data_type", dt}, {"fmt", fmt}}; };
  if (fmt == "NVFP4" || fmt == "NVFP4A16") return e(4, 16, "nv_fp");
  if (fmt == "MXFP4") return e(4, 32, "mx_fp");
  if (fmt == "MXFP8_E4M3") return e(8, 32, "mx_fp");
  if (fmt == "MXFP8_E5M2") { auto j = e(8, 32, "mx_fp"); j["weight_element_dtype"] = "fp8_e5m2"; return j; }
  if (fmt == "FP8_SOURCE") return e(8, 128, "fp8_e4m3");
  if (fmt == "FP8_E4M3") return e(8, -1, "fp8_e4m3");
  if (fmt == "BF16") return e(16, -1, "float");
  if (const auto* f = formats::find_if_known(fmt))
    return e(f->element_bits, f->block_cols > 0 ? static_cast<int>(f->block_cols) : -1, "prismaquant");
  return e(0, -1, "prismaquant");
}

struct layer_format {
  std::string fmt;  // canonical format name (formats/registry.hpp)
  int bits = 0;
  int group_size = 0;
  std::string data_type;
};

struct layer_config {
  std::map<std::string, layer_format> linears;  // checkpoint module name -> its format
  // The entry for `module`, or nullptr when the allocation does not list it (a dropped
  // expert, or a module left as it is).
  const layer_format* find(const std::string& module) const {
    auto it = linears.find(module);
    return it == linears.end() ? nullptr : &it->second;
  }
};

// Deterministic text: keys sorted, one space indent (what `prismaquant allocate` writes).
inline std::string layer_config_text(const std::map<std::string, std::string>& format_of_module) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [m, fmt] : format_of_module) j[m] = layer_config_entry(fmt);
  return j.dump(1) + "\n";
}

namespace detail {
using stats::detail::ctx;
using stats::detail::json;

// A JSON integer within [lo, hi]; anything else (a float, a string, out of range) is an error.
inline long long int_in(const json& v, const std::string& name, const ctx& c, long long lo, long long hi) {
  if (v.is_number_unsigned()) {
    if (v.get<unsigned long long>() > static_cast<unsigned long long>(hi))
      c.fail("field \"" + name + "\" is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
    return static_cast<long long>(v.get<unsigned long long>());
  }
  if (!v.is_number_integer()) c.fail("field \"" + name + "\" must be an integer, got " + v.dump());
  const long long x = v.get<long long>();
  if (x < lo || x > hi) c.fail("field \"" + name + "\" is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
  return x;
}

// The format of an entry without "fmt" (one the reference wrote), by the rules of the
// reference's canonicalize_format (RobTand/prismaquant, prismaquant/layer_config.py) for the
// formats this library has; empty when none applies.
inline std::string format_of_entry(int bits, int group_size, const std::string& dt, const json& e) {
  const std::string elt = e.contains("weight_element_dtype") && e["weight_element_dtype"].is_string()
                              ? e["weight_element_dtype"].get<std::string>() : "fp8_e4m3";
  if (dt == "nv_fp" && bits == 4) return "NVFP4";
  if (dt == "mx_fp" && bits == 4) return "MXFP4";
  if (dt == "mx_fp" && bits == 8) return elt == "fp8_e5m2" ? "MXFP8_E5M2" : "MXFP8_E4M3";
  if ((dt == "float" || dt == "bfloat16") && (bits == 16 || bits == 0)) return "BF16";
  if (dt == "fp8_e4m3" && bits == 8) return group_size == 128 ? "FP8_SOURCE" : group_size <= 0 ? "FP8_E4M3" : "MXFP8_E4M3";
  return {};
}
}  // namespace detail

inline layer_config read_layer_config(const std::filesystem::path& path) {
  using namespace stats::detail;
  const json j = parse_json(path);
  const ctx c{path.string()};
  if (!j.is_object()) c.fail("top level must be a JSON object keyed by module name");
  layer_config out;
  for (const auto& [name, e] : j.items()) {
    const ctx ce = c.sub("\"" + name + "\"");
    if (name.empty()) c.fail("empty module name");
    if (!e.is_object()) ce.fail("must be an object with bits, group_size, data_type");
    layer_format f;
    f.bits = static_cast<int>(detail::int_in(need(e, "bits", ce), "bits", ce, 0, 64));
    f.group_size = static_cast<int>(detail::int_in(need(e, "group_size", ce), "group_size", ce, -1, INT_MAX));
    f.data_type = string_field(need(e, "data_type", ce), "data_type", ce);
    if (e.contains("fmt")) {
      f.fmt = string_field(e["fmt"], "fmt", ce);
      formats::find(f.fmt, ce.where + ": field \"fmt\"");  // unknown: an error listing the known names
      const json want = layer_config_entry(f.fmt);
      if (want["bits"] != f.bits || want["group_size"] != f.group_size || want["data_type"] != f.data_type)
        ce.fail("\"fmt\": \"" + f.fmt + "\" is stored as bits " + want["bits"].dump() + ", group_size " +
                want["group_size"].dump() + ", data_type " + want["data_type"].dump() + ", not " + std::to_string(f.bits) +
                ", " + std::to_string(f.group_size) + ", \"" + f.data_type + "\"");
    } else {
      f.fmt = detail::format_of_entry(f.bits, f.group_size, f.data_type, e);
      if (f.fmt.empty())
        ce.fail("bits " + std::to_string(f.bits) + ", group_size " + std::to_string(f.group_size) + ", data_type \"" +
                f.data_type + "\" is no format this library knows (add \"fmt\")");
    }
    out.linears.emplace(name, std::move(f));
  }
  return out;
}

// ---- <layer_config>.prune.json -----------------------------------------------------------

// The reference's name: the layer config's full file name plus ".prune.json".
inline std::filesystem::path prune_manifest_path(const std::filesystem::path& layer_config) {
  auto p = layer_config;
  p += ".prune.json";
  return p;
}

struct router_prune {
  int num_experts_orig = 0;
  std::vector<int> pruned;  // sorted
  std::vector<int> kept;    // sorted: kept[new id] = original id
  bool dropped(int expert) const { return std::binary_search(pruned.begin(), pruned.end(), expert); }
  // The expert's id after pruning, or -1 when it is dropped.
  int new_id(int expert) const {
    auto it = std::lower_bound(kept.begin(), kept.end(), expert);
    return it != kept.end() && *it == expert ? static_cast<int>(it - kept.begin()) : -1;
  }
};

struct prune_manifest {
  std::map<std::string, router_prune> routers;  // by router module name; absent = nothing dropped
  const router_prune* find(const std::string& router) const {
    auto it = routers.find(router);
    return it == routers.end() ? nullptr : &it->second;
  }
};

// Per router: its expert count and the dropped ids (any order; written sorted).
inline std::string prune_manifest_text(const std::map<std::string, std::pair<int, std::vector<int>>>& dropped_by_router) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [router, ed] : dropped_by_router) {
    const int E = ed.first;
    std::vector<int> d = ed.second;
    std::sort(d.begin(), d.end());
    std::vector<int> kept;
    for (int e = 0; e < E; ++e)
      if (!std::binary_search(d.begin(), d.end(), e)) kept.push_back(e);
    nlohmann::json o2n = nlohmann::json::object();
    for (std::size_t i = 0; i < kept.size(); ++i) o2n[std::to_string(kept[i])] = static_cast<int>(i);
    j[router] = {{"num_experts_orig", E},
                 {"num_experts_kept", static_cast<int>(kept.size())},
                 {"pruned_expert_ids", d},
                 {"kept_expert_ids", kept},
                 {"orig_to_new_eid", o2n}};
  }
  return j.dump(1) + "\n";
}

inline prune_manifest read_prune_manifest(const std::filesystem::path& path) {
  using namespace stats::detail;
  const json j = parse_json(path);
  const ctx c{path.string()};
  if (!j.is_object()) c.fail("top level must be a JSON object keyed by router module name");
  prune_manifest out;
  for (const auto& [router, entry] : j.items()) {
    const json& e = entry;  // a plain reference: lambdas may capture it (clang 14 cannot capture bindings)
    const ctx cr = c.sub("\"" + router + "\"");
    if (router.empty()) c.fail("empty router name");
    if (!e.is_object()) cr.fail("must be an object");
    router_prune p;
    constexpr long long max_experts = 1 << 20;
    p.num_experts_orig = static_cast<int>(detail::int_in(need(e, "num_experts_orig", cr), "num_experts_orig", cr, 1, max_experts));
    const int E = p.num_experts_orig;
    const int n_kept = static_cast<int>(detail::int_in(need(e, "num_experts_kept", cr), "num_experts_kept", cr, 1, E));
    auto ids = [&](const char* key) {
      const json& a = need(e, key, cr);
      if (!a.is_array()) cr.fail(std::string("field \"") + key + "\" must be an array of expert ids");
      std::vector<int> v;
      for (const auto& x : a) {
        const int id = static_cast<int>(detail::int_in(x, std::string(key) + "[]", cr, 0, E - 1));
        if (!v.empty() && id <= v.back()) cr.fail(std::string("field \"") + key + "\" must be sorted without repeats");
        v.push_back(id);
      }
      return v;
    };
    p.pruned = ids("pruned_expert_ids");
    p.kept = ids("kept_expert_ids");
    if (static_cast<int>(p.kept.size()) != n_kept)
      cr.fail("num_experts_kept is " + std::to_string(n_kept) + " but kept_expert_ids lists " + std::to_string(p.kept.size()));
    if (p.pruned.size() + p.kept.size() != static_cast<std::size_t>(E))
      cr.fail("pruned and kept ids do not add up to num_experts_orig = " + std::to_string(E));
    for (int id : p.pruned)
      if (std::binary_search(p.kept.begin(), p.kept.end(), id))
        cr.fail("expert " + std::to_string(id) + " is both pruned and kept");
    const json& o2n = need(e, "orig_to_new_eid", cr);
    if (!o2n.is_object() || o2n.size() != p.kept.size())
      cr.fail("\"orig_to_new_eid\" must map every kept expert id to its new id");
    for (std::size_t i = 0; i < p.kept.size(); ++i) {
      auto it = o2n.find(std::to_string(p.kept[i]));
      if (it == o2n.end()) cr.fail("\"orig_to_new_eid\" lacks kept expert " + std::to_string(p.kept[i]));
      if (detail::int_in(*it, "orig_to_new_eid[\"" + std::to_string(p.kept[i]) + "\"]", cr, 0, E - 1) !=
          static_cast<long long>(i))
        cr.fail("\"orig_to_new_eid\" maps expert " + std::to_string(p.kept[i]) + " to " + it->dump() + ", expected " +
                std::to_string(i) + " (kept experts keep their order)");
    }
    out.routers.emplace(router, std::move(p));
  }
  return out;
}

}  // namespace prismaquant::allocate
