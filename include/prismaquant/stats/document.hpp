#pragma once
// The stats and costs files' common document (docs/file-formats.md): a JSON object with
// "format" and "version", and an optional safetensors side file ("tensors") holding the long
// vectors (per-row / per-column statistics, 1-D F64; F32 accepted) so they stay out of the
// JSON. The side file is read and written by io/ (the validated reader, the atomic writer);
// field access is io/json.hpp's. Host only.
#include <prismaquant/core/error.hpp>
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/io/json.hpp>
#include <prismaquant/io/safetensors_file.hpp>
#include <prismaquant/io/safetensors_writer.hpp>

#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace prismaquant::stats::detail {

using namespace prismaquant::strict_json;  // json, ctx, need, finite_number, nonneg_int, ...

// The side file's vectors, by tensor name: those to write (put), or an opened file to read.
class side_tensors {
 public:
  side_tensors() = default;
  static side_tensors open(const std::filesystem::path& path) {
    side_tensors s;
    s.file_ = std::make_shared<const safetensors_file>(path);
    return s;
  }
  void put(const std::string& name, std::vector<double> v) { t_[name] = std::move(v); }
  bool empty() const { return t_.empty(); }

  // A 1-D F64 or F32 tensor of the opened file, as doubles.
  std::vector<double> get(const std::string& name, const ctx& c) const {
    const auto tv = file_ ? file_->find(name) : std::nullopt;
    if (!tv) c.fail("side-file tensor \"" + name + "\" not found");
    if (tv->rank() != 1) c.fail("side-file tensor \"" + name + "\" must be 1-D");
    if (tv->type == dtype::F64) return tv->to_vector<double>();
    if (tv->type != dtype::F32)
      c.fail("side-file tensor \"" + name + "\" must be F64 or F32, got " + std::string(dtype_name(tv->type)));
    std::vector<double> out;
    for (float f : tv->to_vector<float>()) out.push_back(f);
    return out;
  }

  // F64, names sorted (std::map), written atomically: byte-identical for equal input.
  void write(const std::filesystem::path& path) const {
    std::vector<tensor_data> tensors;
    for (const auto& [name, v] : t_)
      tensors.push_back({tensor_spec{name, dtype::F64, {static_cast<std::uint64_t>(v.size())}},
                         std::as_bytes(std::span<const double>(v))});
    write_safetensors(path, tensors, {});
  }

 private:
  std::map<std::string, std::vector<double>> t_;
  std::shared_ptr<const safetensors_file> file_;
};

// A stats or costs document: the parsed JSON, its error context, and the side file it names
// (if any), after checking "format" (e.g. "prismaquant.costs") and "version" (1 to max_version).
struct document {
  json j;
  ctx c;
  side_tensors side;
  bool has_side = false;
  const side_tensors* side_ptr() const { return has_side ? &side : nullptr; }
};

inline document open_document(const std::filesystem::path& path, const std::string& format, int max_version = 1) {
  document d{read_file(path), ctx{path.string()}, {}, false};
  if (!d.j.is_object()) d.c.fail("top level must be a JSON object");
  if (!d.j.contains("format") || !d.j["format"].is_string() || d.j["format"].get<std::string>() != format)
    d.c.fail("\"format\" must be \"" + format + "\"");
  if (!d.j.contains("version") || !d.j["version"].is_number_integer() || d.j["version"] < 1 ||
      d.j["version"] > max_version)
    d.c.fail("unsupported \"version\" (this reader knows 1" +
             (max_version > 1 ? " to " + std::to_string(max_version) : std::string()) + ")");
  if (d.j.contains("tensors")) {
    d.side = side_tensors::open(path.parent_path() / string_field(d.j["tensors"], "tensors", d.c));
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
  write_file_atomic(path, j.dump(1) + "\n");
}

// A Linear's "shape": [out_features, in_features], each in [1, 2^31) so out·in and every count
// derived from it fit in int64.
inline void read_shape(const json& e, const ctx& c, std::int64_t& out_features, std::int64_t& in_features) {
  const json& shape = need(e, "shape", c);
  if (!shape.is_array() || shape.size() != 2) c.fail("\"shape\" must be [out_features, in_features]");
  out_features = int_in(shape[0], "shape[0]", c, 1, INT32_MAX);
  in_features = int_in(shape[1], "shape[1]", c, 1, INT32_MAX);
}

// A vector field is either an inline JSON array or {"tensor": "<name>"} in the side file
// (1-D F64 or F32).
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
