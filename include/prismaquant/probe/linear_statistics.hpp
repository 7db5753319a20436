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
//   linear_statistic<stat::first_order>   first_order_sum[f] = Σ_b ⟨G_b, ΔW_f⟩, ΔW_f = Q_f(W) − W
//                                         for the formats the probe was given (first_order_target)
//
// A policy measures one call (one Linear in one batch: engine::linear_rows) into a partial, and
// adds partials into its accumulator exactly (exact_sum / exact_vector): batches may be added in
// any order, on any shard, and give the same bits. G_b is formed once per call and shared by
// fisher, h_row and first_order.
#include <prismaquant/engine/observer.hpp>
#include <prismaquant/nn/gemm.hpp>
#include <prismaquant/stats/exact_vector.hpp>
#include <prismaquant/stats/linear_stats.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace prismaquant::probe {

template <class>
inline constexpr bool no_policy = false;

// Per-row squared norms and, for inputs, per-column sums of squares and the max |x| of a
// [m × n] block, in one pass (double sums). q/k/v (and an expert's w1/w3) see the same inputs,
// so the observer keeps the last block's result and reuses it.
struct row_col_sums {
  const float* p = nullptr;
  std::int64_t m = 0, n = 0, ld = 0;
  bool cols = false;
  std::vector<double> row_sq, col_sq;
  double amax = 0.0;

  void compute(const float* p_, std::int64_t m_, std::int64_t n_, std::int64_t ld_, bool with_cols) {
    if (p_ == p && m_ == m && n_ == n && ld_ == ld && (cols || !with_cols)) return;
    p = p_, m = m_, n = n_, ld = ld_, cols = with_cols;
    row_sq.assign(static_cast<std::size_t>(m), 0.0);
    if (cols) col_sq.assign(static_cast<std::size_t>(n), 0.0);
    float mx = 0.0f;
    double* c = col_sq.data();
    for (std::int64_t t = 0; t < m; ++t) {
      const float* x = p + t * ld;
      double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::int64_t j = 0;
      if (cols) {
        for (; j + 8 <= n; j += 8)
          for (int u = 0; u < 8; ++u) {
            const double v = x[j + u];
            a[u] += v * v;
            c[j + u] += v * v;
            mx = std::max(mx, std::fabs(x[j + u]));
          }
        for (; j < n; ++j) {
          const double v = x[j];
          a[0] += v * v;
          c[j] += v * v;
          mx = std::max(mx, std::fabs(x[j]));
        }
      } else {
        for (; j + 8 <= n; j += 8)
          for (int u = 0; u < 8; ++u) a[u] += static_cast<double>(x[j + u]) * x[j + u];
        for (; j < n; ++j) a[0] += static_cast<double>(x[j]) * x[j];
      }
      row_sq[static_cast<std::size_t>(t)] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
    amax = mx;
  }
};

// A format whose first-order term the probe measures for one Linear: ΔW = Q_f(W) − W, [out × in].
struct first_order_target {
  std::string format;
  std::vector<float> delta;
};

// One call's data and the products several statistics share.
class linear_call {
 public:
  linear_call(const engine::linear_rows& r, const nn::gemm_backend& g, std::vector<float>& scratch, row_col_sums& xs,
              row_col_sums& ds, const std::vector<first_order_target>* targets = nullptr)
      : r_(r), g_(g), scratch_(scratch), xs_(xs), ds_(ds), targets_(targets) {}
  const engine::linear_rows& rows() const noexcept { return r_; }
  const nn::gemm_backend& gemm() const noexcept { return g_; }
  // the formats whose first-order terms this Linear measures (none: nullptr or empty)
  const std::vector<first_order_target>* first_order_targets() const noexcept { return targets_; }

  // G = δᵀx, [out × in] row-major (one product, float32, as autograd forms it), formed once.
  const float* gradient() {
    if (!formed_) {
      scratch_.resize(static_cast<std::size_t>(r_.out * r_.in));
      g_.sgemm({true, false, r_.out, r_.in, r_.m, 1.0f, r_.delta, r_.ldd, r_.x, r_.ldx, 0.0f, scratch_.data(), r_.in});
      formed_ = true;
    }
    return scratch_.data();
  }

