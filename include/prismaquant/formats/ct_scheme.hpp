#pragma once
// Compressed-tensors scheme facts of a format: what an exporter writes into config.json's
// `quantization_config.config_groups` for the Linears stored in format F. One
// specialisation per exportable format, next to nothing else:
//
//   template <> struct ct_scheme<nvfp4> {
//     static constexpr std::string_view format = "...";   // config_groups.<g>.format
//     static nlohmann::json weights();                      // config_groups.<g>.weights
//     static nlohmann::json input_activations();            // or null (weight-only)
//   };
//
// A format without one is not exportable (has_ct_scheme<F> is false); the exporter names it.
// The facts themselves come from compressed-tensors (papers/ct-recipe.md) and are checked
// against its own config code when they are added.
#include <string_view>

namespace prismaquant::formats {

template <class F>
struct ct_scheme;  // no scheme unless specialised

template <class F>
concept has_ct_scheme = requires {
  { ct_scheme<F>::format } -> std::convertible_to<std::string_view>;
};

}  // namespace prismaquant::formats
