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
// (2) the fused pass — each row is converted to float32 once (L1-resident), its local block
// ranges and every format's block params are computed, then each format runs over the row's
// 32-element chunks with its own block_scale and a bit-exact SIMD element round trip,
// accumulating only the requested statistics. Formats exact on the tensor are skipped; a
// format whose weight round trip is another's (weight_round_trip_of) reuses its sums.
//
// Accumulation: squared errors are formed in float32 (as the formats' reference does), summed
// in float per SIMD lane over one span of 4 chunks (one partial sum of 4 per vector of a
// chunk, those summed pairwise: 16 elements per lane with AVX), then accumulated in double per
// lane, lanes summed in double at the end of a row (all terms are >= 0, so the float partials
// are within a few ulps); totals are the double sum of row sums in row order. Each row is computed by one thread and the rows are reduced in row order, so
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

// load_row decodes an E4M3 NaN code (magnitude 0x7F) as a finite number (its fast decode has
// no special case): the pre-pass finds those codes in the row's bytes instead.
inline bool fp8_nan_in_row(const plain_weight& w, std::int64_t r) noexcept {
  if (w.type != weight_dtype::fp8_e4m3_block128) return false;
  const std::uint8_t* p = static_cast<const std::uint8_t*>(w.data) + r * w.cols;
  bool nan = false;
  for (std::int64_t j = 0; j < w.cols; ++j) nan |= (p[j] & 0x7Fu) == 0x7Fu;  // no early exit: vectorises
  return nan;
}

