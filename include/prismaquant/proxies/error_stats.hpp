#pragma once
// The error statistics a Δloss proxy can ask the cost stage for, as types, so a proxy's needs
// are known at compile time and the cost pass computes exactly those (one read of the weight,
// every format at once). `needs_mask_v<P>` turns a proxy's list into a runtime bit mask.
#include <prismaquant/core/config.hpp>

#include <cstdint>
#include <string>
#include <type_traits>

namespace prismaquant::proxy {

// Σ (W − Ŵ)² over the whole tensor (with n, this is MSE_W).
struct total_sse { static constexpr std::uint32_t bit = 1u << 0; static constexpr const char* name = "sse"; };
// Σ_j (W − Ŵ)²_rj for each output row r.
struct per_row_sse { static constexpr std::uint32_t bit = 1u << 1; static constexpr const char* name = "sse_row"; };
// Σ_{r,j} E[x_j²]·(W − Ŵ)²_rj (diagonal activation weighting).
struct act_weighted_sse { static constexpr std::uint32_t bit = 1u << 2; static constexpr const char* name = "act_sse"; };
// max |W − Ŵ|.
struct max_abs_err { static constexpr std::uint32_t bit = 1u << 3; static constexpr const char* name = "max_abs_err"; };

template <class T>
concept error_statistic = requires {
  { T::bit } -> std::convertible_to<std::uint32_t>;
  { T::name } -> std::convertible_to<const char*>;
};

// A type-level list: `using needs = error_stats<total_sse, per_row_sse>;`
template <error_statistic... S>
struct error_stats {
  static constexpr std::uint32_t mask = (0u | ... | S::bit);
};

template <class L>
struct is_error_stats : std::false_type {};
template <class... S>
struct is_error_stats<error_stats<S...>> : std::true_type {};

template <class P>
inline constexpr std::uint32_t needs_mask_v = P::needs::mask;

template <class P, class S>
inline constexpr bool needs_v = (P::needs::mask & S::bit) != 0;

// Names of the statistics in a mask, for messages ("sse, sse_row").
inline std::string describe_mask(std::uint32_t m) {
  std::string s;
  auto add = [&](std::uint32_t bit, const char* n) {
    if (m & bit) s += (s.empty() ? "" : ", ") + std::string(n);
  };
  add(total_sse::bit, total_sse::name);
  add(per_row_sse::bit, per_row_sse::name);
  add(act_weighted_sse::bit, act_weighted_sse::name);
  add(max_abs_err::bit, max_abs_err::name);
  return s;
}

}  // namespace prismaquant::proxy
