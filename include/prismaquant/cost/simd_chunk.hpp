#pragma once
// The host SIMD twin of process_chunk_scalar (cost/chunk.hpp) for full 32-element chunks:
// the same block params (the format's own scalar block_scale, once per block), the element
// round trip as a batch (cost/simd.hpp, bit-exact), error statistics per lane.
// Host-only (xsimd).
#include <prismaquant/cost/chunk.hpp>
#include <prismaquant/cost/simd.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace prismaquant::cost::simd {

inline constexpr int chunk_vectors = chunk_elems / width;
static_assert(chunk_elems % width == 0 && 16 % width == 0, "the SIMD chunk needs 16 % lanes == 0");

// Row accumulators: squared-error sums as W double lanes (a float partial over the chunk's
// chunk_vectors elements per lane is added once per chunk), max |e| as a float batch.
template <std::size_t NF>
struct row_accum_simd {
  alignas(64) double sse[NF][width] = {};
  alignas(64) double act[NF][width] = {};
  vf max_abs[NF];
  row_accum_simd() {
    for (auto& m : max_abs) m = vf(0.0f);
  }
};

// Hides a value from the optimiser so x - (q * s) is not contracted into one fma (which
// would skip the rounding of the round-trip result; see cost::sub_rounded).
inline vf opaque(vf v) noexcept {
#if defined(__GNUC__) && defined(__AVX__)
  __m256 r = v;
  asm("" : "+x"(r));
  return r;
#else
  alignas(64) float u[width];
  v.store_aligned(u);
  volatile float t[width];
  for (int k = 0; k < width; ++k) t[k] = u[k];
  for (int k = 0; k < width; ++k) u[k] = t[k];
  return vf::load_aligned(u);
#endif
}

inline void add_lanes(double* acc, vf v) noexcept {
#if defined(__AVX__)
  const __m256 f = v;
  _mm256_store_pd(acc, _mm256_add_pd(_mm256_load_pd(acc), _mm256_cvtps_pd(_mm256_castps256_ps128(f))));
  _mm256_store_pd(acc + 4, _mm256_add_pd(_mm256_load_pd(acc + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1))));
#else
  alignas(64) float t[width];
  v.store_aligned(t);
  for (int k = 0; k < width; ++k) acc[k] += static_cast<double>(t[k]);
#endif
}

inline double sum_lanes(const double* acc) noexcept {
  double s = 0.0;
  for (int k = 0; k < width; ++k) s += acc[k];
  return s;
}

// Range {min(0, min x), max(0, max x)} of x[v0 .. v0+nv) (formats::block_range starts at {0,0}).
inline formats::block_range range_of(const vf* x, int v0, int nv) noexcept {
  vf lo = x[v0], hi = x[v0];
  for (int v = v0 + 1; v < v0 + nv; ++v) {
    lo = xsimd::min(lo, x[v]);
    hi = xsimd::max(hi, x[v]);
  }
  const float mn = hmin(lo), mx = hmax(hi);
  return {mn < 0.0f ? mn : 0.0f, mx > 0.0f ? mx : 0.0f};
}

// Per-thread scratch for one row: local block ranges and every local format's block params.
template <class Fmts>
struct row_scratch;
template <class... F>
struct row_scratch<fused_list<F...>> {
  std::vector<float> lo16, hi16, lo32, hi32, lo_pre, hi_pre;
  pack<std::vector<typename F::block_params>...> params;
};

