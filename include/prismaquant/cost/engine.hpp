#pragma once
// The fused cost pass on the CPU: one read of each weight gives, for every format of a
// compile-time list, the error statistics of a compile-time request.
//
//   using fmts = pq::formats::format_list<pq::formats::nvfp4, pq::formats::mxfp8_e4m3,
//                                         pq::formats::fp8_source, pq::formats::bf16_passthrough>;
//   using req  = pq::cost::request<pq::cost::stat::sse, pq::cost::stat::max_abs>;
//   pq::cost::tensor_cost c = pq::cost::evaluate<fmts, req>(view);        // one tensor
//   auto all = pq::cost::evaluate<fmts, req>(std::span<const pq::cost::job>(jobs));  // many
//
// Per tensor: (1) pre-pass — tensor range (the formats' tensor_stats.amax) and the block
// ranges of every format whose blocks are not local to a 32-element chunk (per-row,
// per-tensor, 128x128, 1x128 groups), rejecting NaN/Inf with an error naming the tensor;
// (2) the fused pass — each row is converted to float32 once (L1-resident), then each
// 32-element chunk is quantized for every format with the format's own block_scale and a
// bit-exact SIMD element round trip, accumulating only the requested statistics.
//
// Accumulation: squared errors are formed in float32 (as the formats' reference does), summed
// in float over at most 4 elements per SIMD lane (one chunk), then accumulated in double per
// lane, lanes summed in double at the end of a row; totals are the double sum of row sums in
// row order. Each row is computed by one thread and the rows are reduced in row order, so
// results are bit-identical run to run, for any thread count and any rows_per_task.
#include <prismaquant/cost/chunk.hpp>
#include <prismaquant/cost/format_list.hpp>
#include <prismaquant/cost/parallel.hpp>
#include <prismaquant/cost/plain_weight.hpp>
#include <prismaquant/cost/request.hpp>
#include <prismaquant/cost/result.hpp>
#include <prismaquant/cost/simd_chunk.hpp>
#include <prismaquant/formats/encode.hpp>
#include <prismaquant/formats/weight_view.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace prismaquant::cost {

namespace detail {

// ---------------------------------------------------------------- row conversion
// Row r of w as float32 into out[0..cols); returns out, or the row itself for F32.
// Exact: bf16/f16 widen exactly; fp8 decodes exactly and is multiplied once by its float32
// block multiplier, as formats::weight_view::at does.
inline const float* load_row(const plain_weight& w, std::int64_t r, float* out) noexcept {
  const std::int64_t n = w.cols;
  switch (w.type) {
    case weight_dtype::f32: return static_cast<const float*>(w.data) + r * n;
    case weight_dtype::bf16: {
      const std::uint16_t* p = static_cast<const std::uint16_t*>(w.data) + r * n;
      for (std::int64_t j = 0; j < n; ++j)  // vectorised: vpmovzxwd + vpslld
        out[j] = prismaquant::detail::bit_cast<float>(static_cast<std::uint32_t>(p[j]) << 16);
      return out;
    }
    case weight_dtype::f16: {
      const std::uint16_t* p = static_cast<const std::uint16_t*>(w.data) + r * n;
      std::int64_t j = 0;
#if defined(__F16C__)
      for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(out + j, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j))));
#endif
      for (; j < n; ++j) out[j] = fp16::from_bits(p[j]).to_float();
      return out;
    }
    case weight_dtype::fp8_e4m3_block128: {
      const std::uint8_t* p = static_cast<const std::uint8_t*>(w.data) + r * n;
      const float* s = w.scale_inv + (r / w.fp8_block) * w.scale_cols();
      // e4m3 magnitude bits shifted into a float32's exponent/mantissa and multiplied by
      // 2^(127-7) give the exact value, subnormals included (the product is a normal float).
      const float k = 0x1p120f;
      for (std::int64_t j0 = 0; j0 < n; j0 += w.fp8_block) {
        const std::int64_t j1 = std::min(n, j0 + w.fp8_block);
        const float sj = s[j0 / w.fp8_block];
        for (std::int64_t j = j0; j < j1; ++j) {
          const std::uint32_t b = p[j];
          const float mag = prismaquant::detail::bit_cast<float>((b & 0x7Fu) << 20) * k;
          out[j] = prismaquant::detail::bit_cast<float>(prismaquant::detail::bit_cast<std::uint32_t>(mag) |
                                                        ((b & 0x80u) << 24)) *
                   sj;
        }
      }
      return out;
    }
  }
  return out;
}

