#pragma once
// The allocation as files (docs/file-formats.md): `layer_config.json` (a format per kept
// checkpoint Linear, the reference's AutoRound-style entries plus our "fmt") and its prune
// manifest `<layer_config>.prune.json` (per router: the experts dropped and the renumbering of
// those kept). Writers for `prismaquant allocate`, strict readers for the commands that apply
// an allocation (export, eval): every problem is one prismaquant::error naming the file, the
// entry and the field. Host only.
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/json.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::allocate {

// ---- layer_config.json -------------------------------------------------------------------

// The reference's AutoRound-style entry of a format, from the format's own facts
// (formats/format.hpp section 3: bits = element_bits, group_size = the block width or -1,
// data_type, weight_element_dtype where the format states one); the reference's
// canonicalize_format maps these back, and formats it does not know say data_type
// "prismaquant" unless they state their own.
inline nlohmann::json layer_config_entry(const formats::format_entry& f) {
  nlohmann::json j{{"bits", f.element_bits},
                   {"group_size", f.group_size()},
                   {"data_type", std::string(f.data_type)},
                   {"fmt", std::string(f.name)}};
  if (!f.element_dtype.empty()) j["weight_element_dtype"] = std::string(f.element_dtype);
  return j;
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
// `known`: the formats the names refer to (default: the built-in registry).
inline std::string layer_config_text(const std::map<std::string, std::string>& format_of_module,
                                     std::span<const formats::format_entry> known = formats::registry()) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [m, fmt] : format_of_module) j[m] = layer_config_entry(formats::find(fmt, known, m));
  return j.dump(1) + "\n";
}

namespace detail {
using strict_json::ctx;
using strict_json::json;

// The format of an entry without "fmt" (one the reference wrote). The reference's
// canonicalize_format (RobTand/prismaquant, prismaquant/layer_config.py) reads nv_fp and mx_fp
// by their bits (mx_fp 8 by weight_element_dtype, E4M3 unless it says fp8_e5m2), float and
// bfloat16 of 16 (or 0) bits as BF16, and fp8_e4m3 by its group size: 128 is the source's
// blocks, none is per channel, any other is MX. The entry is restated in our own entries'
// terms (layer_config_entry) and the first format in `known` written that way is its format;
// nullptr when the reference has no rule for it.
inline const formats::format_entry* format_of_entry(int bits, int group_size, std::string dt, const json& e,
                                                    std::span<const formats::format_entry> known) {
  std::string elt = e.contains("weight_element_dtype") && e["weight_element_dtype"].is_string()
                        ? e["weight_element_dtype"].get<std::string>() : std::string{};
  std::optional<int> group;  // nullopt: any group size
  if (dt == "nv_fp" && bits == 4) {
    elt.clear();
  } else if (dt == "mx_fp" && (bits == 4 || bits == 8)) {
    if (bits == 4) elt.clear();
    else if (elt != "fp8_e5m2") elt = "fp8_e4m3";
  } else if ((dt == "float" || dt == "bfloat16") && (bits == 16 || bits == 0)) {
    dt = "float", bits = 16, elt.clear();
  } else if (dt == "fp8_e4m3" && bits == 8) {
    if (group_size == 128) group = 128, elt.clear();
    else if (group_size <= 0) group = -1, elt.clear();
    else dt = "mx_fp", elt = "fp8_e4m3";
  } else {
    return nullptr;
  }
  for (const auto& f : known)
    if (f.element_bits == bits && f.data_type == dt && (!group || f.group_size() == *group) &&
        (elt.empty() || f.element_dtype == elt))
      return &f;
  return nullptr;
}
}  // namespace detail

// `known`: the formats an entry's "fmt" may name (default: the built-in registry).
inline layer_config read_layer_config(const std::filesystem::path& path,
                                      std::span<const formats::format_entry> known = formats::registry()) {
  using namespace strict_json;
  const json j = read_file(path);
  const ctx c{path.string()};
  if (!j.is_object()) c.fail("top level must be a JSON object keyed by module name");
  layer_config out;
  for (const auto& [name, e] : j.items()) {
    const ctx ce = c.sub("\"" + name + "\"");
    if (name.empty()) c.fail("empty module name");
    if (!e.is_object()) ce.fail("must be an object with bits, group_size, data_type");
    layer_format f;
    f.bits = static_cast<int>(strict_json::int_in(need(e, "bits", ce), "bits", ce, 0, 64));
    f.group_size = static_cast<int>(strict_json::int_in(need(e, "group_size", ce), "group_size", ce, -1, INT_MAX));
    f.data_type = string_field(need(e, "data_type", ce), "data_type", ce);
    if (e.contains("fmt")) {
      f.fmt = string_field(e["fmt"], "fmt", ce);
      // unknown: an error listing the known names
      const json want = layer_config_entry(formats::find(f.fmt, known, ce.where + ": field \"fmt\""));
      if (want["bits"] != f.bits || want["group_size"] != f.group_size || want["data_type"] != f.data_type)
        ce.fail("\"fmt\": \"" + f.fmt + "\" is stored as bits " + want["bits"].dump() + ", group_size " +
                want["group_size"].dump() + ", data_type " + want["data_type"].dump() + ", not " + std::to_string(f.bits) +
                ", " + std::to_string(f.group_size) + ", \"" + f.data_type + "\"");
    } else {
      const auto* known_as = detail::format_of_entry(f.bits, f.group_size, f.data_type, e, known);
      if (known_as) f.fmt = known_as->name;
      else
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
  using namespace strict_json;
  const json j = read_file(path);
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
    p.num_experts_orig = static_cast<int>(strict_json::int_in(need(e, "num_experts_orig", cr), "num_experts_orig", cr, 1, max_experts));
    const int E = p.num_experts_orig;
    const int n_kept = static_cast<int>(strict_json::int_in(need(e, "num_experts_kept", cr), "num_experts_kept", cr, 1, E));
    auto ids = [&](const char* key) {
      const json& a = need(e, key, cr);
      if (!a.is_array()) cr.fail(std::string("field \"") + key + "\" must be an array of expert ids");
      std::vector<int> v;
      for (const auto& x : a) {
        const int id = static_cast<int>(strict_json::int_in(x, std::string(key) + "[]", cr, 0, E - 1));
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
      if (strict_json::int_in(*it, "orig_to_new_eid[\"" + std::to_string(p.kept[i]) + "\"]", cr, 0, E - 1) !=
          static_cast<long long>(i))
        cr.fail("\"orig_to_new_eid\" maps expert " + std::to_string(p.kept[i]) + " to " + it->dump() + ", expected " +
                std::to_string(i) + " (kept experts keep their order)");
    }
    out.routers.emplace(router, std::move(p));
  }
  return out;
}

}  // namespace prismaquant::allocate
