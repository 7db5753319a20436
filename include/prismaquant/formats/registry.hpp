#pragma once
// Runtime registry: canonical format name -> type-erased entry points, built from the
// compile-time lists in list.hpp (for the CLI and for files that name formats). Host-only.
//
//   const format_entry& f = formats::find("NVFP4");   // throws prismaquant::error if unknown
//   encoded_weight e = f.encode(view, formats::measure(view));
//   for (const auto& f : formats::registry()) ...      // all_formats order, then MX rule variants
#include <prismaquant/formats/encode.hpp>
#include <prismaquant/formats/list.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::formats {

struct format_entry {
  std::string_view name;
  int element_bits;
  std::int64_t block_rows, block_cols;
  bool default_sweep;  // in all_formats (false for the MX rule variants)
  std::uint64_t (*storage_bytes)(std::int64_t rows, std::int64_t cols);
  void (*check_shape)(std::int64_t rows, std::int64_t cols, std::string_view where);
  encoded_weight (*encode)(const weight_view& w, const tensor_stats& stats);
  std::vector<float> (*decode)(const encoded_weight& e, std::string_view where);
  std::vector<float> (*round_trip)(const weight_view& w, const tensor_stats& stats);
  std::vector<tensor_spec> (*layout)(std::int64_t rows, std::int64_t cols);

  double bits_per_param(std::int64_t rows, std::int64_t cols) const {
    return 8.0 * static_cast<double>(storage_bytes(rows, cols)) / (static_cast<double>(rows) * static_cast<double>(cols));
  }
};

template <class F>
format_entry make_entry(bool default_sweep = true) {
  static_assert(check_format<F>());
  return format_entry{F::name,
                      F::element_bits,
                      F::block_rows,
                      F::block_cols,
                      default_sweep,
                      [](std::int64_t r, std::int64_t c) -> std::uint64_t { return F::storage_bytes(r, c); },
                      [](std::int64_t r, std::int64_t c, std::string_view w) { F::check_shape(r, c, w); },
                      [](const weight_view& w, const tensor_stats& s) { return encode<F>(w, s); },
                      [](const encoded_weight& e, std::string_view w) { return decode<F>(e, w); },
                      [](const weight_view& w, const tensor_stats& s) { return round_trip<F>(w, s); },
                      [](std::int64_t r, std::int64_t c) { return F::layout(r, c, typename F::tensor_params{}); }};
}

inline const std::vector<format_entry>& registry() {
  static const std::vector<format_entry> r = [] {
    std::vector<format_entry> v;
    all_formats::for_each([&]<class F>() { v.push_back(make_entry<F>(true)); });
    mx_rule_variants::for_each([&]<class F>() { v.push_back(make_entry<F>(false)); });
    return v;
  }();
  return r;
}

inline const format_entry* find_if_known(std::string_view name) noexcept {
  for (const auto& f : registry())
    if (f.name == name) return &f;
  return nullptr;
}

// The entry for a canonical name; throws prismaquant::error(where, ...) listing the known names
// (`where`: the option or file entry that named it).
inline const format_entry& find(std::string_view name, const std::string& where = "format") {
  if (const auto* f = find_if_known(name)) return *f;
  std::string known;
  for (const auto& f : registry()) known += (known.empty() ? "" : ", ") + std::string(f.name);
  throw error(where, "unknown format \"" + std::string(name) + "\" (known: " + known + ")");
}

}  // namespace prismaquant::formats
