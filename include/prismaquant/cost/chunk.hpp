#pragma once
// The per-chunk step of the fused cost pass, in scalar PQ_HD code: one CUDA thread runs
// exactly this on its 32 elements, and the CPU runs it on row tails (and tests run it to
// check the kernel's per-thread logic without a GPU). The CPU's full chunks take the SIMD
// twin in cost/simd_chunk.hpp, which is tested equal to this.
//
// For one chunk x[0..n) of row r starting at column c0, for every format of the list:
//   block params  F::block_scale(tp, range)   range: the local 16/32-block (computed here,
//                 starting from {0,0} like formats::block_range), or the pre-pass block
//   elements      y = element_round_trip<F>(bp, x)  (cost/element.hpp: equal to the format's
//                 own formats::round_trip, with float rounding instead of encode + decode)
//   statistics    e = x - y (float32): e² (rounded to float32) summed in float over the chunk,
//                 then added to a double; a_j·e² likewise; max |e| — only what the request asks for.
#include <prismaquant/cost/element.hpp>
#include <prismaquant/cost/format_list.hpp>
#include <prismaquant/cost/plain_weight.hpp>
#include <prismaquant/cost/request.hpp>
#include <prismaquant/formats/format.hpp>

#include <cstdint>

namespace prismaquant::cost {

// What the pass knows about one tensor besides its elements (device-copyable).
template <class Fmts>
struct tensor_ctx {
  typename Fmts::tensor_params tp{};
  // prepass formats: block ranges [block_count(R, rows)][block_count(C, cols)], else null
  const formats::block_range* blocks[Fmts::size] = {};
  std::int64_t rows = 0, cols = 0;
  // round_trip_is_identity<F>(w): the error is exactly zero, nothing to compute
  bool identity[Fmts::size] = {};
};

// v as computed, rounded to float32. Host compilers contract a product into an FMA with the
// operation that uses it (GCC across statements, by default, where the target has FMA), which
// skips the product's rounding and makes the sums depend on the ISA; an empty asm statement
// taking v as an in/out register operand hides it from the optimiser at no cost (cost/simd_arch.hpp,
// simd::fence, is the batch twin). On the device nothing is needed: the CUDA code is compiled
// with -fmad=false (kernels/cost.cuh), so no product is fused there.
PQ_HD inline float fence(float v) noexcept {
#if defined(__CUDA_ARCH__)
  return v;
#else
#if defined(__GNUC__) && defined(__x86_64__)
  asm("" : "+x"(v));
#elif defined(__GNUC__) && defined(__aarch64__)
  asm("" : "+w"(v));
#elif defined(__GNUC__)
  asm("" : "+m"(v));
#endif
  return v;
#endif
}

// x - y where y is a round-trip result. The subtraction must see y as the float32 the format
// produced: without a barrier, compilers contract y = q * s; x - y into fma(-q, s, x) (GCC
// for the host by default, nvcc's -fmad=true for the device), which skips the rounding of
// y and gives a different error than the reference's.
PQ_HD inline float sub_rounded(float x, float y) noexcept {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(x, y);  // never merged into an fma
#else
  return x - fence(y);
#endif
}

// The round trip of F is the identity on every element of w (its error is exactly zero, so the
// pass skips it) when the format stores w's source losslessly (formats' `lossless_for`):
// FP8_SOURCE on an FP8 128x128 source (a byte copy), BF16 on a bf16 source.
template <class F>
PQ_HD constexpr bool round_trip_is_identity(const plain_weight& w) noexcept {
  constexpr formats::source_set lossless = formats::lossless_for_of<F>();
  switch (w.type) {
    case weight_dtype::bf16: return lossless.contains(formats::source_format::bf16);
    case weight_dtype::f16: return lossless.contains(formats::source_format::fp16);
    case weight_dtype::f32: return lossless.contains(formats::source_format::f32);
    case weight_dtype::fp8_e4m3_block128:
      return w.fp8_block == 128 && lossless.contains(formats::source_format::fp8_block128);
  }
  return false;
}

// Per-row accumulators of one row (or of one thread's share of a row).
template <std::size_t NF>
struct row_accum {
  double sse[NF] = {};
  double act[NF] = {};
  float max_abs[NF] = {};
};

template <class F, class Fmts>
PQ_HD inline const formats::block_range& prepass_block(const tensor_ctx<Fmts>& ctx, std::size_t i, std::int64_t r,
                                                      std::int64_t c) {
  using B = format_blocks<F>;
  const std::int64_t bi = B::R == formats::whole ? 0 : r / B::R;
  const std::int64_t bj = B::C == formats::whole ? 0 : c / B::C;
  return ctx.blocks[i][bi * formats::block_count(B::C, ctx.cols) + bj];
}

// Scalar chunk: x[0..n), n <= chunk_elems, columns c0..c0+n of row r; act may be null
// (then act_sse is not accumulated even if requested — the caller validated that).
// Full = true: n is chunk_elems (the compiler then unrolls everything and a CUDA thread keeps
// x in registers).
template <class Fmts, class Req, bool Full = false>
PQ_HD inline void process_chunk_scalar(const float* x, int n_dyn, const float* act, std::int64_t r, std::int64_t c0,
                                       const tensor_ctx<Fmts>& ctx, row_accum<Fmts::size>& acc) {
  const int n = Full ? chunk_elems : n_dyn;
  // Local ranges for 16- and 32-wide blocks (c0 is a multiple of 32, so blocks align).
  formats::block_range r16[2] = {}, r32 = {};
  if constexpr (Fmts::any_local16 || Fmts::any_local32) {
    for (int j = 0; j < n; ++j) r16[j >> 4].add(x[j]);
    r32 = r16[0];
    r32.add(r16[1].min);
    r32.add(r16[1].max);
  }
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    using F = typename Fmts::template at<I>;
    using B = format_blocks<F>;
    if (ctx.identity[I]) return;  // error exactly zero
    const auto& tp = get<I>(ctx.tp);
    [[maybe_unused]] float sq = 0.0f, asq = 0.0f, mx = acc.max_abs[I];
    auto element = [&](const typename F::block_params& bp, int j) {
      const float e = sub_rounded(x[j], element_round_trip<F>(bp, x[j]));
      [[maybe_unused]] const float e2 = fence(e * e);  // products rounded on the host (fence)
      if constexpr (Req::any_sse) sq += e2;
      if constexpr (Req::act_sse) asq += fence(act[j] * e2);
      if constexpr (Req::max_abs) {
        const float ae = e < 0.0f ? -e : e;
        mx = ae > mx ? ae : mx;
      }
    };
    if constexpr (B::is_local) {
      for (int s = 0; s < B::per_chunk; ++s) {
        const int j0 = s * static_cast<int>(B::C);
        if (j0 >= n) break;
        const int j1 = j0 + static_cast<int>(B::C) < n ? j0 + static_cast<int>(B::C) : n;
        const typename F::block_params bp = F::block_scale(tp, B::C == 16 ? r16[s] : r32);
        for (int j = j0; j < j1; ++j) element(bp, j);
      }
    } else {
      const typename F::block_params bp = F::block_scale(tp, prepass_block<F>(ctx, I, r, c0));
      for (int j = 0; j < n; ++j) element(bp, j);
    }
    if constexpr (Req::any_sse) acc.sse[I] += static_cast<double>(sq);
    if constexpr (Req::act_sse) acc.act[I] += static_cast<double>(asq);
    if constexpr (Req::max_abs) acc.max_abs[I] = mx;
  });
}

}  // namespace prismaquant::cost