inline bool all_finite(const float* x, std::int64_t n) noexcept {
  std::uint32_t bad = 0;
  for (std::int64_t j = 0; j < n; ++j)  // vectorised
    bad |= static_cast<std::uint32_t>((prismaquant::detail::bit_cast<std::uint32_t>(x[j]) & 0x7F800000u) == 0x7F800000u);
  return bad == 0;
}

// ---------------------------------------------------------------- pre-pass
template <class Fmts>
struct prepass_result {
  formats::block_range tensor{};
  // per format: block ranges (prepass formats; shared between formats with the same shape)
  std::vector<formats::block_range> storage[Fmts::size];
  const formats::block_range* blocks[Fmts::size] = {};
};

template <class Fmts>
constexpr std::int64_t band_rows() {
  std::int64_t band = 1;
  Fmts::for_each([&](auto ic) {
    using B = format_blocks<typename Fmts::template at<decltype(ic)::value>>;
    if constexpr (B::is_prepass && B::R != formats::whole) band = std::lcm(band, B::R);
  });
  return band;
}

template <class Fmts>
constexpr std::int64_t prepass_granularity() {
  bool all128 = true;
  Fmts::for_each([&](auto ic) {
    using B = format_blocks<typename Fmts::template at<decltype(ic)::value>>;
    if constexpr (B::is_prepass && B::C != formats::whole) all128 = all128 && B::C % 128 == 0;
  });
  return all128 ? 128 : chunk_elems;
}

