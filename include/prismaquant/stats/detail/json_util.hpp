#pragma once
// Host-only helpers for the documented JSON files: strict field access with errors that name
// the file and the object, atomic writes, and a minimal safetensors side file for long
// vectors (F64 / F32, 1-D) so large per-row / per-column statistics stay out of the JSON.
#include <prismaquant/core/error.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace prismaquant::stats::detail {

using json = nlohmann::json;

// Write `text` to `path` atomically: a sibling temp file, flushed, then renamed over.
inline void atomic_write(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp" + std::to_string(static_cast<unsigned long long>(std::hash<std::string>{}(path.string()) & 0xffff));
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw error(path.string(), "cannot open for writing");
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.flush();
    if (!f) throw error(path.string(), "write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw error(path.string(), "cannot rename temp file into place");
  }
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw error(path.string(), "cannot open for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline json parse_json(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse errors and number overflow (1e999)
    throw error(path.string(), std::string("malformed JSON: ") + e.what());
  }
}

// Field access that names where the problem is: "<file>: <object>: field \"x\" ...".
struct ctx {
  std::string where;  // e.g. "stats.json: linears[\"model.layers.0.q_proj\"]"
  [[noreturn]] void fail(const std::string& what) const { throw error(where, what); }
  ctx sub(const std::string& s) const { return ctx{where + ": " + s}; }
};

inline const json& need(const json& j, const char* key, const ctx& c) {
  if (!j.is_object()) c.fail("expected a JSON object");
  auto it = j.find(key);
  if (it == j.end()) c.fail(std::string("missing field \"") + key + "\"");
  return *it;
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

inline std::int64_t nonneg_int(const json& v, const std::string& name, const ctx& c) {
  if (!v.is_number_integer()) c.fail("field \"" + name + "\" must be an integer");
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    c.fail("field \"" + name + "\" is too large");
  const auto i = v.get<std::int64_t>();
  if (i < 0) c.fail("field \"" + name + "\" is negative");
  return i;
}

inline std::int64_t positive_int(const json& v, const std::string& name, const ctx& c) {
  const auto i = nonneg_int(v, name, c);
  if (i == 0) c.fail("field \"" + name + "\" must be positive");
  return i;
}

// An integer in [lo, hi] (no float, no silent truncation to a narrower type).
inline std::int64_t int_in_range(const json& v, const std::string& name, const ctx& c, std::int64_t lo, std::int64_t hi) {
  const auto i = v.is_number_unsigned() || !v.is_number_integer() ? nonneg_int(v, name, c) : v.get<std::int64_t>();
  if (i < lo || i > hi)
    c.fail("field \"" + name + "\" is " + std::to_string(i) + ", outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return i;
}

inline std::string string_field(const json& v, const std::string& name, const ctx& c) {
  if (!v.is_string()) c.fail("field \"" + name + "\" must be a string");
  return v.get<std::string>();
}

// ---- minimal safetensors side file (1-D F64 / F32 vectors) ---------------------------------
// Format per ../shared/specs.md §6. Used only until/unless include/prismaquant/io provides a
// general reader; kept deliberately small.
class side_tensors {
 public:
  void put(const std::string& name, std::vector<double> v) { t_[name] = std::move(v); }
  bool empty() const { return t_.empty(); }
  const std::vector<double>& get(const std::string& name, const ctx& c) const {
    auto it = t_.find(name);
    if (it == t_.end()) c.fail("side-file tensor \"" + name + "\" not found");
    return it->second;
  }

  // Writes F64, names sorted (std::map), offsets contiguous: byte-identical for equal input.
  void write(const std::filesystem::path& path) const {
    json hdr = json::object();
    std::uint64_t off = 0;
    for (auto& [name, v] : t_) {
      hdr[name] = {{"dtype", "F64"}, {"shape", {v.size()}}, {"data_offsets", {off, off + 8 * v.size()}}};
      off += 8 * v.size();
    }
    std::string h = hdr.dump();
    while ((8 + h.size()) % 8) h.push_back(' ');
    std::string out(8, '\0');
    const std::uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out += h;
    for (auto& [name, v] : t_) {
      (void)name;
      const std::size_t base = out.size();
      out.resize(base + 8 * v.size());
      for (std::size_t i = 0; i < v.size(); ++i) {  // little-endian F64
        std::uint64_t bits;
        std::memcpy(&bits, &v[i], 8);
        for (int b = 0; b < 8; ++b) out[base + 8 * i + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
      }
    }
    atomic_write(path, out);
  }

  static side_tensors read(const std::filesystem::path& path) {
    const std::string buf = read_text(path);
    const ctx c{path.string()};
    if (buf.size() < 8) c.fail("not a safetensors file (shorter than 8 bytes)");
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(buf[i])) << (8 * i);
    if (n > 100'000'000ull || 8 + n > buf.size()) c.fail("safetensors header length out of range");
    json hdr;
    try {
      hdr = json::parse(buf.substr(8, n));
    } catch (const json::exception& e) {  // parse errors and number overflow
      c.fail(std::string("malformed safetensors header: ") + e.what());
    }
    if (!hdr.is_object()) c.fail("safetensors header must be a JSON object");
    const std::size_t data0 = 8 + n;
    side_tensors st;
    for (auto& [name, e] : hdr.items()) {
      if (name == "__metadata__") continue;
      const ctx ce = c.sub("tensor \"" + name + "\"");
      const std::string dt = string_field(need(e, "dtype", ce), "dtype", ce);
      const auto& offs = need(e, "data_offsets", ce);
      if (!offs.is_array() || offs.size() != 2) ce.fail("data_offsets must be [begin, end]");
      const auto b = static_cast<std::uint64_t>(nonneg_int(offs[0], "data_offsets[0]", ce));
      const auto en = static_cast<std::uint64_t>(nonneg_int(offs[1], "data_offsets[1]", ce));
      if (en < b || en > buf.size() - data0) ce.fail("data_offsets out of range");
      const int w = dt == "F64" ? 8 : dt == "F32" ? 4 : 0;
      if (!w) ce.fail("side-file vectors must be F64 or F32, got " + dt);
      if ((en - b) % w) ce.fail("byte length not a multiple of the element size");
      std::vector<double> v((en - b) / w);
      for (std::size_t i = 0; i < v.size(); ++i) {
        const char* p = buf.data() + data0 + b + i * w;
        if (w == 8) {
          std::uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[k])) << (8 * k);
          std::memcpy(&v[i], &bits, 8);
        } else {
          std::uint32_t bits = 0;
          for (int k = 0; k < 4; ++k) bits |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[k])) << (8 * k);
          float f;
          std::memcpy(&f, &bits, 4);
          v[i] = f;
        }
      }
      st.t_[name] = std::move(v);
    }
    return st;
  }

 private:
  std::map<std::string, std::vector<double>> t_;
};

