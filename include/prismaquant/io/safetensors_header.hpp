#pragma once
// The safetensors header (docs/safetensors.md): parsing with strict
// validation, and serialisation. Host only (nlohmann/json).
//
// File layout: u64 little-endian N, N bytes of UTF-8 JSON, then the data buffer. The JSON maps
// tensor names to {"dtype", "shape", "data_offsets": [begin, end)} (offsets relative to the
// buffer) plus an optional "__metadata__" string→string map.
//
// Validation is stricter than the reference reader (safetensors 0.8) where that reader is
// lax (duplicate names, unknown fields), and identical where it is strict (header ≤ 100 MB,
// offsets tile the buffer exactly, sub-byte dtypes: elements × bits must be whole bytes).
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace prismaquant {

// The reference reader's cap on N (safetensors MAX_HEADER_SIZE).
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

// What a tensor is, without its bytes.
struct tensor_spec {
  std::string name;
  dtype type = dtype::F32;
  std::vector<std::uint64_t> shape;
  friend bool operator==(const tensor_spec&, const tensor_spec&) = default;
};

// A tensor as the header places it: [begin, end) relative to the start of the data buffer.
struct tensor_entry {
  tensor_spec spec;
  std::uint64_t begin = 0, end = 0;
  std::uint64_t size() const noexcept { return end - begin; }
};

namespace detail {
inline std::string shape_string(std::span<const std::uint64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}
// Bytes outside printable ASCII as \xNN, so a message about hostile input stays one clean line.
// keep_utf8: leave bytes >= 0x80 alone (for names from a JSON header, already valid UTF-8).
inline std::string printable(std::string_view s, bool keep_utf8 = false) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 0x20 && c < 0x7f) || (keep_utf8 && c >= 0x80)) {
      out += static_cast<char>(c);
    } else {
      const char* d = "0123456789abcdef";
      out += "\\x";
      out += d[c >> 4];
      out += d[c & 15];
    }
  }
  return out;
}
inline std::string quoted(std::string_view s) { return "\"" + printable(s, true) + "\""; }
}  // namespace detail

// Element count of a shape; nullopt on 64-bit overflow (checked at every step, as the
// reference reader does, so [2^63, 2, 0] overflows even though the product is 0).
inline std::optional<std::uint64_t> checked_numel(std::span<const std::uint64_t> shape) noexcept {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  return n;
}

// Bytes a tensor occupies on disk. F4 packs two elements per byte and F6 four per three
// bytes, row-major across the whole tensor; like safetensors 0.8 we require elements × bits
// to be a multiple of 8 (no padding bits). Throws error(where, ...) on overflow or a partial byte.
inline std::uint64_t tensor_bytes(dtype t, std::span<const std::uint64_t> shape, std::string_view where) {
  auto n = checked_numel(shape);
  if (!n) throw error(std::string(where), "element count of shape " + detail::shape_string(shape) + " overflows 64 bits");
  std::uint64_t bits;
  if (__builtin_mul_overflow(*n, static_cast<std::uint64_t>(dtype_bits(t)), &bits))
    throw error(std::string(where), "byte size of " + std::string(dtype_name(t)) + " " + detail::shape_string(shape) +
                                        " overflows 64 bits");
  if (bits % 8 != 0)
    throw error(std::string(where), std::to_string(*n) + " " + std::string(dtype_name(t)) + " elements are " +
                                        std::to_string(bits) + " bits, not a whole number of bytes");
  return bits / 8;
}

// A parsed, validated header.
struct safetensors_header {
  std::vector<tensor_entry> tensors;  // sorted by data offset (file order)
  std::map<std::string, std::string> metadata;
  std::uint64_t json_bytes = 0;       // N
  std::uint64_t data_bytes = 0;       // size of the data buffer
  std::uint64_t data_offset() const noexcept { return 8 + json_bytes; }

  // Lookup by name (nullptr when absent). O(log n).
  const tensor_entry* find(std::string_view name) const noexcept {
    auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                               [&](std::uint32_t i, std::string_view n) { return tensors[i].spec.name < n; });
    if (it == by_name_.end() || tensors[*it].spec.name != name) return nullptr;
    return &tensors[*it];
  }
  // Call after filling `tensors` (sorted by offset); parse_safetensors_json does it.
  void build_index() {
    by_name_.resize(tensors.size());
    for (std::uint32_t i = 0; i < by_name_.size(); ++i) by_name_[i] = i;
    std::sort(by_name_.begin(), by_name_.end(),
              [&](std::uint32_t a, std::uint32_t b) { return tensors[a].spec.name < tensors[b].spec.name; });
  }

 private:
  std::vector<std::uint32_t> by_name_;
};

