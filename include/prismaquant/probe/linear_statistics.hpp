#pragma once
// The probe's statistics per Linear, one policy per statistic of the vocabulary
// (stats/statistic.hpp), so a proxy's declared needs select what is computed:
//
//   linear_statistic<stat::fisher>        fisher_sum = Σ_b ‖G_b‖_F², G_b = Σ_{t∈b} δ_t x_tᵀ
//   linear_statistic<stat::h_row>         h_row_sum[r] = Σ_b ‖G_b[r,:]‖²
//   linear_statistic<stat::fisher_token>  fisher_token_sum = Σ_t ‖δ_t‖²·‖x_t‖²
//   linear_statistic<stat::xtx_diag>      xtx_diag[j] = Σ_t x_tj²
//   linear_statistic<stat::input_amax>    input_amax = max_{t,j} |x_tj|
//   linear_statistic<stat::xtx>           Σ_t x_t x_tᵀ (GPTQ's Hessian; kept in memory, not written)
//
// A policy measures one call (one Linear in one batch: engine::linear_rows) into a partial, and
// adds partials into its accumulator exactly (exact_sum / exact_vector): batches may be added in
// any order, on any shard, and give the same bits. G_b is formed once per call and shared by
// fisher and h_row.
#include <prismaquant/engine/observer.hpp>
#include <prismaquant/nn/gemm.hpp>
#include <prismaquant/stats/exact_vector.hpp>
#include <prismaquant/stats/linear_stats.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <type_traits>
#include <vector>

namespace prismaquant::probe {

template <class>
inline constexpr bool no_policy = false;

// One call's data and the products several statistics share.
class linear_call {
 public:
  linear_call(const engine::linear_rows& r, const nn::gemm_backend& g, std::vector<float>& scratch)
      : r_(r), g_(g), scratch_(scratch) {}
  const engine::linear_rows& rows() const noexcept { return r_; }
  const nn::gemm_backend& gemm() const noexcept { return g_; }

  // Σ_j G[r, j]² per output row r, G = δᵀx (one product, float32, as autograd forms it).
  const std::vector<double>& grad_row_sq() {
    if (!row_sq_) {
      scratch_.resize(static_cast<std::size_t>(r_.out * r_.in));
      g_.sgemm({true, false, r_.out, r_.in, r_.m, 1.0f, r_.delta, r_.ldd, r_.x, r_.ldx, 0.0f, scratch_.data(), r_.in});
      row_sq_.emplace(static_cast<std::size_t>(r_.out));
      for (std::int64_t o = 0; o < r_.out; ++o) {
        const float* gr = scratch_.data() + o * r_.in;
        double s = 0.0;
        for (std::int64_t j = 0; j < r_.in; ++j) s += static_cast<double>(gr[j]) * gr[j];
        (*row_sq_)[static_cast<std::size_t>(o)] = s;
      }
    }
    return *row_sq_;
  }

