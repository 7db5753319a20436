#pragma once
// Reading one .safetensors file: memory-mapped, validated on open, zero-copy tensor views.
#include <prismaquant/io/mapped_file.hpp>
#include <prismaquant/io/safetensors_header.hpp>

#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace prismaquant {

// A tensor inside a mapped file. Valid as long as the file (or checkpoint) that made it.
// `bytes` is the raw little-endian, row-major storage; sub-byte dtypes are packed
// (F4: element 2i in the low nibble of byte i; F6: four elements per three bytes).
// Tensors follow each other without padding, so `bytes` need not be aligned for the element
// type: read through copy_to / memcpy rather than reinterpret_cast.
struct tensor_view {
  std::string_view name;
  dtype type = dtype::U8;
  std::span<const std::uint64_t> shape;
  std::span<const std::byte> bytes;
  std::string_view file;  // path of the file the bytes live in

  std::uint64_t numel() const noexcept { return *checked_numel(shape); }  // validated on open
  std::size_t rank() const noexcept { return shape.size(); }

  // Copy the elements into `out` (whole-byte dtypes whose size matches T only).
  template <class T>
  void copy_to(std::span<T> out) const {
    static_assert(std::is_trivially_copyable_v<T>);
    if (dtype_bits(type) != 8 * static_cast<int>(sizeof(T)))
      throw error(std::string(file), "tensor \"" + std::string(name) + "\" is " + std::string(dtype_name(type)) +
                                         ", not a " + std::to_string(8 * sizeof(T)) + "-bit type");
    if (out.size_bytes() != bytes.size())
      throw error(std::string(file), "tensor \"" + std::string(name) + "\" has " + std::to_string(bytes.size()) +
                                         " bytes, destination has " + std::to_string(out.size_bytes()));
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  }
  template <class T>
  std::vector<T> to_vector() const {
    std::vector<T> v(bytes.size() / sizeof(T));
    copy_to(std::span<T>(v));
    return v;
  }
};

class safetensors_file {
 public:
  // Maps and validates the file; throws prismaquant::error naming the file and the problem.
  explicit safetensors_file(const std::filesystem::path& path)
      : map_(path), path_(path.string()), header_(parse_safetensors_header(map_.bytes(), path_)) {}
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;
  // Not movable either: views point into this object (hold it by unique_ptr to pass it around).

  const std::string& path() const noexcept { return path_; }
  const safetensors_header& header() const noexcept { return header_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return header_.metadata; }
  std::size_t size() const noexcept { return header_.tensors.size(); }
  const mapped_file& mapping() const noexcept { return map_; }

  // All tensors in file order.
  std::vector<tensor_view> tensors() const {
    std::vector<tensor_view> v;
    v.reserve(header_.tensors.size());
    for (const auto& e : header_.tensors) v.push_back(view(e));
    return v;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    v.reserve(header_.tensors.size());
    for (const auto& e : header_.tensors) v.push_back(e.spec.name);
    return v;
  }
  bool contains(std::string_view name) const noexcept { return header_.find(name) != nullptr; }
  // The tensor called `name`, or an error naming the file and the tensor.
  tensor_view at(std::string_view name) const {
    const tensor_entry* e = header_.find(name);
    if (!e) throw error(path_, "no tensor named \"" + std::string(name) + "\"");
    return view(*e);
  }
  std::optional<tensor_view> find(std::string_view name) const {
    const tensor_entry* e = header_.find(name);
    if (!e) return std::nullopt;
    return view(*e);
  }
  tensor_view view(const tensor_entry& e) const noexcept {
    auto data = map_.bytes().subspan(static_cast<std::size_t>(header_.data_offset() + e.begin),
                                     static_cast<std::size_t>(e.size()));
    return tensor_view{e.spec.name, e.spec.type, e.spec.shape, data, path_};
  }

 private:
  mapped_file map_;
  std::string path_;
  safetensors_header header_;
};

}  // namespace prismaquant
