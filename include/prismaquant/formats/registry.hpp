#pragma once
// Runtime registry: canonical format name -> the format's facts and type-erased entry points,
// built from compile-time lists (for the CLI and for files that name formats). Host-only.
// The only place a format is looked up by its name: everything else reads the entry's facts.
//
//   const format_entry& f = formats::find("NVFP4");   // throws prismaquant::error if unknown
//   encoded_weight e = f.encode(view, formats::measure(view));
//   for (const auto& f : formats::registry()) ...      // all_formats order, then MX rule variants
//   auto mine = formats::entries_of<format_list<nvfp4, my_format>>();  // any list, user formats too
//   const format_entry& e = formats::entry_of<nvfp4>();  // by type: code that means one format
#include <prismaquant/formats/ct_preset.hpp>
#include <prismaquant/formats/encode.hpp>
#include <prismaquant/formats/list.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::formats {

struct format_entry {
  std::string_view name;
  int element_bits;
  std::int64_t block_rows, block_cols;
  bool default_sweep;  // in all_formats (false for the MX rule variants)
  std::string_view data_type;      // layer_config.json (format.hpp, section 3)
  std::string_view element_dtype;  // layer_config.json's weight_element_dtype; empty: none
  source_set accepts;              // sources it may be chosen for
  source_set lossless_for;         // sources it stores exactly (pass-through)
  std::uint64_t (*storage_bytes)(std::int64_t rows, std::int64_t cols);
  void (*check_shape)(std::int64_t rows, std::int64_t cols, std::string_view where);
  encoded_weight (*encode)(const weight_view& w, const tensor_stats& stats);
  std::vector<float> (*decode)(const encoded_weight& e, std::string_view where);
  std::vector<float> (*round_trip)(const weight_view& w, const tensor_stats& stats);
  std::vector<tensor_spec> (*layout)(std::int64_t rows, std::int64_t cols);
  const ct_preset* compressed_tensors;  // how an export stores it (ct_preset.hpp); null: it cannot

  int group_size() const noexcept { return block_cols == whole ? -1 : static_cast<int>(block_cols); }
  bool allows(source_format s) const noexcept { return accepts.contains(s); }
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
                      data_type_of<F>(),
                      element_dtype_of<F>(),
                      accepts_of<F>(),
                      lossless_for_of<F>(),
                      [](std::int64_t r, std::int64_t c) -> std::uint64_t { return F::storage_bytes(r, c); },
                      [](std::int64_t r, std::int64_t c, std::string_view w) { F::check_shape(r, c, w); },
                      [](const weight_view& w, const tensor_stats& s) { return encode<F>(w, s); },
                      [](const encoded_weight& e, std::string_view w) { return decode<F>(e, w); },
                      [](const weight_view& w, const tensor_stats& s) { return round_trip<F>(w, s); },
                      [](std::int64_t r, std::int64_t c) { return F::layout(r, c, typename F::tensor_params{}); },
                      ct_preset_of<F>::value};
}

// The entries of a compile-time list, in its order.
template <class List>
std::vector<format_entry> entries_of(bool default_sweep = true) {
  std::vector<format_entry> v;
  List::for_each([&]<class F>() { v.push_back(make_entry<F>(default_sweep)); });
  return v;
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

// In a set of entries (an executable's registry, a recipe's list).
inline const format_entry* find_if_known(std::string_view name, std::span<const format_entry> in) noexcept {
  for (const auto& f : in)
    if (f.name == name) return &f;
  return nullptr;
}
// The entry for a canonical name; throws prismaquant::error(where, ...) listing the known names
// (`where`: the option or file entry that named it).
inline const format_entry& find(std::string_view name, std::span<const format_entry> in,
                                const std::string& where = "format") {
  if (const auto* f = find_if_known(name, in)) return *f;
  std::string known;
  for (const auto& f : in) known += (known.empty() ? "" : ", ") + std::string(f.name);
  throw error(where, "unknown format \"" + std::string(name) + "\" (known: " + known + ")");
}

// In the built-in registry.
inline const format_entry* find_if_known(std::string_view name) noexcept { return find_if_known(name, registry()); }
inline const format_entry& find(std::string_view name, const std::string& where = "format") {
  return find(name, registry(), where);
}

// F's entry in the built-in registry: code that means one particular format names its type,
// so a misspelt format is a compile error rather than a run-time lookup failure.
template <class F>
const format_entry& entry_of() {
  static_assert(check_format<F>());
  static const format_entry& e = find(F::name, registry(), "formats::entry_of");
  return e;
}

// The canonical names of a compile-time list, in its order (e.g. a command's default formats).
template <class List>
std::vector<std::string> names_of() {
  std::vector<std::string> v;
  List::for_each([&]<class F>() { v.emplace_back(F::name); });
  return v;
}

}  // namespace prismaquant::formats