 private:
  const engine::linear_rows& r_;
  const nn::gemm_backend& g_;
  std::vector<float>& scratch_;
  std::optional<std::vector<double>> row_sq_;
};

template <class S>
struct linear_statistic {
  static_assert(no_policy<S>, "prismaquant probe: no Linear observer for this statistic");
};

template <>
struct linear_statistic<stat::fisher> {
  static constexpr bool needs_delta = true;
  struct acc {
    stats::exact_sum sum;
    void init(std::int64_t, std::int64_t) {}
  };
  using partial = double;
  static partial measure(linear_call& c) {
    double s = 0.0;
    for (double v : c.grad_row_sq()) s += v;
    return s;
  }
  static void add(acc& a, const partial& p) { a.sum.add(p); }
  static void write(const acc& a, stats::linear_stats& s) {
    s.has_fisher = true;
    s.fisher_sum = a.sum;
  }
};

template <>
struct linear_statistic<stat::h_row> {
  static constexpr bool needs_delta = true;
  struct acc {
    stats::exact_vector v;
    void init(std::int64_t out, std::int64_t) { v = stats::exact_vector(static_cast<std::size_t>(out)); }
  };
  using partial = std::vector<double>;
  static partial measure(linear_call& c) { return c.grad_row_sq(); }
  static void add(acc& a, const partial& p) { a.v.add(p.data()); }
  static void write(const acc& a, stats::linear_stats& s) {
    auto rows = a.v.expansion();
    s.h_row_sum = rows[0];
    s.h_row_rest.assign(rows.begin() + 1, rows.end());
  }
};

template <>
struct linear_statistic<stat::fisher_token> {
  static constexpr bool needs_delta = true;
  struct acc {
    stats::exact_sum sum;
    void init(std::int64_t, std::int64_t) {}
  };
  using partial = double;
  static partial measure(linear_call& c) {
    const auto& r = c.rows();
    double s = 0.0;
    for (std::int64_t t = 0; t < r.m; ++t) {
      const float* d = r.delta + t * r.ldd;
      const float* x = r.x + t * r.ldx;
      double dd = 0.0, xx = 0.0;
      for (std::int64_t j = 0; j < r.out; ++j) dd += static_cast<double>(d[j]) * d[j];
      for (std::int64_t j = 0; j < r.in; ++j) xx += static_cast<double>(x[j]) * x[j];
      s += dd * xx;
    }
    return s;
  }
  static void add(acc& a, const partial& p) { a.sum.add(p); }
  static void write(const acc& a, stats::linear_stats& s) { s.fisher_token_sum = a.sum; }
};

template <>
struct linear_statistic<stat::xtx_diag> {
  static constexpr bool needs_delta = false;
  struct acc {
    stats::exact_vector v;
    void init(std::int64_t, std::int64_t in) { v = stats::exact_vector(static_cast<std::size_t>(in)); }
  };
  using partial = std::vector<double>;
  static partial measure(linear_call& c) {
    const auto& r = c.rows();
    partial p(static_cast<std::size_t>(r.in), 0.0);
    for (std::int64_t t = 0; t < r.m; ++t) {
      const float* x = r.x + t * r.ldx;
      for (std::int64_t j = 0; j < r.in; ++j) p[static_cast<std::size_t>(j)] += static_cast<double>(x[j]) * x[j];
    }
    return p;
  }
  static void add(acc& a, const partial& p) { a.v.add(p.data()); }
  static void write(const acc& a, stats::linear_stats& s) {
    auto rows = a.v.expansion();
    s.xtx_diag = rows[0];
    s.xtx_diag_rest.assign(rows.begin() + 1, rows.end());
  }
};

template <>
struct linear_statistic<stat::input_amax> {
  static constexpr bool needs_delta = false;
  struct acc {
    double amax = 0.0;
    void init(std::int64_t, std::int64_t) {}
  };
  using partial = double;
  static partial measure(linear_call& c) {
    const auto& r = c.rows();
    float m = 0.0f;
    for (std::int64_t t = 0; t < r.m; ++t)
      for (std::int64_t j = 0; j < r.in; ++j) m = std::max(m, std::fabs(r.x[t * r.ldx + j]));
    return m;
  }
  static void add(acc& a, const partial& p) { a.amax = std::max(a.amax, p); }
  static void write(const acc& a, stats::linear_stats& s) { s.input_amax = a.amax; }
};

template <>
struct linear_statistic<stat::xtx> {
  static constexpr bool needs_delta = false;
  struct acc {
    std::int64_t in = 0;
    stats::exact_vector v;  // [in × in] row-major
    void init(std::int64_t, std::int64_t in_) {
      in = in_;
      v = stats::exact_vector(static_cast<std::size_t>(in_ * in_));
    }
  };
  struct partial {
    std::vector<double> v;
  };
  static partial measure(linear_call& c) {  // one float32 product per batch, summed exactly
    const auto& x = c.rows();
    std::vector<float> h(static_cast<std::size_t>(x.in * x.in));
    c.gemm().sgemm({true, false, x.in, x.in, x.m, 1.0f, x.x, x.ldx, x.x, x.ldx, 0.0f, h.data(), x.in});
    return {std::vector<double>(h.begin(), h.end())};
  }
  static void add(acc& a, const partial& p) { a.v.add(p.v.data()); }
  static void write(const acc&, stats::linear_stats&) {}  // not part of the stats file
};

}  // namespace prismaquant::probe