namespace detail {
struct header_reject {  // thrown from the parse callback, turned into prismaquant::error
  std::string what;
};
}  // namespace detail

// Parse and validate the JSON part of a header whose data buffer holds `data_bytes` bytes.
// `where` (usually the file path) starts every error message.
inline safetensors_header parse_safetensors_json(std::string_view text, std::uint64_t data_bytes,
                                                 std::string_view where_sv) {
  using json = nlohmann::json;
  const std::string where(where_sv);
  auto fail = [&](const std::string& what) -> error { return error(where, what); };

  // Duplicate names and absurd nesting are caught while parsing: the DOM would silently keep
  // the last duplicate, and depth is bounded so hostile input cannot exhaust the stack.
  std::vector<std::unordered_set<std::string>> keys;
  json j;
  try {
    j = json::parse(text.begin(), text.end(), [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
      if (depth > 3) throw detail::header_reject{"header JSON is nested deeper than a safetensors header can be"};
      switch (ev) {
        case json::parse_event_t::object_start: keys.emplace_back(); break;
        case json::parse_event_t::object_end: keys.pop_back(); break;
        case json::parse_event_t::key: {
          auto k = parsed.get<std::string>();
          if (!keys.empty() && !keys.back().insert(k).second)
            throw detail::header_reject{"duplicate key " + detail::quoted(k) +
                                        (keys.size() == 1 ? " (tensor names must be unique)" : "")};
          break;
        }
        default: break;
      }
      return true;
    });
  } catch (const detail::header_reject& r) {
    throw fail(r.what);
  } catch (const json::exception& e) {
    throw fail("header is not valid JSON: " + detail::printable(e.what()));
  }
  if (!j.is_object()) throw fail("header JSON is not an object");

  safetensors_header h;
  h.data_bytes = data_bytes;
  h.tensors.reserve(j.size());
  auto as_u64 = [](const json& v) -> std::optional<std::uint64_t> {
    if (!v.is_number_unsigned()) return std::nullopt;  // negative, fractional or > 2^64-1
    return v.get<std::uint64_t>();
  };
  for (auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ must be an object of string values");
      for (auto& [k, s] : v.items()) {
        if (!s.is_string()) throw fail("__metadata__ value for key " + detail::quoted(k) + " is not a string");
        h.metadata.emplace(k, s.get<std::string>());
      }
      continue;
    }
    const std::string t = "tensor " + detail::quoted(name) + ": ";
    if (!v.is_object()) throw fail(t + "entry is not an object");
    for (auto& [k, _] : v.items())
      if (k != "dtype" && k != "shape" && k != "data_offsets") throw fail(t + "unknown field " + detail::quoted(k));
    for (const char* k : {"dtype", "shape", "data_offsets"})
      if (!v.contains(k)) throw fail(t + "missing \"" + k + "\"");
    tensor_entry e;
    e.spec.name = name;
    const json& jd = v["dtype"];
    if (!jd.is_string()) throw fail(t + "\"dtype\" is not a string");
    try {
      e.spec.type = parse_dtype(jd.get<std::string>());
    } catch (const error&) {
      throw fail(t + "unknown dtype " + detail::quoted(jd.get<std::string>()));
    }
    const json& js = v["shape"];
    if (!js.is_array()) throw fail(t + "\"shape\" is not an array");
    e.spec.shape.reserve(js.size());
    for (const json& d : js) {
      auto u = as_u64(d);
      if (!u) throw fail(t + "shape entry " + d.dump() + " is not a non-negative integer");
      e.spec.shape.push_back(*u);
    }
    const json& jo = v["data_offsets"];
    if (!jo.is_array() || jo.size() != 2) throw fail(t + "\"data_offsets\" is not an array [begin, end]");
    auto b = as_u64(jo[0]), en = as_u64(jo[1]);
    if (!b || !en) throw fail(t + "data_offsets " + jo.dump() + " are not non-negative integers");
    e.begin = *b;
    e.end = *en;
    if (e.begin > e.end) throw fail(t + "data_offsets " + jo.dump() + " end before they begin");
    if (e.end > data_bytes)
      throw fail(t + "data_offsets " + jo.dump() + " run past the end of the data buffer (" +
                 std::to_string(data_bytes) + " bytes)");
    const std::uint64_t want = tensor_bytes(e.spec.type, e.spec.shape, where + ": " + t.substr(0, t.size() - 2));
    if (want != e.size())
      throw fail(t + std::string(dtype_name(e.spec.type)) + " " + detail::shape_string(e.spec.shape) + " needs " +
                 std::to_string(want) + " bytes but data_offsets " + jo.dump() + " span " + std::to_string(e.size()));
    h.tensors.push_back(std::move(e));
  }

  // The tensors must tile [0, data_bytes) exactly: sorted by offset, each starts where the
  // previous ended (an empty tensor may sit on a boundary, as in the reference reader).
  std::sort(h.tensors.begin(), h.tensors.end(), [](const tensor_entry& a, const tensor_entry& b) {
    return std::tie(a.begin, a.end, a.spec.name) < std::tie(b.begin, b.end, b.spec.name);
  });
  std::uint64_t cursor = 0;
  const tensor_entry* prev = nullptr;
  for (const auto& e : h.tensors) {
    if (e.begin < cursor)
      throw fail("tensor " + detail::quoted(e.spec.name) + " (bytes [" + std::to_string(e.begin) + "," +
                 std::to_string(e.end) + ")) overlaps tensor " + detail::quoted(prev->spec.name) + " (bytes [" +
                 std::to_string(prev->begin) + "," + std::to_string(prev->end) + "))");
    if (e.begin > cursor)
      throw fail("hole in the data buffer: bytes [" + std::to_string(cursor) + "," + std::to_string(e.begin) +
                 ") belong to no tensor");
    cursor = e.end;
    prev = &e;
  }
  if (cursor != data_bytes)
    throw fail("hole in the data buffer: bytes [" + std::to_string(cursor) + "," + std::to_string(data_bytes) +
               ") after the last tensor belong to no tensor");
  h.build_index();
  return h;
}

