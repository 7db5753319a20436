#pragma once
// Re-routing terms of a MoE output: for each token t and selected expert j, the change of the
// MoE output when j is excluded from selection and the router picks its next expert n(t) and
// renormalises (nn::reroute_weights):
//   Δy_t^(j) = Σ_{i ∈ S\{j} ∪ {n}} g'_i f_i(t) − Σ_{i ∈ S} g_i f_i(t)
// returned as  dot[t,a] = δ_t·Δy_t^(j)  and  sq[t,a] = ‖Δy_t^(j)‖²  (a = j's slot), with
// δ_t = dL/dy_t. Δy is formed in double from the float32 expert outputs.
#include <prismaquant/nn/experts.hpp>
#include <prismaquant/nn/router.hpp>

#include <vector>

namespace prismaquant::nn {

// f_next [tokens × H]: f_{n(t)}(x_t) (zero rows where there is no next expert).
inline void reroute_terms(const router_spec& spec, const routing& rt, const moe_tape& tape, const tensor2& f_next,
                          const float* delta, std::int64_t ld_delta, std::int64_t H, double* dot, double* sq) {
  const int k = rt.k;
  std::vector<const float*> f(static_cast<std::size_t>(k + 1));
  std::vector<double> c(static_cast<std::size_t>(k + 1)), gn(static_cast<std::size_t>(k)), dy(static_cast<std::size_t>(H));
  for (std::int64_t t = 0; t < rt.tokens; ++t) {
    for (int b = 0; b < k; ++b) {
      const std::size_t ts = static_cast<std::size_t>(t * k + b);
      const auto& share = tape.experts[static_cast<std::size_t>(rt.expert[ts])];
      f[static_cast<std::size_t>(b)] = share.f.data() + static_cast<std::int64_t>(tape.row[ts]) * H;
    }
    f[static_cast<std::size_t>(k)] = f_next.data() + t * H;
    const float* d = delta + t * ld_delta;
    const float* g = rt.weight.data() + t * k;
    const float* sc = rt.score.data() + t * rt.experts;
    for (int a = 0; a < k; ++a) {
      // Δy = Σ_b c_b f_b: c_b = g'_b − g_b for the kept experts, −g_a for the excluded one,
      // g'(slot a) for the replacement.
      if (reroute_weights(spec, rt, t, a, gn.data())) {
        for (int b = 0; b < k; ++b)
          c[static_cast<std::size_t>(b)] = b == a ? -static_cast<double>(g[b]) : gn[static_cast<std::size_t>(b)] - g[b];
        c[static_cast<std::size_t>(k)] = gn[static_cast<std::size_t>(a)];
      } else {  // no expert left to take the slot: the others alone, renormalised as the router does
        double z = 0.0;
        for (int b = 0; b < k; ++b)
          if (b != a) z += sc[rt.expert[static_cast<std::size_t>(t * k + b)]];
        for (int b = 0; b < k; ++b) {
          const double s = sc[rt.expert[static_cast<std::size_t>(t * k + b)]];
          const double gb = b == a ? 0.0 : (spec.renormalises() ? (z > 0.0 ? s / z : 0.0) : s);
          c[static_cast<std::size_t>(b)] = gb - g[b];
        }
        c[static_cast<std::size_t>(k)] = 0.0;
      }
      std::fill(dy.begin(), dy.end(), 0.0);
      for (int b = 0; b <= k; ++b) {
        const double cb = c[static_cast<std::size_t>(b)];
        if (cb == 0.0) continue;
        const float* fb = f[static_cast<std::size_t>(b)];
        for (std::int64_t j = 0; j < H; ++j) dy[static_cast<std::size_t>(j)] += cb * fb[j];
      }
      double dd = 0.0, ss = 0.0;
      for (std::int64_t j = 0; j < H; ++j) {
        dd += static_cast<double>(d[j]) * dy[static_cast<std::size_t>(j)];
        ss += dy[static_cast<std::size_t>(j)] * dy[static_cast<std::size_t>(j)];
      }
      dot[t * k + a] = dd;
      sq[t * k + a] = ss;
    }
  }
}

}  // namespace prismaquant::nn
