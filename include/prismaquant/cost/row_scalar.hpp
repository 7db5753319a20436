#pragma once
// The order in which the CPU pass sums a row, and the scalar pass that defines it. Every SIMD
// width (cost/simd_chunk.hpp: 4, 8 or 16 lanes) reproduces this bit for bit, so a costs file
// does not depend on the instruction set it was computed with; this code is also the pass
// itself where no SIMD architecture is available (simd::scalar).
//
// Per format and statistic, over a row's full 32-element chunks k = 0, 1, ...:
//   t(k, j)  element j's term: e² or a_j·e² with e = x - ŵ; every product rounded to float32
//            (fence: no FMA contraction)
//   per span of span_chunks (4) chunks k0..k1, 32 float partial sums (one per position j):
//            p[j] = ((0 + t(k0, j)) + t(k0 + 1, j)) + ...
//   reduced to row_lanes (8) lanes by a fixed tree and added in double:
//            lane[l] += double((p[l] + p[l + 8]) + (p[l + 16] + p[l + 24]))
//   row sum = ((0 + lane[0]) + lane[1]) + ... + lane[7], plus the partial last chunk's sum
//            (process_chunk_scalar, cost/chunk.hpp)
// At W lanes position j is lane j % W of vector j / W, so the tree is vertical adds at 4 and 8
// lanes and two 256-bit halves at 16 (simd::add_lanes8). max |e| is exact in any order.
// Host-only.
#include <prismaquant/cost/chunk.hpp>

#include <cstdint>

namespace prismaquant::cost {

inline constexpr int span_chunks = 4;
inline constexpr int row_lanes = 8;

// A row's sums per format: row_lanes double lanes per statistic, and max |e|.
template <std::size_t NF>
struct row_lane_sums {
  double sse[NF][row_lanes] = {};
  double act[NF][row_lanes] = {};
  float max_abs[NF] = {};
};

inline double sum_row_lanes(const double* lane) noexcept {
  double s = 0.0;
  for (int l = 0; l < row_lanes; ++l) s += lane[l];
  return s;
}

// The full chunks x[0 .. 32 * n_chunks) of row r, every format of the list: block params from
// F::block_scale (local 16/32-blocks ranged here, from {0, 0}; others from the pre-pass), the
// element step element_round_trip<F> (cost/element.hpp). A format exact on the tensor is
// skipped; one whose weight round trip is another's copies that one's sums.
template <class Fmts, class Req>
inline void process_row_scalar(const float* x, const float* act, std::int64_t n_chunks, std::int64_t r,
                               const tensor_ctx<Fmts>& ctx, row_lane_sums<Fmts::size>& acc) {
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    constexpr std::size_t T = Fmts::template twin_of<I>;
    using F = typename Fmts::template at<I>;
    using B = format_blocks<F>;
    using bp_t = typename F::block_params;
    if (ctx.identity[I]) return;
    if constexpr (T != I) {
      for (int l = 0; l < row_lanes; ++l) {
        acc.sse[I][l] = acc.sse[T][l];
        acc.act[I][l] = acc.act[T][l];
      }
      acc.max_abs[I] = acc.max_abs[T];
    } else {
      const auto& tp = get<I>(ctx.tp);
      float mx = acc.max_abs[I];
      for (std::int64_t k0 = 0; k0 < n_chunks; k0 += span_chunks) {
        const std::int64_t k1 = k0 + span_chunks < n_chunks ? k0 + span_chunks : n_chunks;
        float p[chunk_elems] = {}, pa[chunk_elems] = {};
        for (std::int64_t k = k0; k < k1; ++k) {
          const float* xc = x + k * chunk_elems;
          auto element = [&](const bp_t& bp, int j) {
            const float e = sub_rounded(xc[j], element_round_trip<F>(bp, xc[j]));
            [[maybe_unused]] const float e2 = fence(e * e);
            if constexpr (Req::any_sse) p[j] += e2;
            if constexpr (Req::act_sse) pa[j] += fence(act[k * chunk_elems + j] * e2);
            if constexpr (Req::max_abs) {
              const float ae = e < 0.0f ? -e : e;
              mx = ae > mx ? ae : mx;
            }
          };
          if constexpr (B::is_local) {
            constexpr int C = static_cast<int>(B::C);
            for (int s = 0; s < B::per_chunk; ++s) {
              formats::block_range br{};
              for (int j = s * C; j < (s + 1) * C; ++j) br.add(xc[j]);
              const bp_t bp = F::block_scale(tp, br);
              for (int j = s * C; j < (s + 1) * C; ++j) element(bp, j);
            }
          } else {
            const bp_t bp = F::block_scale(tp, prepass_block<F>(ctx, I, r, k * chunk_elems));
            for (int j = 0; j < chunk_elems; ++j) element(bp, j);
          }
        }
        for (int l = 0; l < row_lanes; ++l) {
          if constexpr (Req::any_sse) acc.sse[I][l] += static_cast<double>((p[l] + p[l + 8]) + (p[l + 16] + p[l + 24]));
          if constexpr (Req::act_sse)
            acc.act[I][l] += static_cast<double>((pa[l] + pa[l + 8]) + (pa[l + 16] + pa[l + 24]));
        }
      }
      acc.max_abs[I] = mx;
    }
  });
}

}  // namespace prismaquant::cost