// Step 1 of a row (full chunks only, cols_full % 32 == 0): the ranges of all local 16/32-blocks,
// then every format's params for all its blocks on this row (local formats from those ranges,
// pre-pass formats from the pre-pass ranges), vectorised where simd_block_params is.
template <class Fmts>
inline void prepare_row(const float* x, std::int64_t cols_full, std::int64_t r, const tensor_ctx<Fmts>& ctx,
                        row_scratch<Fmts>& s) {
  if constexpr (Fmts::any_local16 || Fmts::any_local32) {
    const std::int64_t n16 = cols_full / 16;
    s.lo16.resize(static_cast<std::size_t>(n16));
    s.hi16.resize(static_cast<std::size_t>(n16));
    constexpr int v16 = 16 / width;
    for (std::int64_t b = 0; b < n16; ++b) {
      vf lo = vf::load_unaligned(x + b * 16), hi = lo;
      for (int v = 1; v < v16; ++v) {
        const vf t = vf::load_unaligned(x + b * 16 + v * width);
        lo = xsimd::min(lo, t);
        hi = xsimd::max(hi, t);
      }
      const float mn = hmin(lo), mx = hmax(hi);
      s.lo16[static_cast<std::size_t>(b)] = mn < 0.0f ? mn : 0.0f;  // ranges start at {0, 0}
      s.hi16[static_cast<std::size_t>(b)] = mx > 0.0f ? mx : 0.0f;
    }
    if constexpr (Fmts::any_local32) {
      s.lo32.resize(static_cast<std::size_t>(n16 / 2));
      s.hi32.resize(static_cast<std::size_t>(n16 / 2));
      for (std::int64_t b = 0; b < n16 / 2; ++b) {
        s.lo32[static_cast<std::size_t>(b)] = std::min(s.lo16[static_cast<std::size_t>(2 * b)], s.lo16[static_cast<std::size_t>(2 * b + 1)]);
        s.hi32[static_cast<std::size_t>(b)] = std::max(s.hi16[static_cast<std::size_t>(2 * b)], s.hi16[static_cast<std::size_t>(2 * b + 1)]);
      }
    }
  }
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    using F = typename Fmts::template at<I>;
    using B = format_blocks<F>;
    if constexpr (B::is_local) {
      if (ctx.identity[I]) return;
      auto& p = get<I>(s.params);
      const std::int64_t n = cols_full / B::C;
      p.resize(static_cast<std::size_t>(n));
      const bool w16 = B::C == 16;
      simd_block_params<F>::compute(get<I>(ctx.tp), w16 ? s.lo16.data() : s.lo32.data(),
                                    w16 ? s.hi16.data() : s.hi32.data(), n, p.data());
    } else {
      if (ctx.identity[I] || cols_full == 0) return;
      const std::int64_t nbc = formats::block_count(B::C, ctx.cols);
      const std::int64_t bi = B::R == formats::whole ? 0 : r / B::R;
      const formats::block_range* br = ctx.blocks[I] + bi * nbc;
      s.lo_pre.resize(static_cast<std::size_t>(nbc));
      s.hi_pre.resize(static_cast<std::size_t>(nbc));
      for (std::int64_t b = 0; b < nbc; ++b) {
        s.lo_pre[static_cast<std::size_t>(b)] = br[b].min;
        s.hi_pre[static_cast<std::size_t>(b)] = br[b].max;
      }
      auto& p = get<I>(s.params);
      p.resize(static_cast<std::size_t>(nbc));
      simd_block_params<F>::compute(get<I>(ctx.tp), s.lo_pre.data(), s.hi_pre.data(), nbc, p.data());
    }
  });
}

// Step 2: chunk k (columns 32k .. 32k+31) for every format.
template <class Fmts, class Req>
inline void process_chunk_simd(const float* x, const float* act, [[maybe_unused]] std::int64_t r, std::int64_t k,
                               const tensor_ctx<Fmts>& ctx, const row_scratch<Fmts>& s, row_accum_simd<Fmts::size>& acc) {
  const std::int64_t c0 = k * chunk_elems;
  vf xv[chunk_vectors];
  for (int v = 0; v < chunk_vectors; ++v) xv[v] = vf::load_unaligned(x + c0 + v * width);
  [[maybe_unused]] vf av[chunk_vectors];
  if constexpr (Req::act_sse)
    for (int v = 0; v < chunk_vectors; ++v) av[v] = vf::load_unaligned(act + c0 + v * width);

  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    using F = typename Fmts::template at<I>;
    using B = format_blocks<F>;
    if (ctx.identity[I]) return;
    vf sq(0.0f), asq(0.0f), mx = acc.max_abs[I];
    auto element = [&](const typename F::block_params& bp, int v) {
      const vf e = xv[v] - opaque(simd_round_trip<F>::apply(bp, xv[v]));
      if constexpr (Req::any_sse) sq = sq + e * e;
      if constexpr (Req::act_sse) asq = asq + av[v] * (e * e);
      if constexpr (Req::max_abs) mx = xsimd::max(mx, vabs(e));
    };
    if constexpr (B::is_local) {
      constexpr int vb = static_cast<int>(B::C) / width;  // vectors per block
      const auto* bp = get<I>(s.params).data() + k * B::per_chunk;
      for (int sb = 0; sb < B::per_chunk; ++sb)
        for (int v = sb * vb; v < (sb + 1) * vb; ++v) element(bp[sb], v);
    } else {
      const typename F::block_params bp = get<I>(s.params)[B::C == formats::whole ? 0 : static_cast<std::size_t>(c0 / B::C)];
      for (int v = 0; v < chunk_vectors; ++v) element(bp, v);
    }
    if constexpr (Req::any_sse) add_lanes(acc.sse[I], sq);
    if constexpr (Req::act_sse) add_lanes(acc.act[I], asq);
    if constexpr (Req::max_abs) acc.max_abs[I] = mx;
  });
}

}  // namespace prismaquant::cost::simd