// A Linear's "shape": [out_features, in_features], both positive.
inline void read_shape(const json& e, const ctx& c, std::int64_t& out_features, std::int64_t& in_features) {
  const json& shape = need(e, "shape", c);
  if (!shape.is_array() || shape.size() != 2) c.fail("\"shape\" must be [out_features, in_features]");
  // Each side below 2^31, so out·in and every count derived from it fit in int64.
  out_features = int_in_range(shape[0], "shape[0]", c, 1, INT32_MAX);
  in_features = int_in_range(shape[1], "shape[1]", c, 1, INT32_MAX);
}

// A stats or costs document: the parsed JSON, its error context, and the side tensors file it
// names (if any), after checking "format" (e.g. "prismaquant.costs") and "version" 1.
struct document {
  json j;
  ctx c;
  side_tensors side;
  bool has_side = false;
  const side_tensors* side_ptr() const { return has_side ? &side : nullptr; }
};

inline document open_document(const std::filesystem::path& path, const std::string& format) {
  document d{parse_json(path), ctx{path.string()}, {}, false};
  if (!d.j.is_object()) d.c.fail("top level must be a JSON object");
  if (!d.j.contains("format") || !d.j["format"].is_string() || d.j["format"].get<std::string>() != format)
    d.c.fail("\"format\" must be \"" + format + "\"");
  if (!d.j.contains("version") || !d.j["version"].is_number_integer() || d.j["version"] != 1)
    d.c.fail("unsupported \"version\" (this reader knows 1)");
  if (d.j.contains("tensors")) {
    d.side = side_tensors::read(path.parent_path() / string_field(d.j["tensors"], "tensors", d.c));
    d.has_side = true;
  }
  return d;
}

// Writes a document: the side tensors (if any) to <path>.safetensors, named in "tensors", then
// the JSON, each atomically.
inline void write_document(const std::filesystem::path& path, json j, const side_tensors& side) {
  if (!side.empty()) {
    auto sp = path;
    sp.replace_extension(".safetensors");
    j["tensors"] = sp.filename().string();
    side.write(sp);
  }
  atomic_write(path, j.dump(1) + "\n");
}

// A vector field is either an inline JSON array or {"tensor": "<name>"} in the side file.
inline std::vector<double> read_vector(const json& v, const std::string& name, const ctx& c,
                                       const side_tensors* side) {
  std::vector<double> out;
  if (v.is_array()) {
    out.reserve(v.size());
    for (auto& x : v) out.push_back(finite_number(x, name + "[]", c));
  } else if (v.is_object() && v.contains("tensor")) {
    if (!side) c.fail("field \"" + name + "\" refers to a side-file tensor but the file names no \"tensors\" file");
    out = side->get(string_field(v["tensor"], "tensor", c), c);
    for (double x : out)
      if (!std::isfinite(x)) c.fail("field \"" + name + "\" has a non-finite element");
  } else {
    c.fail("field \"" + name + "\" must be an array or {\"tensor\": name}");
  }
  return out;
}

}  // namespace prismaquant::stats::detail
