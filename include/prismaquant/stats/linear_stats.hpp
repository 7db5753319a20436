#pragma once
// Per-Linear statistics from the calibration probe (docs/file-formats.md "Stats file").
//
//   H_trace = fisher_sum / rows_seen, fisher_sum = Σ_batches ‖G_b‖_F², G_b = Σ_t δ_t x_tᵀ
//   (the reference's per-batch empirical Fisher; with one batch it is exactly ‖G‖²/n_rows).
//   h_row[r]    optional, per output row r: the same quantity restricted to row r
//               (Σ_b ‖G_b[r,:]‖² / rows_seen), so Σ_r h_row[r] = H_trace.
//   xtx_diag[j] optional, per input column j: Σ_t x_tj² (diag XᵀX); E[x_j²] = xtx_diag/rows.
//
// Merging shards: the scalar Fisher sum is an exact_sum (order-independent, bit for bit);
// rows_seen is an integer. The vectors are merged in shard-name order by merge_shards()
// (stats_file.hpp) so a merge is deterministic for a given set of shards whatever the order
// they arrive in; the vector sums are plain doubles.
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/stats/exact_sum.hpp>

#include <cmath>
#include <cstdint>
#include <string>
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

  std::int64_t n_params() const noexcept { return out_features * in_features; }
  double h_trace() const { return rows_seen > 0 ? fisher_sum.value() / static_cast<double>(rows_seen) : 0.0; }
  double h_row(std::size_t r) const { return rows_seen > 0 ? h_row_sum[r] / static_cast<double>(rows_seen) : 0.0; }
  double act_second_moment(std::size_t j) const {
    return rows_seen > 0 ? xtx_diag[j] / static_cast<double>(rows_seen) : 0.0;
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
    rows_seen += o.rows_seen;
    fisher_sum.merge(o.fisher_sum);
    auto addv = [&](std::vector<double>& a, const std::vector<double>& b, const char* what) {
      if (b.empty()) return;
      if (a.empty()) { a = b; return; }
      if (a.size() != b.size()) throw error("linear \"" + name + "\"", std::string("shards disagree on ") + what + " length");
      for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    };
    addv(h_row_sum, o.h_row_sum, "h_row");
    addv(xtx_diag, o.xtx_diag, "xtx_diag");
  }
};

}  // namespace prismaquant::stats
