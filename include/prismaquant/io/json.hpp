#pragma once
// The one set of helpers for reading the documented JSON files strictly: a whole file parsed
// with an error that names it (and says plainly when Python wrote NaN / Infinity, which JSON
// does not have), and field access whose errors name the file and the object —
// "<file>: <object>: field \"x\" is negative". Host only.
#include <prismaquant/core/error.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

namespace prismaquant::strict_json {

using json = nlohmann::json;

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw error(path.string(), "cannot open for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw error(path.string(), "read failed");
  return ss.str();
}

// Parses `text` (the contents of `where`).
inline json parse(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    const std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    for (const char* tok : {"NaN", "Infinity", "-Infinity"}) {
      const std::size_t from = at >= 10 ? at - 10 : 0;
      if (text.find(tok, from) != std::string::npos && text.find(tok, from) <= at + 1)
        throw error(where, std::string("non-finite number ") + tok + " near byte " + std::to_string(at) +
                               " (NaN and Infinity are not JSON; numbers must be finite)");
    }
    throw error(where, std::string("malformed JSON: ") + e.what());
  } catch (const json::exception& e) {  // e.g. a number beyond double (1e999)
    throw error(where, std::string("malformed JSON: ") + e.what());
  }
}

inline json read_file(const std::filesystem::path& path) { return parse(read_text(path), path.string()); }

// Where a value lives, for errors: "stats.json: linears[\"model.layers.0.q_proj\"]".
struct ctx {
  std::string where;
  [[noreturn]] void fail(const std::string& what) const { throw error(where, what); }
  ctx sub(const std::string& s) const { return ctx{where + ": " + s}; }
};

inline const json& need(const json& j, const char* key, const ctx& c) {
  if (!j.is_object()) c.fail("expected a JSON object");
  auto it = j.find(key);
  if (it == j.end()) c.fail(std::string("missing field \"") + key + "\"");
  return *it;
}

// Refuses every key of `j` not in `keys`.
inline void only_keys(const json& j, std::initializer_list<const char*> keys, const ctx& c) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (auto k : keys) ok = ok || it.key() == k;
    if (!ok) c.fail("unknown field \"" + it.key() + "\"");
  }
}

inline double finite_number(const json& v, const std::string& name, const ctx& c) {
  if (!v.is_number()) c.fail("field \"" + name + "\" must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) c.fail("field \"" + name + "\" is not finite");
  return d;
}

inline double nonneg_number(const json& v, const std::string& name, const ctx& c) {
  const double d = finite_number(v, name, c);
  if (d < 0.0) c.fail("field \"" + name + "\" is negative (" + std::to_string(d) + ")");
  return d;
}

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

// An integer that fits int64 (a float, or an unsigned beyond int64, is refused).
inline std::int64_t int64_field(const json& v, const std::string& name, const ctx& c) {
  return int_in(v, name, c, INT64_MIN, INT64_MAX);
}

inline std::int64_t nonneg_int(const json& v, const std::string& name, const ctx& c) {
  const auto i = int64_field(v, name, c);
  if (i < 0) c.fail("field \"" + name + "\" is negative");
  return i;
}

inline std::int64_t positive_int(const json& v, const std::string& name, const ctx& c) {
  const auto i = nonneg_int(v, name, c);
  if (i == 0) c.fail("field \"" + name + "\" must be positive");
  return i;
}

inline std::string string_field(const json& v, const std::string& name, const ctx& c) {
  if (!v.is_string()) c.fail("field \"" + name + "\" must be a string");
  return v.get<std::string>();
}

}  // namespace prismaquant::strict_json