// Parse and validate a whole safetensors file given as bytes (e.g. a memory map).
inline safetensors_header parse_safetensors_header(std::span<const std::byte> file, std::string_view where_sv) {
  const std::string where(where_sv);
  if (file.size() < 8)
    throw error(where, "file is " + std::to_string(file.size()) + " bytes, too short for the 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(file[static_cast<std::size_t>(i)]);
  if (n > safetensors_max_header_bytes)
    throw error(where, "header length " + std::to_string(n) + " exceeds the 100 MB limit (corrupt or not a safetensors file)");
  if (n < 2) throw error(where, "header length " + std::to_string(n) + " is below 2 (the smallest header is \"{}\")");
  if (n > file.size() - 8)
    throw error(where, "header length " + std::to_string(n) + " runs past the end of the file (" +
                           std::to_string(file.size()) + " bytes; truncated?)");
  std::string_view text(reinterpret_cast<const char*>(file.data()) + 8, static_cast<std::size_t>(n));
  auto h = parse_safetensors_json(text, file.size() - 8 - n, where);
  h.json_bytes = n;
  return h;
}

// Serialise a header: the 8-byte length followed by compact JSON padded with spaces so the data
// buffer starts 8-byte aligned (what safetensors' own writer does). Entries are written in the
// given order, which must tile the buffer ([0,a),[a,b),...). __metadata__ comes first.
inline std::string serialize_safetensors_header(std::span<const tensor_entry> tensors,
                                                const std::map<std::string, std::string>& metadata,
                                                std::string_view where) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& m = j["__metadata__"] = nlohmann::ordered_json::object();
    for (auto& [k, v] : metadata) m[k] = v;
  }
  std::uint64_t cursor = 0;
  std::unordered_set<std::string_view> seen;
  for (const auto& e : tensors) {
    const std::string t = "tensor " + detail::quoted(e.spec.name);
    if (e.spec.name == "__metadata__") throw error(std::string(where), "\"__metadata__\" cannot be a tensor name");
    if (!seen.insert(e.spec.name).second) throw error(std::string(where), "duplicate " + t);
    if (e.begin != cursor || e.end < e.begin) throw error(std::string(where), t + ": offsets do not continue the buffer");
    if (tensor_bytes(e.spec.type, e.spec.shape, std::string(where) + ": " + t) != e.size())
      throw error(std::string(where), t + ": byte size does not match dtype and shape");
    cursor = e.end;
    auto& o = j[e.spec.name] = nlohmann::ordered_json::object();
    o["dtype"] = std::string(dtype_name(e.spec.type));
    o["shape"] = e.spec.shape;
    o["data_offsets"] = {e.begin, e.end};
  }
  std::string text;
  try {
    text = j.dump();
  } catch (const nlohmann::ordered_json::exception& ex) {  // e.g. a name that is not UTF-8
    throw error(std::string(where), std::string("cannot write header: ") + ex.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > safetensors_max_header_bytes)
    throw error(std::string(where), "header would be " + std::to_string(text.size()) + " bytes, over the 100 MB limit readers accept");
  std::string out(8, '\0');
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace prismaquant
