#pragma once
// The on-disk form of one encoded weight: the compressed-tensors tensors of one Linear
// (`weight_packed`, `weight_scale`, ...), each with its safetensors dtype, shape and
// little-endian bytes, ready to be written under `<module>.<suffix>`.
// Host-only (std::vector / std::string); device code never sees it.
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::formats {

static_assert(std::endian::native == std::endian::little,
              "prismaquant writes little-endian tensors by memcpy; a big-endian host needs byte swaps here");

// Name, dtype and shape of one tensor a format writes.
struct tensor_spec {
  std::string suffix;  // CT's parameter name, e.g. "weight_packed"
  dtype type;
  std::vector<std::int64_t> shape;
};

// Bytes needed for n elements of dtype t (F4/F6 pack densely; everything else is whole bytes).
constexpr std::uint64_t dtype_bytes(dtype t, std::uint64_t n) noexcept {
  return (n * static_cast<std::uint64_t>(dtype_bits(t)) + 7) / 8;
}

struct encoded_tensor {
  std::string suffix;
  dtype type = dtype::U8;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;  // little-endian, C order

  std::uint64_t numel() const noexcept {
    std::uint64_t n = 1;
    for (auto d : shape) n *= static_cast<std::uint64_t>(d);
    return n;
  }

  // Typed little-endian element access (T: uint8/int32/int64/float/uint16...).
  template <class T>
  T get(std::uint64_t k) const noexcept {
    T v;
    std::memcpy(&v, bytes.data() + k * sizeof(T), sizeof(T));
    return v;
  }
  template <class T>
  void put(std::uint64_t k, T v) noexcept {
    std::memcpy(bytes.data() + k * sizeof(T), &v, sizeof(T));
  }
  // Bit-field access in a little-endian stream of 32-bit words (CT's pack_to_int32) or bytes.
  unsigned get_bits(std::uint64_t bit, int nbits) const noexcept {
    std::uint64_t w = 0;
    const std::uint64_t byte = bit / 8;
    const std::size_t n = std::min<std::size_t>(8, bytes.size() - byte);
    std::memcpy(&w, bytes.data() + byte, n);
    return static_cast<unsigned>((w >> (bit % 8)) & ((std::uint64_t{1} << nbits) - 1));
  }
  void put_bits(std::uint64_t bit, int nbits, unsigned v) noexcept {
    std::uint64_t w = 0;
    const std::uint64_t byte = bit / 8;
    const std::size_t n = std::min<std::size_t>(8, bytes.size() - byte);
    std::memcpy(&w, bytes.data() + byte, n);
    const std::uint64_t mask = ((std::uint64_t{1} << nbits) - 1) << (bit % 8);
    w = (w & ~mask) | ((static_cast<std::uint64_t>(v) << (bit % 8)) & mask);
    std::memcpy(bytes.data() + byte, &w, n);
  }
};

// All tensors of one encoded weight, in the order the format's layout() lists them
// (formats address them by that index; users usually look them up by suffix).
struct encoded_weight {
  std::int64_t rows = 0;  // the original weight's shape [out, in]
  std::int64_t cols = 0;
  std::vector<encoded_tensor> tensors;

  static encoded_weight allocate(std::int64_t rows, std::int64_t cols, const std::vector<tensor_spec>& specs) {
    encoded_weight w;
    w.rows = rows;
    w.cols = cols;
    for (const auto& s : specs) {
      encoded_tensor t{s.suffix, s.type, s.shape, {}};
      t.bytes.assign(dtype_bytes(s.type, t.numel()), 0);
      w.tensors.push_back(std::move(t));
    }
    return w;
  }

  bool contains(std::string_view suffix) const noexcept {
    for (const auto& t : tensors)
      if (t.suffix == suffix) return true;
    return false;
  }
  const encoded_tensor& at(std::string_view suffix) const {
    for (const auto& t : tensors)
      if (t.suffix == suffix) return t;
    throw error(std::string(suffix), "no such tensor in this encoded weight");
  }
  encoded_tensor& at(std::string_view suffix) {
    return const_cast<encoded_tensor&>(static_cast<const encoded_weight&>(*this).at(suffix));
  }
  // Sum of the tensors' byte sizes (what the format costs on disk).
  std::uint64_t total_bytes() const noexcept {
    std::uint64_t n = 0;
    for (const auto& t : tensors) n += t.bytes.size();
    return n;
  }
  friend bool operator==(const encoded_weight& a, const encoded_weight& b) {
    if (a.rows != b.rows || a.cols != b.cols || a.tensors.size() != b.tensors.size()) return false;
    for (std::size_t i = 0; i < a.tensors.size(); ++i) {
      const auto &x = a.tensors[i], &y = b.tensors[i];
      if (x.suffix != y.suffix || x.type != y.type || x.shape != y.shape || x.bytes != y.bytes) return false;
    }
    return true;
  }
};

// Checks that `w` has exactly the tensors of `specs` (names, dtypes, shapes) — for decoding
// tensors read from a file. Throws prismaquant::error naming `where`.
inline void check_layout(const encoded_weight& w, const std::vector<tensor_spec>& specs, std::string_view where) {
  if (w.tensors.size() != specs.size())
    throw error(std::string(where), "expected " + std::to_string(specs.size()) + " tensors, got " +
                                        std::to_string(w.tensors.size()));
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& t = w.tensors[i];
    const auto& s = specs[i];
    if (t.suffix != s.suffix) throw error(std::string(where), "tensor " + std::to_string(i) + " is \"" + t.suffix + "\", expected \"" + s.suffix + "\"");
    if (t.type != s.type)
      throw error(std::string(where) + "." + t.suffix, "dtype " + std::string(dtype_name(t.type)) + ", expected " +
                                                          std::string(dtype_name(s.type)));
    if (t.shape != s.shape) throw error(std::string(where) + "." + t.suffix, "unexpected shape");
    if (t.bytes.size() != dtype_bytes(s.type, t.numel()))
      throw error(std::string(where) + "." + t.suffix, "byte size does not match its shape");
  }
}

}  // namespace prismaquant::formats
