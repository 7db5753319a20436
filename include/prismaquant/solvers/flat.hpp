#pragma once
// Structure-of-arrays form of a problem: what the solvers actually read. Building a
// million-item problem as `problem` (strings, nested vectors) costs far more memory and
// time than solving it, so benchmarks and the allocator may fill this form directly.
// Also: validation, the infeasible-budget error, and exact evaluation of a choice (Δloss
// totals over 10^5..10^6 terms spanning many orders of magnitude are exact sums,
// core/exact_sum.hpp: the certified bounds and gaps are only as good as these sums).
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/exact_sum.hpp>
#include <prismaquant/solvers/problem.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_set>
#include <vector>

namespace prismaquant::solvers {

struct flat_problem {
  std::vector<std::int64_t> offset{0};    // item i owns candidates [offset[i], offset[i+1])
  std::vector<std::int64_t> bytes;        // per candidate
  std::vector<double> dloss;              // per candidate
  std::vector<std::int64_t> n_params;     // per item

  std::size_t items() const noexcept { return n_params.size(); }
  std::int64_t count(std::size_t i) const noexcept { return offset[i + 1] - offset[i]; }
  void add_item(std::int64_t params) {
    n_params.push_back(params);
    offset.push_back(offset.back());
  }
  // Appends a candidate to the last added item.
  void add_candidate(std::int64_t b, double d) {
    bytes.push_back(b);
    dloss.push_back(d);
    ++offset.back();
  }
  std::int64_t total_params() const noexcept {
    std::int64_t s = 0;
    for (auto p : n_params) s += p;
    return s;
  }
};

inline flat_problem flatten(const problem& p) {
  flat_problem f;
  std::size_t n = 0;
  for (auto& it : p.items) n += it.candidates.size();
  f.offset.reserve(p.items.size() + 1);
  f.n_params.reserve(p.items.size());
  f.bytes.reserve(n);
  f.dloss.reserve(n);
  for (auto& it : p.items) {
    f.add_item(it.n_params);
    for (auto& c : it.candidates) f.add_candidate(c.memory_bytes, c.dloss);
  }
  return f;
}

namespace detail {
inline std::string item_where(std::size_t i) { return "item " + std::to_string(i); }
}  // namespace detail

// Numeric checks every solver relies on. `where` names the problem (file or object).
inline void validate(const flat_problem& f, const std::string& where = "problem") {
  const std::size_t n = f.items();
  if (f.offset.size() != n + 1 || f.offset.front() != 0 || f.bytes.size() != f.dloss.size() ||
      static_cast<std::size_t>(f.offset.back()) != f.bytes.size())
    throw error(where, "inconsistent flat problem arrays");
  // Σ of every item's largest candidate must fit int64 so no solver can overflow.
  std::int64_t max_total = 0, params = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (f.offset[i + 1] <= f.offset[i]) throw error(where, detail::item_where(i) + ": empty candidate list");
    if (f.n_params[i] <= 0) throw error(where, detail::item_where(i) + ": n_params must be positive");
    if (__builtin_add_overflow(params, f.n_params[i], &params)) throw error(where, "total n_params overflows int64");
    std::int64_t mx = 0;
    for (auto k = f.offset[i]; k < f.offset[i + 1]; ++k) {
      if (f.bytes[k] < 0)
        throw error(where, detail::item_where(i) + ", candidate " + std::to_string(k - f.offset[i]) +
                               ": memory_bytes is negative (" + std::to_string(f.bytes[k]) + ")");
      if (!std::isfinite(f.dloss[k]))
        throw error(where, detail::item_where(i) + ", candidate " + std::to_string(k - f.offset[i]) +
                               ": dloss is not finite");
      mx = std::max(mx, f.bytes[k]);
    }
    if (__builtin_add_overflow(max_total, mx, &max_total)) throw error(where, "total memory_bytes overflows int64");
  }
}

// validate(flat) plus the string-level checks: names present and unique.
inline void validate(const problem& p, const std::string& where = "problem") {
  std::unordered_set<std::string_view> names;
  names.reserve(p.items.size() * 2);
  for (std::size_t i = 0; i < p.items.size(); ++i) {
    auto& it = p.items[i];
    if (it.name.empty()) throw error(where, detail::item_where(i) + ": empty name");
    if (!names.insert(it.name).second) throw error(where, "duplicate item name \"" + it.name + "\"");
    if (it.candidates.empty()) throw error(where, "item \"" + it.name + "\": empty candidate list");
  }
  validate(flatten(p), where);
}

// Σ over items of the smallest candidate: the smallest feasible budget.
inline std::int64_t min_total_bytes(const flat_problem& f) {
  std::int64_t s = 0;
  for (std::size_t i = 0; i < f.items(); ++i) {
    std::int64_t m = std::numeric_limits<std::int64_t>::max();
    for (auto k = f.offset[i]; k < f.offset[i + 1]; ++k) m = std::min(m, f.bytes[k]);
    s += m;
  }
  return s;
}

// Bits per parameter of a byte total (8·bytes / Σ n_params).
inline double bits_of(std::int64_t bytes, std::int64_t total_params) {
  return total_params > 0 ? 8.0 * static_cast<double>(bytes) / static_cast<double>(total_params) : 0.0;
}

// The one error for an infeasible budget: it states the smallest feasible size.
inline void check_budget(const flat_problem& f, std::int64_t budget, const std::string& where = "problem") {
  const std::int64_t need = min_total_bytes(f);
  if (budget < 0 || budget < need) {
    const std::int64_t tp = f.total_params();
    throw error(where, "infeasible budget: " + std::to_string(budget) + " bytes (" + std::to_string(bits_of(budget, tp)) +
                           " bits/param) is below the smallest feasible size " + std::to_string(need) + " bytes (" +
                           std::to_string(bits_of(need, tp)) + " bits/param, every item at its smallest candidate)");
  }
}

struct evaluation {
  std::int64_t bytes = 0;
  double dloss = 0.0;
};

inline evaluation evaluate(const flat_problem& f, const std::vector<int>& choice) {
  evaluation e;
  exact_sum s;
  for (std::size_t i = 0; i < f.items(); ++i) {
    auto k = f.offset[i] + choice[i];
    e.bytes += f.bytes[k];
    s.add(f.dloss[k]);
  }
  e.dloss = s.value();
  return e;
}

// Fills total_bytes, achieved_bits, dloss and gap of `s` from its choice and lower_bound.
inline void finish(const flat_problem& f, solution& s) {
  auto e = evaluate(f, s.choice);
  s.total_bytes = e.bytes;
  s.dloss = e.dloss;
  s.achieved_bits = bits_of(e.bytes, f.total_params());
  if (s.lower_bound > s.dloss) s.lower_bound = s.dloss;  // a bound above a feasible value is float noise
  s.gap = (s.dloss - s.lower_bound) / std::max(std::fabs(s.dloss), 1e-300);
}

}  // namespace prismaquant::solvers
