#pragma once
// The host SIMD twin of process_chunk_scalar (cost/chunk.hpp) for a row's full 32-element
// chunks: the same block params (simd_block_params, equal to the format's block_scale), the
// element round trip as a batch (cost/simd.hpp, bit-exact), error statistics per lane — one
// format at a time over the whole row. Host-only (xsimd).
#include <prismaquant/cost/chunk.hpp>
#include <prismaquant/cost/simd.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace prismaquant::cost::simd {

inline constexpr int chunk_vectors = chunk_elems / width;
static_assert(chunk_elems % width == 0 && 16 % width == 0, "the SIMD chunk needs 16 % lanes == 0");

// Row accumulators: squared-error sums as W double lanes (a float partial per lane is added
// once per span of chunks), max |e| as a float batch.
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

#if defined(__AVX__)
// Lane j of the result = the min (Min) or max of v[j]'s eight lanes: a shuffle tree of 7
// min/max and 14 shuffles for eight reductions.
template <bool Min>
inline vf fold8(const vf* v) noexcept {
  auto op = [](__m256 a, __m256 b) { return Min ? _mm256_min_ps(a, b) : _mm256_max_ps(a, b); };
  __m256 p[4];
  for (int k = 0; k < 4; ++k) {  // [a0 b0 a1 b1 | a4 b4 a5 b5] op [a2 b2 a3 b3 | a6 b6 a7 b7]
    const __m256 a = v[2 * k], b = v[2 * k + 1];
    p[k] = op(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
  }
  __m256 q[2];
  for (int k = 0; k < 2; ++k)  // four vectors' partials per 128-bit half
    q[k] = op(_mm256_shuffle_ps(p[2 * k], p[2 * k + 1], 0x44), _mm256_shuffle_ps(p[2 * k], p[2 * k + 1], 0xEE));
  return op(_mm256_permute2f128_ps(q[0], q[1], 0x20), _mm256_permute2f128_ps(q[0], q[1], 0x31));
}
#endif

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
    std::int64_t b0 = 0;
#if defined(__AVX__)
    // Eight blocks at a time: each block's two vectors folded to one, then the eight folded
    // into one batch whose lane j is block j's min (max) — no per-block horizontal reduction.
    for (; b0 + 8 <= n16; b0 += 8) {
      vf lo[8], hi[8];
      for (int j = 0; j < 8; ++j) {
        const vf a = vf::load_unaligned(x + (b0 + j) * 16), c = vf::load_unaligned(x + (b0 + j) * 16 + width);
        lo[j] = xsimd::min(a, c);
        hi[j] = xsimd::max(a, c);
      }
      xsimd::min(fold8<true>(lo), vf(0.0f)).store_unaligned(s.lo16.data() + b0);  // ranges start at {0, 0}
      xsimd::max(fold8<false>(hi), vf(0.0f)).store_unaligned(s.hi16.data() + b0);
    }
#endif
    for (std::int64_t b = b0; b < n16; ++b) {
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
    if constexpr (Fmts::template twin_of<I> != I) return;  // shares its twin's sums
    else if constexpr (B::is_local) {
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

// v[0] + ... + v[N-1] as a balanced tree (N a power of two).
template <int N>
inline vf pairwise_sum(const vf* v) noexcept {
  if constexpr (N == 1) return v[0];
  else return pairwise_sum<N / 2>(v) + pairwise_sum<N / 2>(v + N / 2);
}

// Step 2: all full chunks of the row for format I (format-major: the row is L1-resident, so
// each format's loop is tight, with its block params streamed and its sums in registers).
// Squared errors go to one float accumulator per vector of a chunk over a span of span_chunks
// (4) chunks, so each accumulator lane sums 4 elements; the accumulators are then summed
// pairwise and added to the row's double lanes.
inline constexpr int span_chunks = 4;

template <std::size_t I, class Fmts, class Req, class RoundTrip>
inline void process_row_format(const float* x, const float* act, std::int64_t n_chunks, const row_scratch<Fmts>& s,
                               row_accum_simd<Fmts::size>& acc, RoundTrip round_trip) {
  using F = typename Fmts::template at<I>;
  using B = format_blocks<F>;
  using bp_t = typename F::block_params;
  const bp_t* params = get<I>(s.params).data();
  vf mx = acc.max_abs[I];
  for (std::int64_t k0 = 0; k0 < n_chunks; k0 += span_chunks) {
    const std::int64_t k1 = std::min<std::int64_t>(n_chunks, k0 + span_chunks);
    vf sq[chunk_vectors], asq[chunk_vectors];
    for (int v = 0; v < chunk_vectors; ++v) sq[v] = asq[v] = vf(0.0f);
    for (std::int64_t k = k0; k < k1; ++k) {
      const float* xc = x + k * chunk_elems;
      auto element = [&](const bp_t& bp, int v) {
        const vf xv = vf::load_unaligned(xc + v * width);
        const vf e = xv - opaque(round_trip(bp, xv));
        if constexpr (Req::any_sse) sq[v] = sq[v] + e * e;
        if constexpr (Req::act_sse) asq[v] = asq[v] + vf::load_unaligned(act + k * chunk_elems + v * width) * (e * e);
        if constexpr (Req::max_abs) mx = xsimd::max(mx, vabs(e));
      };
      if constexpr (B::is_local) {
        constexpr int vb = static_cast<int>(B::C) / width;  // vectors per block
        const bp_t* bp = params + k * B::per_chunk;
        for (int sb = 0; sb < B::per_chunk; ++sb)
          for (int v = sb * vb; v < (sb + 1) * vb; ++v) element(bp[sb], v);
      } else {
        const bp_t bp = params[B::C == formats::whole ? 0 : static_cast<std::size_t>(k * chunk_elems / B::C)];
        for (int v = 0; v < chunk_vectors; ++v) element(bp, v);
      }
    }
    if constexpr (Req::any_sse) add_lanes(acc.sse[I], pairwise_sum<chunk_vectors>(sq));
    if constexpr (Req::act_sse) add_lanes(acc.act[I], pairwise_sum<chunk_vectors>(asq));
  }
  if constexpr (Req::max_abs) acc.max_abs[I] = mx;
}

// Every format of the list over the row's full chunks. Formats that are exact on this tensor
// are skipped; a format whose weight round trip is another's (weight_round_trip_of) copies its
// sums.
template <class Fmts, class Req>
inline void process_row_simd(const float* x, const float* act, std::int64_t n_chunks, const tensor_ctx<Fmts>& ctx,
                             const row_scratch<Fmts>& s, row_accum_simd<Fmts::size>& acc) {
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    constexpr std::size_t T = Fmts::template twin_of<I>;
    if (ctx.identity[I]) return;
    using F = typename Fmts::template at<I>;
    using RT = simd_round_trip<F>;
    if constexpr (T == I) {
      if constexpr (RT::source_dependent)  // the tensor's source, once per row (see simd.hpp)
        with_source(get<I>(ctx.tp).source, [&](auto src) {
          process_row_format<I, Fmts, Req>(x, act, n_chunks, s, acc, [](const typename F::block_params& bp, vf v) {
            return RT::template apply_as<decltype(src)::value>(bp, v);
          });
        });
      else
        process_row_format<I, Fmts, Req>(x, act, n_chunks, s, acc,
                                         [](const typename F::block_params& bp, vf v) { return RT::apply(bp, v); });
    } else {
      for (int l = 0; l < width; ++l) {
        acc.sse[I][l] = acc.sse[T][l];
        acc.act[I][l] = acc.act[T][l];
      }
      acc.max_abs[I] = acc.max_abs[T];
    }
  });
}

}  // namespace prismaquant::cost::simd