  // Σ_j G[r, j]² per output row r.
  const std::vector<double>& grad_row_sq() {
    if (!row_sq_) {
      const float* G = gradient();
      row_sq_.emplace(static_cast<std::size_t>(r_.out));
      for (std::int64_t o = 0; o < r_.out; ++o) {
        const float* gr = G + o * r_.in;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
        std::int64_t j = 0;
        for (; j + 4 <= r_.in; j += 4) {
          const double g0 = gr[j], g1 = gr[j + 1], g2 = gr[j + 2], g3 = gr[j + 3];
          a0 += g0 * g0, a1 += g1 * g1, a2 += g2 * g2, a3 += g3 * g3;
        }
        for (; j < r_.in; ++j) a0 += static_cast<double>(gr[j]) * gr[j];
        (*row_sq_)[static_cast<std::size_t>(o)] = (a0 + a1) + (a2 + a3);
      }
    }
    return *row_sq_;
  }
  // the inputs' per-token ‖x_t‖², per-column Σ_t x_tj², max |x|
  const row_col_sums& x_sums() {
    xs_.compute(r_.x, r_.m, r_.in, r_.ldx, true);
    return xs_;
  }
  // the output gradients' per-token ‖δ_t‖²
  const row_col_sums& delta_sums() {
    ds_.compute(r_.delta, r_.m, r_.out, r_.ldd, false);
    return ds_;
  }

 private:
  const engine::linear_rows& r_;
  const nn::gemm_backend& g_;
  std::vector<float>& scratch_;
  row_col_sums& xs_;
  row_col_sums& ds_;
  const std::vector<first_order_target>* targets_;
  bool formed_ = false;
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
    a.v.split(s.h_row_sum, s.h_row_rest);
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
    const auto& x = c.x_sums().row_sq;
    const auto& d = c.delta_sums().row_sq;
    double s = 0.0;
    for (std::size_t t = 0; t < x.size(); ++t) s += d[t] * x[t];
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
  static partial measure(linear_call& c) { return c.x_sums().col_sq; }
  static void add(acc& a, const partial& p) { a.v.add(p.data()); }
  static void write(const acc& a, stats::linear_stats& s) {
    a.v.split(s.xtx_diag, s.xtx_diag_rest);
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
  static partial measure(linear_call& c) { return c.x_sums().amax; }
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
    partial p{std::vector<double>(h.size())};
    for (std::int64_t i = 0; i < x.in; ++i)  // symmetric exactly (the product's halves round apart)
      for (std::int64_t j = 0; j <= i; ++j)
        p.v[static_cast<std::size_t>(i * x.in + j)] = p.v[static_cast<std::size_t>(j * x.in + i)] =
            0.5 * (static_cast<double>(h[static_cast<std::size_t>(i * x.in + j)]) + h[static_cast<std::size_t>(j * x.in + i)]);
    return p;
  }
  static void add(acc& a, const partial& p) { a.v.add(p.v.data()); }
  static void write(const acc&, stats::linear_stats&) {}  // not part of the stats file
};

template <>
struct linear_statistic<stat::first_order> {
  static constexpr bool needs_delta = true;
  struct acc {
    std::vector<std::pair<std::string, stats::exact_sum>> sum;  // per target format, in the targets' order
    void init(std::int64_t, std::int64_t) {}
  };
  using partial = std::vector<double>;  // per target, in the targets' order
  static partial measure(linear_call& c) {
    const auto* t = c.first_order_targets();
    if (!t || t->empty()) return {};
    const float* G = c.gradient();
    const std::size_t n = static_cast<std::size_t>(c.rows().out * c.rows().in);
    partial p;
    p.reserve(t->size());
    for (const auto& f : *t) {
      const float* d = f.delta.data();
      double a[4] = {0, 0, 0, 0};
      std::size_t i = 0;
      for (; i + 4 <= n; i += 4)
        for (int u = 0; u < 4; ++u) a[u] += static_cast<double>(G[i + u]) * d[i + u];
      for (; i < n; ++i) a[0] += static_cast<double>(G[i]) * d[i];
      p.push_back((a[0] + a[1]) + (a[2] + a[3]));
    }
    return p;
  }
  // The targets' names come with the accumulator (layer_statistics::set_first_order), so an
  // empty partial (no targets) adds nothing and the order of the values is the targets'.
  static void add(acc& a, const partial& p) {
    for (std::size_t i = 0; i < p.size(); ++i) a.sum.at(i).second.add(p[i]);
  }
  static void write(const acc& a, stats::linear_stats& s) {
    for (const auto& [f, v] : a.sum) s.first_order_sum[f] = v;
  }
};

}  // namespace prismaquant::probe
