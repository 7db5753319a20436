#pragma once
// Per-Linear statistics from the calibration probe (docs/file-formats.md "Stats file").
//
//   H_trace = fisher_sum / rows_seen, fisher_sum = Σ_batches ‖G_b‖_F², G_b = Σ_t δ_t x_tᵀ
//   (the reference's per-batch empirical Fisher; with one batch it is exactly ‖G‖²/n_rows).
//   h_row[r]    optional, per output row r: the same quantity restricted to row r
//               (Σ_b ‖G_b[r,:]‖² / rows_seen), so Σ_r h_row[r] = H_trace.
//   xtx_diag[j] optional, per input column j: Σ_t x_tj² (diag XᵀX); E[x_j²] = xtx_diag/rows.
//
// Version 2 of the stats file adds, when the probe measured them:
//   fisher_token_sum  Σ_t ‖δ_t‖²·‖x_t‖²  (the per-token empirical Fisher, a second proxy input)
//   input_amax        max_{t,j} |x_tj|    (activation global scales of NVFP4 W4A4)
//   first_order_sum   per format f: Σ_b ⟨G_b, Q_f(W) − W⟩, the change of the calibration loss
//                     Σ_t w_t·CE_t to first order when this Linear alone takes format f
//                     (`probe --first-order FORMATS`); first_order(f) divides it by rows_seen,
//                     as H_trace is divided, so it adds to the second-order proxies' Δloss.
//
// Merging shards: the scalar sums are exact_sum (order-independent, bit for bit); rows_seen is
// an integer; input_amax merges by max. The vectors merge exactly too (exact_vector): a shard's
// file keeps each element's remainder beyond the rounded value (h_row_rest / xtx_diag_rest, the
// rows of exact_vector::expansion() after the first), so a merge of shards is bit-identical to
// one run over all batches. Vectors without remainders merge as the plain values they are.
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/stats/exact_sum.hpp>
#include <prismaquant/stats/exact_vector.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::stats {

struct linear_stats {
  std::string name;                  // checkpoint module name, e.g. model.layers.0.self_attn.q_proj
  std::int64_t out_features = 0;
  std::int64_t in_features = 0;
  dtype source_dtype = dtype::BF16;  // dtype of the weight in the source checkpoint
  std::int64_t source_block_out = 0; // FP8 block sources: block shape (128, 128); 0 = none
  std::int64_t source_block_in = 0;
  std::int64_t rows_seen = 0;        // rows (tokens) this Linear saw: all, or those routed to it
  exact_sum fisher_sum;              // Σ_b ‖G_b‖² (see above)
  std::vector<double> h_row_sum;     // optional, size out: Σ_b ‖G_b[r,:]‖²
  std::vector<double> xtx_diag;      // optional, size in: Σ_t x_tj²
  // exact remainders of the vectors (rows of exact_vector::expansion() after the values)
  std::vector<std::vector<double>> h_row_rest, xtx_diag_rest;
  bool has_fisher = true;                     // false: the probe was not asked for fisher_sum
  std::optional<exact_sum> fisher_token_sum;  // Σ_t ‖δ_t‖²·‖x_t‖²
  std::optional<double> input_amax;           // max |x|
  std::map<std::string, exact_sum> first_order_sum;  // format -> Σ_b ⟨G_b, Q_f(W) − W⟩ (may be negative)

  std::int64_t n_params() const noexcept { return out_features * in_features; }
  double h_trace() const { return rows_seen > 0 ? fisher_sum.value() / static_cast<double>(rows_seen) : 0.0; }
  double h_row(std::size_t r) const { return rows_seen > 0 ? h_row_sum[r] / static_cast<double>(rows_seen) : 0.0; }
  double act_second_moment(std::size_t j) const {
    return rows_seen > 0 ? xtx_diag[j] / static_cast<double>(rows_seen) : 0.0;
  }
  // The first-order term of format `fmt` per row seen, or nothing when the probe did not price it.
  std::optional<double> first_order(std::string_view fmt) const {
    const auto it = first_order_sum.find(std::string(fmt));
    if (it == first_order_sum.end()) return std::nullopt;
    return rows_seen > 0 ? it->second.value() / static_cast<double>(rows_seen) : 0.0;
  }
  bool is_fp8_block_source() const noexcept {
    return source_dtype == dtype::F8_E4M3 && source_block_out == 128 && source_block_in == 128;
  }

