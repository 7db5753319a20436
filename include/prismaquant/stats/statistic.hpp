#pragma once
// The one vocabulary of statistics. A policy declares what it reads as a type list
// (`using needs = stat::list<stat::fisher, stat::sse>;`), and each stage computes exactly the
// part of that list it owns:
//
//   stage        statistics                                  per
//   cost pass    sse, row_sse, act_sse, max_abs              Linear x format
//   probe        fisher, fisher_token, h_row, xtx_diag,      Linear
//                input_amax, xtx, first_order
//   probe        reap, reroute                               router (per expert, per domain)
//
// `stat::list<...>::only<stage>` keeps one stage's part, so a recipe derives the cost
// request and the probe request from its proxy's and saliency's needs.
//
// At run time (erased policies, the command line) a set of statistics is a `stat::set`, one
// bit per statistic (`list<...>::mask`). Plain C++: the cost kernels and the probe include it.
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace prismaquant::stat {

enum class stage { cost, probe_linear, probe_router };

// One number per statistic, for stat::set (the order of the tags below).
enum class id : std::uint8_t { sse, row_sse, act_sse, max_abs, fisher, fisher_token, h_row, xtx_diag, input_amax,
                               xtx, reap, reroute, first_order };

// ---- computed by the cost pass, per Linear and format ----
struct sse {         // Σ (w − ŵ)² over the tensor
  static constexpr stage of = stage::cost;
  static constexpr id key = id::sse;
  static constexpr std::string_view name = "sse";
};
struct row_sse {     // Σ_j (w_ij − ŵ_ij)² per output row i
  static constexpr stage of = stage::cost;
  static constexpr id key = id::row_sse;
  static constexpr std::string_view name = "sse_row";
};
struct act_sse {     // Σ_ij m_j (w_ij − ŵ_ij)², m_j = E[x_j²] (needs the probe's xtx_diag)
  static constexpr stage of = stage::cost;
  static constexpr id key = id::act_sse;
  static constexpr std::string_view name = "act_sse";
};
struct max_abs {     // max |w − ŵ|
  static constexpr stage of = stage::cost;
  static constexpr id key = id::max_abs;
  static constexpr std::string_view name = "max_abs_err";
};

// ---- computed by the probe, per Linear ----
struct fisher {        // fisher_sum = Σ_b ‖G_b‖_F², G_b = Σ_{t∈b} δ_t x_tᵀ; and rows_seen
  static constexpr stage of = stage::probe_linear;
  static constexpr id key = id::fisher;
  static constexpr std::string_view name = "fisher_sum";
};
struct fisher_token {  // Σ_t ‖δ_t‖²·‖x_t‖²
  static constexpr stage of = stage::probe_linear;
  static constexpr id key = id::fisher_token;
  static constexpr std::string_view name = "fisher_token_sum";
};
struct h_row {         // Σ_b ‖G_b[r,:]‖² per output row r
  static constexpr stage of = stage::probe_linear;
  static constexpr id key = id::h_row;
  static constexpr std::string_view name = "h_row_sum";
};
struct xtx_diag {      // Σ_t x_tj² per input column j
  static constexpr stage of = stage::probe_linear;
  static constexpr id key = id::xtx_diag;
  static constexpr std::string_view name = "xtx_diag";
};
struct input_amax {    // max_t,j |x_tj| (NVFP4 activation global scales)
  static constexpr stage of = stage::probe_linear;
  static constexpr id key = id::input_amax;
  static constexpr std::string_view name = "input_amax";
};
struct xtx {           // the full Σ_t x_t x_tᵀ (GPTQ's Hessian); never written to a stats file
  static constexpr stage of = stage::probe_linear;
  static constexpr id key = id::xtx;
  static constexpr std::string_view name = "xtx";
};

struct first_order {   // Σ_b ⟨G_b, Q_f(W) − W⟩ per requested format f (the Taylor expansion's
                       // first-order term; `probe --first-order FORMATS`)
  static constexpr stage of = stage::probe_linear;
  static constexpr id key = id::first_order;
  static constexpr std::string_view name = "first_order_sum";
};

// ---- computed by the probe, per router, expert and calibration domain ----
struct reap {     // count, Σg, Σ‖f‖, Σ‖f‖², Σg‖f‖, Σg‖f‖², max g‖f‖, total_tokens
  static constexpr stage of = stage::probe_router;
  static constexpr id key = id::reap;
  static constexpr std::string_view name = "reap";
};
struct reroute {  // reroute_fisher, reroute_first, reroute_sq (the MoE output change when
                  // the expert is excluded and the router picks the next one)
  static constexpr stage of = stage::probe_router;
  static constexpr id key = id::reroute;
  static constexpr std::string_view name = "reroute";
};

template <class S>
concept statistic = requires {
  { S::of } -> std::convertible_to<stage>;
  { S::name } -> std::convertible_to<std::string_view>;
  { S::key } -> std::convertible_to<id>;
};

// A set of statistics at run time.
struct set {
  std::uint32_t bits = 0;
  static constexpr std::uint32_t bit(id i) noexcept { return 1u << static_cast<unsigned>(i); }
  constexpr bool contains(id i) const noexcept { return (bits & bit(i)) != 0; }
  template <statistic S>
  constexpr bool contains() const noexcept { return contains(S::key); }
  constexpr bool empty() const noexcept { return bits == 0; }
  constexpr set operator|(set o) const noexcept { return {bits | o.bits}; }
  constexpr set operator&(set o) const noexcept { return {bits & o.bits}; }
  constexpr bool operator==(const set&) const = default;
  // The statistics of this set that one stage computes.
  constexpr set only(stage st) const noexcept;
  // Their names, comma separated ("sse, sse_row"), for messages.
  std::string names() const;
};

template <statistic... S>
struct list;

namespace detail {
template <class L, class S>
struct append;
template <class... A, class S>
struct append<list<A...>, S> {
  using type = std::conditional_t<(std::is_same_v<A, S> || ...), list<A...>, list<A..., S>>;
};
template <class Acc, class... S>
struct fold_unique {
  using type = Acc;
};
template <class Acc, class S, class... Rest>
struct fold_unique<Acc, S, Rest...> {
  using type = typename fold_unique<typename append<Acc, S>::type, Rest...>::type;
};
template <stage St, class Acc, class... S>
struct fold_stage {
  using type = Acc;
};
template <stage St, class Acc, class S, class... Rest>
struct fold_stage<St, Acc, S, Rest...> {
  using next = std::conditional_t<S::of == St, typename append<Acc, S>::type, Acc>;
  using type = typename fold_stage<St, next, Rest...>::type;
};
}  // namespace detail

// A set of statistics (duplicates are harmless; order is the order of first mention).
template <statistic... S>
struct list {
  template <class T>
  static constexpr bool contains = (std::is_same_v<T, S> || ...);
  static constexpr std::size_t size = sizeof...(S);
  static constexpr set mask{(0u | ... | set::bit(S::key))};
  // The statistics one stage computes.
  template <stage St>
  using only = typename detail::fold_stage<St, list<>, S...>::type;
  // This set joined with another.
  template <class Other>
  struct join_impl;
  template <class... T>
  struct join_impl<list<T...>> {
    using type = typename detail::fold_unique<list<>, S..., T...>::type;
  };
  template <class Other>
  using join = typename join_impl<Other>::type;
  // Calls f(S{}) for each statistic.
  template <class F>
  static constexpr void for_each(F&& f) {
    (f(S{}), ...);
  }
};

template <class T>
struct is_list : std::false_type {};
template <class... S>
struct is_list<list<S...>> : std::true_type {};

// Every statistic, in id order.
using all = list<sse, row_sse, act_sse, max_abs, fisher, fisher_token, h_row, xtx_diag, input_amax, xtx, reap, reroute,
                 first_order>;

constexpr set set::only(stage st) const noexcept {
  set out;
  all::for_each([&](auto s) {
    if (decltype(s)::of == st && contains(decltype(s)::key)) out.bits |= bit(decltype(s)::key);
  });
  return out;
}

inline std::string set::names() const {
  std::string out;
  all::for_each([&](auto s) {
    if (contains(decltype(s)::key)) out += (out.empty() ? "" : ", ") + std::string(decltype(s)::name);
  });
  return out;
}

}  // namespace prismaquant::stat
