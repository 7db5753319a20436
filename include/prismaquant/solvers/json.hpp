#pragma once
// Problem and solution JSON (docs/solvers.md), host only.
//   problem:  {"items":[{"name": str, "n_params": int, "candidates":[{"fmt": str,
//              "memory_bytes": int, "dloss": float, "pruned_expert_ids": [int]}]}]}
//             (pruned_expert_ids optional; nothing else is accepted)
//   solution: {"status", "total_bytes", "achieved_bits", "dloss", "lower_bound", "gap",
//              "seconds", "choices": [{"name", "fmt", "index"}]}
#include <prismaquant/core/error.hpp>
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/solvers/flat.hpp>
#include <prismaquant/solvers/problem.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace prismaquant::solvers {

namespace detail {
inline const nlohmann::json& require(const nlohmann::json& o, const char* key, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end()) throw error(where, std::string("missing field \"") + key + "\"");
  return *it;
}
inline void only_keys(const nlohmann::json& o, std::initializer_list<const char*> keys, const std::string& where) {
  for (auto it = o.begin(); it != o.end(); ++it) {
    bool ok = false;
    for (auto k : keys) ok = ok || it.key() == k;
    if (!ok) throw error(where, "unknown field \"" + it.key() + "\"");
  }
}
inline std::int64_t get_int(const nlohmann::json& v, const std::string& where) {
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) throw error(where, "integer too large");
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  throw error(where, "must be an integer, got " + v.dump());
}
}  // namespace detail

// Strict conversion; `where` (the file name) prefixes every error.
inline problem problem_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw error(where, "the problem must be a JSON object with \"items\"");
  detail::only_keys(j, {"items"}, where);
  const auto& items = detail::require(j, "items", where);
  if (!items.is_array()) throw error(where, "\"items\" must be an array");
  problem p;
  p.items.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    std::string w = where + ": items[" + std::to_string(i) + "]";
    if (!it.is_object()) throw error(w, "must be an object");
    detail::only_keys(it, {"name", "n_params", "candidates"}, w);
    item out;
    const auto& name = detail::require(it, "name", w);
    if (!name.is_string() || name.get<std::string>().empty()) throw error(w, "\"name\" must be a non-empty string");
    out.name = name.get<std::string>();
    w = where + ": item \"" + out.name + "\"";
    out.n_params = detail::get_int(detail::require(it, "n_params", w), w + ": n_params");
    if (out.n_params <= 0) throw error(w, "n_params must be positive, got " + std::to_string(out.n_params));
    const auto& cands = detail::require(it, "candidates", w);
    if (!cands.is_array()) throw error(w, "\"candidates\" must be an array");
    if (cands.empty()) throw error(w, "empty candidate list");
    for (std::size_t c = 0; c < cands.size(); ++c) {
      const auto& cj = cands[c];
      const std::string cw = w + ": candidates[" + std::to_string(c) + "]";
      if (!cj.is_object()) throw error(cw, "must be an object");
      detail::only_keys(cj, {"fmt", "memory_bytes", "dloss", "pruned_expert_ids"}, cw);
      candidate cand;
      const auto& fmt = detail::require(cj, "fmt", cw);
      if (!fmt.is_string() || fmt.get<std::string>().empty()) throw error(cw, "\"fmt\" must be a non-empty string");
      cand.fmt = fmt.get<std::string>();
      cand.memory_bytes = detail::get_int(detail::require(cj, "memory_bytes", cw), cw + ": memory_bytes");
      if (cand.memory_bytes < 0) throw error(cw, "memory_bytes is negative (" + std::to_string(cand.memory_bytes) + ")");
      const auto& d = detail::require(cj, "dloss", cw);
      if (!d.is_number()) throw error(cw, "dloss must be a number, got " + d.dump());
      cand.dloss = d.get<double>();
      if (!std::isfinite(cand.dloss)) throw error(cw, "dloss is not finite");
      if (auto pe = cj.find("pruned_expert_ids"); pe != cj.end()) {
        if (!pe->is_array()) throw error(cw, "\"pruned_expert_ids\" must be an array of integers");
        for (auto& e : *pe) {
          const auto id = detail::get_int(e, cw + ": pruned_expert_ids");
          if (id < 0 || id > INT32_MAX) throw error(cw, "pruned_expert_ids: expert id " + std::to_string(id) + " out of range");
          cand.pruned_expert_ids.push_back(static_cast<int>(id));
        }
      }
      out.candidates.push_back(std::move(cand));
    }
    p.items.push_back(std::move(out));
  }
  validate(p, where);  // duplicate names, int64 overflow of the totals
  return p;
}

inline problem read_problem(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(where, "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Python's json.dump writes NaN / Infinity, which JSON does not have: say so plainly.
    const std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    for (const char* tok : {"NaN", "Infinity", "-Infinity"}) {
      const std::size_t from = at >= 10 ? at - 10 : 0;
      if (text.find(tok, from) != std::string::npos && text.find(tok, from) <= at + 1)
        throw error(where, std::string("non-finite number ") + tok + " near byte " + std::to_string(at) +
                               " (dloss and memory_bytes must be finite numbers; NaN/Infinity are not JSON)");
    }
    throw error(where, std::string("invalid JSON: ") + e.what());
  } catch (const nlohmann::json::exception& e) {  // number overflow (1e309) and the like
    throw error(where, std::string("invalid JSON: ") + e.what());
  }
  return problem_from_json(j, where);
}

inline nlohmann::ordered_json problem_to_json(const problem& p) {
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (auto& it : p.items) {
    nlohmann::ordered_json cs = nlohmann::ordered_json::array();
    for (auto& c : it.candidates) {
      nlohmann::ordered_json cj{{"fmt", c.fmt}, {"memory_bytes", c.memory_bytes}, {"dloss", c.dloss}};
      if (!c.pruned_expert_ids.empty()) cj["pruned_expert_ids"] = c.pruned_expert_ids;
      cs.push_back(std::move(cj));
    }
    items.push_back({{"name", it.name}, {"n_params", it.n_params}, {"candidates", std::move(cs)}});
  }
  return {{"items", std::move(items)}};
}

inline nlohmann::ordered_json solution_to_json(const problem& p, const solution& s) {
  nlohmann::ordered_json choices = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < p.items.size(); ++i)
    choices.push_back({{"name", p.items[i].name}, {"fmt", p.items[i].candidates[s.choice[i]].fmt}, {"index", s.choice[i]}});
  return {{"status", std::string(to_string(s.status))},
          {"total_bytes", s.total_bytes},
          {"achieved_bits", s.achieved_bits},
          {"dloss", s.dloss},
          {"lower_bound", s.lower_bound},
          {"gap", s.gap},
          {"seconds", s.seconds},
          {"choices", std::move(choices)}};
}

inline void write_solution(const std::filesystem::path& path, const problem& p, const solution& s) {
  write_file_atomic(path, solution_to_json(p, s).dump(1) + "\n");
}

}  // namespace prismaquant::solvers