template <class Fmts>
void prepass(const plain_weight& w, const std::string& name, thread_pool& pool, std::int64_t rows_per_task,
             prepass_result<Fmts>& out) {
  constexpr std::size_t NF = Fmts::size;
  // which format owns the storage for each format's shape
  std::size_t owner[NF];
  std::int64_t nbr[NF] = {}, nbc[NF] = {};
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    using B = format_blocks<typename Fmts::template at<I>>;
    owner[I] = I;
    Fmts::for_each([&](auto jc) {
      constexpr std::size_t J = decltype(jc)::value;
      using BJ = format_blocks<typename Fmts::template at<J>>;
      if constexpr (J < I && B::is_prepass && BJ::is_prepass && B::R == BJ::R && B::C == BJ::C)
        if (owner[I] == I) owner[I] = J;
    });
    if constexpr (B::is_prepass) {
      nbr[I] = formats::block_count(B::R, w.rows);
      nbc[I] = formats::block_count(B::C, w.cols);
      if (owner[I] == I) out.storage[I].assign(static_cast<std::size_t>(nbr[I] * nbc[I]), formats::block_range{});
    }
  });
  constexpr std::int64_t band = band_rows<Fmts>();
  const std::int64_t task_rows = ((std::max<std::int64_t>(rows_per_task, 1) + band - 1) / band) * band;
  const std::int64_t n_tasks = (w.rows + task_rows - 1) / task_rows;
  std::vector<formats::block_range> task_range(static_cast<std::size_t>(n_tasks));
  std::vector<std::int64_t> bad_row(static_cast<std::size_t>(n_tasks), -1);
  // Ranges are gathered per span of `gran` columns (vector min/max, one horizontal reduction
  // per span): 128 when every pre-pass block is a multiple of 128 wide (or whole), else 32.
  constexpr std::int64_t gran = prepass_granularity<Fmts>();
  const std::int64_t n_chunks = (w.cols + gran - 1) / gran;
  pool.parallel_for(n_tasks, [&](std::int64_t t) {
    std::vector<float> buf(static_cast<std::size_t>(w.cols));
    std::vector<formats::block_range> cr(static_cast<std::size_t>(n_chunks));
    formats::block_range tr{};
    const std::int64_t r0 = t * task_rows, r1 = std::min(w.rows, r0 + task_rows);
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* x = load_row(w, r, buf.data());
      if (!all_finite(x, w.cols)) {
        bad_row[static_cast<std::size_t>(t)] = r;
        return;
      }
      for (std::int64_t k = 0; k < n_chunks; ++k) {
        const std::int64_t c0 = k * gran, c1 = std::min(w.cols, c0 + gran);
        std::int64_t c = c0;
        formats::block_range rr{};
        if (c1 - c0 >= simd::width) {
          simd::vf lo = simd::vf::load_unaligned(x + c), hi = lo;
          for (c += simd::width; c + simd::width <= c1; c += simd::width) {
            const simd::vf v = simd::vf::load_unaligned(x + c);
            lo = xsimd::min(lo, v);
            hi = xsimd::max(hi, v);
          }
          rr.add(simd::hmin(lo));
          rr.add(simd::hmax(hi));
        }
        for (; c < c1; ++c) rr.add(x[c]);
        cr[static_cast<std::size_t>(k)] = rr;
      }
      for (const auto& q : cr) {
        tr.add(q.min);
        tr.add(q.max);
      }
      Fmts::for_each([&](auto ic) {
        constexpr std::size_t I = decltype(ic)::value;
        using B = format_blocks<typename Fmts::template at<I>>;
        if constexpr (B::is_prepass && B::R != formats::whole) {
          if (owner[I] != I) return;
          const std::int64_t bi = r / B::R;
          formats::block_range* row_blocks = out.storage[I].data() + bi * nbc[I];
          for (std::int64_t k = 0; k < n_chunks; ++k) {
            const std::int64_t bj = B::C == formats::whole ? 0 : (k * gran) / B::C;
            row_blocks[bj].add(cr[static_cast<std::size_t>(k)].min);
            row_blocks[bj].add(cr[static_cast<std::size_t>(k)].max);
          }
        }
      });
    }
    task_range[static_cast<std::size_t>(t)] = tr;
  });
  for (std::int64_t t = 0; t < n_tasks; ++t) {
    if (bad_row[static_cast<std::size_t>(t)] >= 0) {
      std::vector<float> buf(static_cast<std::size_t>(w.cols));
      const std::int64_t r = bad_row[static_cast<std::size_t>(t)];
      const float* x = load_row(w, r, buf.data());
      for (std::int64_t j = 0; j < w.cols; ++j)
        if (!std::isfinite(x[j]))
          throw error(name, std::string(std::isnan(x[j]) ? "NaN" : "Inf") + " at [" + std::to_string(r) + ", " +
                                std::to_string(j) + "]; quantization needs finite weights");
    }
    out.tensor.add(task_range[static_cast<std::size_t>(t)].min);
    out.tensor.add(task_range[static_cast<std::size_t>(t)].max);
  }
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    using B = format_blocks<typename Fmts::template at<I>>;
    if constexpr (B::is_prepass) {
      if constexpr (B::R == formats::whole) {
        if (owner[I] == I) out.storage[I][0] = out.tensor;  // per-tensor: C == whole (see format_blocks)
      }
      out.blocks[I] = out.storage[owner[I]].data();
    }
  });
}

}  // namespace detail