  // Set H_trace directly (stats produced elsewhere): fisher_sum = h_trace·rows_seen.
  void set_h_trace(double h) {
    fisher_sum = exact_sum{};
    fisher_sum.add(h * static_cast<double>(rows_seen > 0 ? rows_seen : 1));
    if (rows_seen == 0) rows_seen = 1;
  }

  // Refuse what would make a Δloss meaningless: bad shapes, negative or non-finite values.
  void validate(const std::string& where) const {
    const std::string w = where + ": linear \"" + name + "\"";
    if (out_features <= 0 || in_features <= 0) throw error(w, "shape must be positive");
    if (rows_seen < 0) throw error(w, "rows_seen is negative");
    const double f = fisher_sum.value();
    if (!std::isfinite(f) || f < 0.0) throw error(w, "H_trace is negative or not finite");
    if (!h_row_sum.empty()) {
      if (static_cast<std::int64_t>(h_row_sum.size()) != out_features)
        throw error(w, "h_row has " + std::to_string(h_row_sum.size()) + " entries, expected out_features = " +
                           std::to_string(out_features));
      for (double v : h_row_sum)
        if (!std::isfinite(v) || v < 0.0) throw error(w, "h_row has a negative or non-finite entry");
    }
    for (const auto& r : h_row_rest)
      if (r.size() != h_row_sum.size()) throw error(w, "h_row_sum remainder rows do not match its length");
    for (const auto& r : xtx_diag_rest)
      if (r.size() != xtx_diag.size()) throw error(w, "xtx_diag remainder rows do not match its length");
    if (fisher_token_sum) {
      const double v = fisher_token_sum->value();
      if (!std::isfinite(v) || v < 0.0) throw error(w, "fisher_token_sum is negative or not finite");
    }
    for (const auto& [f, v] : first_order_sum)
      if (!std::isfinite(v.value())) throw error(w, "first_order_sum of " + f + " is not finite");
    if (input_amax && (!std::isfinite(*input_amax) || *input_amax < 0.0))
      throw error(w, "input_amax is negative or not finite");
    if (!xtx_diag.empty()) {
      if (static_cast<std::int64_t>(xtx_diag.size()) != in_features)
        throw error(w, "xtx_diag has " + std::to_string(xtx_diag.size()) + " entries, expected in_features = " +
                           std::to_string(in_features));
      for (double v : xtx_diag)
        if (!std::isfinite(v) || v < 0.0) throw error(w, "xtx_diag has a negative or non-finite entry");
    }
  }

  // Merge another shard of the same Linear (shape and source must agree).
  void merge(const linear_stats& o) {
    if (o.name != name || o.out_features != out_features || o.in_features != in_features)
      throw error("linear \"" + name + "\"", "cannot merge stats of a different Linear or shape");
    if (o.source_dtype != source_dtype) throw error("linear \"" + name + "\"", "shards disagree on source dtype");
    const std::string w = "linear \"" + name + "\"";
    if (o.has_fisher != has_fisher) throw error(w, "shards disagree on whether fisher_sum was measured");
    if (o.fisher_token_sum.has_value() != fisher_token_sum.has_value())
      throw error(w, "shards disagree on whether fisher_token_sum was measured");
    if (o.first_order_sum.size() != first_order_sum.size() ||
        !std::equal(first_order_sum.begin(), first_order_sum.end(), o.first_order_sum.begin(),
                    [](const auto& a, const auto& b) { return a.first == b.first; }))
      throw error(w, "shards disagree on the formats of first_order_sum");
    rows_seen += o.rows_seen;
    fisher_sum.merge(o.fisher_sum);
    for (auto& [f, v] : first_order_sum) v.merge(o.first_order_sum.at(f));
    if (fisher_token_sum) fisher_token_sum->merge(*o.fisher_token_sum);
    if (o.input_amax) input_amax = std::max(input_amax.value_or(0.0), *o.input_amax);
    auto addv = [&](std::vector<double>& a, std::vector<std::vector<double>>& ar, const std::vector<double>& b,
                    const std::vector<std::vector<double>>& br, const char* what) {
      if (b.empty()) return;
      if (a.empty()) { a = b; ar = br; return; }
      if (a.size() != b.size()) throw error(w, std::string("shards disagree on ") + what + " length");
      exact_vector v = exact_vector::from_split(a, ar);
      v.merge(exact_vector::from_split(b, br));
      v.split(a, ar);
    };
    addv(h_row_sum, h_row_rest, o.h_row_sum, o.h_row_rest, "h_row");
    addv(xtx_diag, xtx_diag_rest, o.xtx_diag, o.xtx_diag_rest, "xtx_diag");
  }
};

}  // namespace prismaquant::stats
