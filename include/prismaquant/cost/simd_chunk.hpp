#pragma once
// The host SIMD twin of the row's full 32-element chunks (cost/row_scalar.hpp, the scalar
// definition, summed in the same order): the same block params (simd_block_params, equal to the
// format's block_scale), the element round trip as a batch (cost/simd.hpp, bit-exact), error
// statistics per position, reduced to 8 double lanes as row_scalar.hpp defines — one format at
// a time over the whole row. A template on the xsimd architecture A (4, 8 or 16 lanes).
// Host-only (xsimd).
#include <prismaquant/cost/chunk.hpp>
#include <prismaquant/cost/row_scalar.hpp>
#include <prismaquant/cost/simd.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace prismaquant::cost::simd {

// Row accumulators: squared-error sums as row_lanes double lanes (cost/row_scalar.hpp), max |e|
// as a float batch.
template <std::size_t NF, class A>
struct row_accum_simd {
  alignas(64) double sse[NF][row_lanes] = {};
  alignas(64) double act[NF][row_lanes] = {};
  vf<A> max_abs[NF];
  row_accum_simd() {
    for (auto& m : max_abs) m = vf<A>(0.0f);
  }
};

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
template <class A, class Fmts>
inline void prepare_row(const float* x, std::int64_t cols_full, std::int64_t r, const tensor_ctx<Fmts>& ctx,
                        row_scratch<Fmts>& s) {
  if constexpr (Fmts::any_local16 || Fmts::any_local32) {
    const std::int64_t n16 = cols_full / 16;
    s.lo16.resize(static_cast<std::size_t>(n16));
    s.hi16.resize(static_cast<std::size_t>(n16));
    block_ranges16<A>(x, n16, s.lo16.data(), s.hi16.data());
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
      simd_block_params<F>::template compute<A>(get<I>(ctx.tp), w16 ? s.lo16.data() : s.lo32.data(),
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
      simd_block_params<F>::template compute<A>(get<I>(ctx.tp), s.lo_pre.data(), s.hi_pre.data(), nbc, p.data());
    }
  });
}

// Step 2: all full chunks of the row for format I (format-major: the row is L1-resident, so
// each format's loop is tight, with its block params streamed and its sums in registers).
// Squared errors go to one float accumulator per vector of a chunk over a span of span_chunks
// chunks (one partial sum per position), reduced to the row's 8 double lanes per span
// (add_lanes8); every product is fenced so that it is rounded as row_scalar.hpp defines.
template <std::size_t I, class A, class Fmts, class Req, class RoundTrip>
inline void process_row_format(const float* x, const float* act, std::int64_t n_chunks, const row_scratch<Fmts>& s,
                               row_accum_simd<Fmts::size, A>& acc, RoundTrip round_trip) {
  using F = typename Fmts::template at<I>;
  using B = format_blocks<F>;
  using bp_t = typename F::block_params;
  using vf = simd::vf<A>;
  constexpr int W = width_of<A>, nv = chunk_elems / W;
  static_assert(W == 4 || W == 8 || W == 16, "the SIMD chunk needs 4, 8 or 16 float lanes");
  const bp_t* params = get<I>(s.params).data();
  vf mx = acc.max_abs[I];
  for (std::int64_t k0 = 0; k0 < n_chunks; k0 += span_chunks) {
    const std::int64_t k1 = std::min<std::int64_t>(n_chunks, k0 + span_chunks);
    vf sq[nv], asq[nv];
    for (int v = 0; v < nv; ++v) sq[v] = asq[v] = vf(0.0f);
    for (std::int64_t k = k0; k < k1; ++k) {
      const float* xc = x + k * chunk_elems;
      auto element = [&](const bp_t& bp, int v) {
        const vf xv = vf::load_unaligned(xc + v * W);
        const vf e = xv - fence(round_trip(bp, xv));
        if constexpr (Req::any_sse || Req::act_sse) {
          const vf e2 = fence(e * e);
          if constexpr (Req::any_sse) sq[v] = sq[v] + e2;
          if constexpr (Req::act_sse) asq[v] = asq[v] + fence(vf::load_unaligned(act + k * chunk_elems + v * W) * e2);
        }
        if constexpr (Req::max_abs) mx = xsimd::max(mx, vabs(e));
      };
      if constexpr (B::is_local) {
        constexpr int vb = static_cast<int>(B::C) / W;  // vectors per block
        const bp_t* bp = params + k * B::per_chunk;
        for (int sb = 0; sb < B::per_chunk; ++sb)
          for (int v = sb * vb; v < (sb + 1) * vb; ++v) element(bp[sb], v);
      } else {
        const bp_t bp = params[B::C == formats::whole ? 0 : static_cast<std::size_t>(k * chunk_elems / B::C)];
        for (int v = 0; v < nv; ++v) element(bp, v);
      }
    }
    if constexpr (Req::any_sse) add_lanes8<A>(acc.sse[I], sq);
    if constexpr (Req::act_sse) add_lanes8<A>(acc.act[I], asq);
  }
  if constexpr (Req::max_abs) acc.max_abs[I] = mx;
}

// Every format of the list over the row's full chunks. Formats that are exact on this tensor
// are skipped; a format whose weight round trip is another's (weight_round_trip_of) copies its
// sums.
template <class A, class Fmts, class Req>
inline void process_row_simd(const float* x, const float* act, std::int64_t n_chunks, const tensor_ctx<Fmts>& ctx,
                             const row_scratch<Fmts>& s, row_accum_simd<Fmts::size, A>& acc) {
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    constexpr std::size_t T = Fmts::template twin_of<I>;
    if (ctx.identity[I]) return;
    using F = typename Fmts::template at<I>;
    using RT = simd_round_trip<F>;
    if constexpr (T == I) {
      if constexpr (RT::source_dependent)  // the tensor's source, once per row (see simd.hpp)
        with_source(get<I>(ctx.tp).source, [&](auto src) {
          process_row_format<I, A, Fmts, Req>(x, act, n_chunks, s, acc, [](const typename F::block_params& bp, vf<A> v) {
            return RT::template apply_as<decltype(src)::value>(bp, v);
          });
        });
      else
        process_row_format<I, A, Fmts, Req>(x, act, n_chunks, s, acc,
                                            [](const typename F::block_params& bp, vf<A> v) { return RT::apply(bp, v); });
    } else {
      for (int l = 0; l < row_lanes; ++l) {
        acc.sse[I][l] = acc.sse[T][l];
        acc.act[I][l] = acc.act[T][l];
      }
      acc.max_abs[I] = acc.max_abs[T];
    }
  });
}

}  // namespace prismaquant::cost::simd