// ---------------------------------------------------------------- the pass
namespace detail {

template <class Fmts, class Req>
tensor_cost evaluate_one(const job& jb, thread_pool& pool, const options& opt) {
  constexpr std::size_t NF = Fmts::size;
  const std::string name(jb.weight.name);
  const plain_weight w = to_plain(jb.weight);
  Fmts::for_each([&](auto ic) { Fmts::template at<decltype(ic)::value>::check_shape(w.rows, w.cols, name); });
  if constexpr (Req::act_sse)
    if (jb.act == nullptr) throw error(name, "activation-weighted error requested but no per-column vector given");

  prepass_result<Fmts> pre;
  prepass<Fmts>(w, name, pool, opt.rows_per_task, pre);

  formats::tensor_stats ts;
  ts.amax = pre.tensor.amax();
  ts.source = w.type == weight_dtype::fp8_e4m3_block128 ? dtype::F32 : jb.weight.type;
  if (jb.stats) ts = *jb.stats;

  tensor_ctx<Fmts> ctx;
  ctx.rows = w.rows;
  ctx.cols = w.cols;
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    using F = typename Fmts::template at<I>;
    get<I>(ctx.tp) = F::prepare(ts);
    ctx.blocks[I] = pre.blocks[I];
    ctx.identity[I] = round_trip_is_identity<F>(w);
  });

  // Per-row results, reduced in row order afterwards: the totals do not depend on the
  // thread count nor on rows_per_task.
  const std::size_t nr = static_cast<std::size_t>(w.rows);
  std::vector<double> row_sse(Req::any_sse ? NF * nr : 0), row_act(Req::act_sse ? NF * nr : 0);
  std::vector<float> row_max(Req::max_abs ? NF * nr : 0);
  const std::int64_t task_rows = std::max<std::int64_t>(opt.rows_per_task, 1);
  const std::int64_t n_tasks = (w.rows + task_rows - 1) / task_rows;

  pool.parallel_for(n_tasks, [&](std::int64_t t) {
    std::vector<float> buf(static_cast<std::size_t>(w.cols));
    simd::row_scratch<Fmts> scratch;
    const std::int64_t r0 = t * task_rows, r1 = std::min(w.rows, r0 + task_rows);
    const std::int64_t full = (w.cols / chunk_elems) * chunk_elems;
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* x = load_row(w, r, buf.data());
      simd::row_accum_simd<NF> acc;
      simd::prepare_row<Fmts>(x, full, r, ctx, scratch);
      for (std::int64_t k = 0; k < full / chunk_elems; ++k)
        simd::process_chunk_simd<Fmts, Req>(x, jb.act, r, k, ctx, scratch, acc);
      const std::int64_t c = full;
      row_accum<NF> tail;
      if (c < w.cols)
        process_chunk_scalar<Fmts, Req>(x + c, static_cast<int>(w.cols - c), Req::act_sse ? jb.act + c : nullptr, r,
                                        c, ctx, tail);
      const std::size_t ri = static_cast<std::size_t>(r);
      for (std::size_t i = 0; i < NF; ++i) {
        if constexpr (Req::any_sse) row_sse[i * nr + ri] = simd::sum_lanes(acc.sse[i]) + tail.sse[i];
        if constexpr (Req::act_sse) row_act[i * nr + ri] = simd::sum_lanes(acc.act[i]) + tail.act[i];
        if constexpr (Req::max_abs) row_max[i * nr + ri] = std::max(simd::hmax(acc.max_abs[i]), tail.max_abs[i]);
      }
    }
  });

  tensor_cost res;
  res.name = name;
  res.formats.resize(NF);
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    format_cost& f = res.formats[I];
    f.format = Fmts::template at<I>::name;
    f.elements = w.size();
    if constexpr (Req::sse) {
      f.sse = 0.0;
      for (std::size_t r = 0; r < nr; ++r) f.sse += row_sse[I * nr + r];
    }
    if constexpr (Req::row_sse) f.row_sse.assign(row_sse.begin() + I * nr, row_sse.begin() + (I + 1) * nr);
    if constexpr (Req::act_sse) {
      f.act_sse = 0.0;
      for (std::size_t r = 0; r < nr; ++r) f.act_sse += row_act[I * nr + r];
    }
    if constexpr (Req::max_abs) {
      f.max_abs = 0.0f;
      for (std::size_t r = 0; r < nr; ++r) f.max_abs = std::max(f.max_abs, row_max[I * nr + r]);
    }
  });
  return res;
}

}  // namespace detail

// Many tensors (e.g. every Linear of a layer). Results in job order.
template <class FormatList, class Req = request<stat::sse>>
std::vector<tensor_cost> evaluate(std::span<const job> jobs, const options& opt = {}) {
  static_assert(is_request<Req>::value, "cost::evaluate: the second argument must be a cost::request<stat...>");
  using Fmts = typename to_fused<FormatList>::type;
  thread_pool& pool = opt.pool ? *opt.pool : thread_pool::shared();
  std::vector<tensor_cost> out;
  out.reserve(jobs.size());
  for (const auto& j : jobs) out.push_back(detail::evaluate_one<Fmts, Req>(j, pool, opt));
  return out;
}

// One tensor.
template <class FormatList, class Req = request<stat::sse>>
tensor_cost evaluate(const formats::weight_view& w, const float* act = nullptr, const options& opt = {}) {
  const job j{w, act, std::nullopt};
  return std::move(evaluate<FormatList, Req>(std::span<const job>(&j, 1), opt).front());
}

}  // namespace prismaquant::cost