// Asks the cache for row r while the current row is being computed: the fused pass spends far
// longer per row than DRAM takes to deliver the next one, and the hardware prefetcher does not
// run that far ahead of a loop that stalls on compute.
inline void prefetch_row(const plain_weight& w, std::int64_t r) noexcept {
#if defined(__GNUC__)
  const std::int64_t es = w.type == weight_dtype::f32 ? 4 : w.type == weight_dtype::fp8_e4m3_block128 ? 1 : 2;
  const char* p = static_cast<const char*>(w.data) + r * w.cols * es;
  for (std::int64_t b = 0; b < w.cols * es; b += 64) __builtin_prefetch(p + b, 0, 3);
#else
  (void)w;
  (void)r;
#endif
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
      if (r + 1 < r1) prefetch_row(w, r + 1);
      const float* x = load_row(w, r, buf.data());
      // One scan: span ranges, and the largest |x| bit pattern (>= inf's means NaN/Inf; min
      // and max would not keep a NaN).
      simd::vu top(0u);
      std::uint32_t top_tail = 0;
      for (std::int64_t k = 0; k < n_chunks; ++k) {
        const std::int64_t c0 = k * gran, c1 = std::min(w.cols, c0 + gran);
        std::int64_t c = c0;
        formats::block_range rr{};
        if (c1 - c0 >= simd::width) {
          simd::vf lo = simd::vf::load_unaligned(x + c), hi = lo;
          top = xsimd::max(top, simd::as_u(simd::vabs(lo)));
          for (c += simd::width; c + simd::width <= c1; c += simd::width) {
            const simd::vf v = simd::vf::load_unaligned(x + c);
            lo = xsimd::min(lo, v);
            hi = xsimd::max(hi, v);
            top = xsimd::max(top, simd::as_u(simd::vabs(v)));
          }
          rr.add(simd::hmin(lo));
          rr.add(simd::hmax(hi));
        }
        for (; c < c1; ++c) {
          top_tail = std::max(top_tail, prismaquant::detail::bit_cast<std::uint32_t>(x[c]) & 0x7FFFFFFFu);
          rr.add(x[c]);
        }
        cr[static_cast<std::size_t>(k)] = rr;
      }
      if (xsimd::any(top >= simd::vu(0x7F800000u)) || top_tail >= 0x7F800000u || fp8_nan_in_row(w, r)) {
        bad_row[static_cast<std::size_t>(t)] = r;
        return;
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
      const std::uint8_t* fp8 = w.type == weight_dtype::fp8_e4m3_block128 ? static_cast<const std::uint8_t*>(w.data) + r * w.cols : nullptr;
      for (std::int64_t j = 0; j < w.cols; ++j)
        if (!std::isfinite(x[j]) || (fp8 && (fp8[j] & 0x7Fu) == 0x7Fu))
          throw error(name, std::string(std::isnan(x[j]) || fp8 ? "NaN" : "Inf") + " at [" + std::to_string(r) + ", " +
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

// A job after its pre-pass: the block ranges, and its own tensor stats (the formats are
// prepared with cost::job_stats: these, the caller's, or its group's merge).
template <class Fmts>
struct prepared_job {
  std::string name;
  plain_weight w;
  prepass_result<Fmts> pre;
  formats::tensor_stats ts;
};

template <class Fmts, class Req>
prepared_job<Fmts> prepare_job(const job& jb, thread_pool& pool, const options& opt) {
  prepared_job<Fmts> p;
  p.name = std::string(jb.weight.name);
  p.w = to_plain(jb.weight);
  Fmts::for_each([&](auto ic) { Fmts::template at<decltype(ic)::value>::check_shape(p.w.rows, p.w.cols, p.name); });
  if constexpr (Req::act_sse)
    if (jb.act == nullptr) throw error(p.name, "activation-weighted error requested but no per-column vector given");
  prepass<Fmts>(p.w, p.name, pool, opt.rows_per_task, p.pre);
  p.ts.amax = p.pre.tensor.amax();
  p.ts.source = p.w.type == weight_dtype::fp8_e4m3_block128 ? dtype::F32 : jb.weight.type;
  return p;
}

template <class Fmts, class Req>
tensor_cost evaluate_prepared(const job& jb, const prepared_job<Fmts>& p, thread_pool& pool, const options& opt) {
  constexpr std::size_t NF = Fmts::size;
  const plain_weight& w = p.w;
  const auto& pre = p.pre;
  const auto& ts = p.ts;
  const std::string& name = p.name;

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
      if (r + 1 < r1) prefetch_row(w, r + 1);  // its load then hits cache, not DRAM
      const float* x = load_row(w, r, buf.data());
      simd::row_accum_simd<NF> acc;
      simd::prepare_row<Fmts>(x, full, r, ctx, scratch);
      simd::process_row_simd<Fmts, Req>(x, jb.act, full / chunk_elems, ctx, scratch, acc);
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
  std::vector<std::optional<detail::prepared_job<Fmts>>> prep(jobs.size());
  std::vector<formats::tensor_stats> own(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (!prep[i]) {
      // A group's pre-passes all come first (its members are read once for them), so that the
      // merge of their stats is known before any of them is measured.
      std::vector<std::size_t> members{i};
      for (std::size_t j = i + 1; j < jobs.size(); ++j)
        if (in_group_of(jobs[j], jobs[i])) members.push_back(j);
      for (std::size_t j : members) {
        prep[j] = detail::prepare_job<Fmts, Req>(jobs[j], pool, opt);
        own[j] = prep[j]->ts;
      }
      for (std::size_t j : members) prep[j]->ts = job_stats(jobs, std::span<const formats::tensor_stats>(own), j);
    }
    out.push_back(detail::evaluate_prepared<Fmts, Req>(jobs[i], *prep[i], pool, opt));
    prep[i].reset();
  }
  return out;
}

// One tensor.
template <class FormatList, class Req = request<stat::sse>>
tensor_cost evaluate(const formats::weight_view& w, const float* act = nullptr, const options& opt = {}) {
  const job j{w, act, std::nullopt};
  return std::move(evaluate<FormatList, Req>(std::span<const job>(&j, 1), opt).front());
}

}  // namespace prismaquant::cost
