#pragma once
// The fused cost pass on CUDA (Hopper sm_90, Blackwell sm_100 / sm_120 / sm_121). Same
// computation as the CPU pass (cost/engine.hpp), summed in the same order, so the statistics
// are the CPU's bit for bit: the element step is the formats' own PQ_HD code
// (cost/element.hpp), the order is cost/row_scalar.hpp's.
//
//   std::vector<prismaquant::kernels::device_job> jobs = ...;  // device pointers, many tensors
//   auto costs = prismaquant::kernels::evaluate_device<formats::all_formats, cost::all_stats>(jobs);
//
// Layers:
//   lane    position j of every 32-element chunk of a row: runs every format on its element
//           (block params + element round trip + statistics), float partials per position
//   warp    one row: local 16/32-block ranges and the span trees by shuffles in fixed order;
//           lane 0 adds the row's 8 double lanes and the partial last chunk, writes the row
//   device  all rows of ALL tensors of a call in one launch (a table of tensors; a warp finds
//           its tensor by binary search over row offsets), e.g. 256 experts' w1 at once
//   reduce  one thread per (tensor, format) adds the rows in row order
// The pre-pass (tensor range, and the block ranges of per-row / per-tensor / 128x128 / 1xG>32
// formats) is one launch too: ranges include 0, so they are stored as two non-negative
// magnitudes (-min, max) and merged with atomicMax on their bits — exact and order-free.
//
// Requires nvcc --expt-relaxed-constexpr (the formats' constexpr math is called from device
// code) and -fmad=false (no product fused into an add: the CPU rounds every product).
// Host code in this header uses the CUDA runtime; errors throw prismaquant::error.
#include <prismaquant/cost/chunk.hpp>
#include <prismaquant/cost/result.hpp>
#include <prismaquant/cost/format_list.hpp>
#include <prismaquant/cost/plain_weight.hpp>
#include <prismaquant/cost/request.hpp>
#include <prismaquant/formats/format.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace prismaquant::kernels {

// One tensor for the device pass: device pointers (weight, scale_inv, act).
struct device_job {
  cost::plain_weight weight;       // data / scale_inv in device memory
  const float* act = nullptr;      // device [cols], for stat::act_sse
  std::string name = "weight";     // for errors
  std::optional<formats::tensor_stats> stats{};  // shared stats for fused siblings
  std::int32_t group = -1;  // as cost::job::group: siblings share the merge of their own stats
};

namespace detail {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw error("cuda", std::string(what) + ": " + cudaGetErrorString(e));
}

struct range_bits {  // a block range as two non-negative magnitudes, merged with atomicMax
  unsigned neg_min;  // bits of -min (>= 0)
  unsigned max;      // bits of max (>= 0)
};

// mn <= 0 <= mx (ranges start at 0, as block_range does), so both are merged as magnitudes,
// whose bit patterns order like the floats. fabsf, not negation: a range with no negative value
// has mn = +0 (or -0 from fminf), and -(+0) = -0 has the sign bit set, the largest unsigned
// pattern of all, which would win every later atomicMax and lose the tensor's negative extent.
__device__ inline void merge_range(range_bits* dst, float mn, float mx) {
  atomicMax(&dst->neg_min, __float_as_uint(fabsf(mn)));
  atomicMax(&dst->max, __float_as_uint(fabsf(mx)));
}

// Per-tensor device record.
template <class Fmts>
struct dtensor {
  cost::plain_weight w;
  const float* act;
  std::int64_t row_begin;  // first global row of this tensor
  cost::tensor_ctx<Fmts> ctx;
  range_bits* pre[Fmts::size];  // pre-pass staging (owner formats), null if not prepass
  range_bits* tensor_range;
  double* row_sse;   // [NF][rows]
  double* row_act;   // [NF][rows]
  float* row_max;    // [NF][rows]
};

template <class Fmts>
__device__ inline int find_tensor(const dtensor<Fmts>* t, int n, std::int64_t grow) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (t[mid].row_begin <= grow) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

__device__ inline bool finite(float x) { return (__float_as_uint(x) & 0x7F800000u) != 0x7F800000u; }

// Pre-pass: one warp per row.
template <class Fmts>
__global__ void prepass_kernel(const dtensor<Fmts>* tensors, int n_tensors, std::int64_t total_rows, int* bad) {
  const std::int64_t grow = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (grow >= total_rows) return;
  const dtensor<Fmts>& T = tensors[find_tensor(tensors, n_tensors, grow)];
  const std::int64_t r = grow - T.row_begin;
  const std::int64_t cols = T.w.cols;
  float tmin = 0.0f, tmax = 0.0f;
  for (std::int64_t c0 = static_cast<std::int64_t>(lane) * cost::chunk_elems; c0 < cols;
       c0 += 32 * cost::chunk_elems) {
    const int n = static_cast<int>(cols - c0 < cost::chunk_elems ? cols - c0 : cost::chunk_elems);
    float x[cost::chunk_elems];
    T.w.load_chunk(r, c0, n, x);
    float mn = 0.0f, mx = 0.0f;
    bool ok = true;
    for (int j = 0; j < n; ++j) {
      ok = ok && finite(x[j]);
      mn = fminf(mn, x[j]);
      mx = fmaxf(mx, x[j]);
    }
    if (!ok) atomicOr(bad, 1);
    tmin = fminf(tmin, mn);
    tmax = fmaxf(tmax, mx);
    Fmts::for_each([&](auto ic) {
      constexpr std::size_t I = decltype(ic)::value;
      using B = cost::format_blocks<typename Fmts::template at<I>>;
      if constexpr (B::is_prepass && B::R == formats::whole) {
        merge_range(T.pre[I], mn, mx);  // per-tensor: a single block
      } else if constexpr (B::is_prepass) {
        const std::int64_t bi = r / B::R;
        const std::int64_t bj = B::C == formats::whole ? 0 : c0 / B::C;
        merge_range(T.pre[I] + bi * formats::block_count(B::C, cols) + bj, mn, mx);
      }
    });
  }
  for (int o = 16; o > 0; o >>= 1) {
    tmin = fminf(tmin, __shfl_xor_sync(0xFFFFFFFFu, tmin, o));
    tmax = fmaxf(tmax, __shfl_xor_sync(0xFFFFFFFFu, tmax, o));
  }
  if (lane == 0) merge_range(T.tensor_range, tmin, tmax);
}

// range_bits -> formats::block_range.
template <int = 0>
__global__ void finalize_ranges(const range_bits* in, formats::block_range* out, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  // 0 - m, not -m: a range with no negative value has min +0, as on the CPU
  if (i < n) out[i] = formats::block_range{0.0f - __uint_as_float(in[i].neg_min), __uint_as_float(in[i].max)};
}

// The CPU pass's order of summation (cost/row_scalar.hpp), which every SIMD width reproduces,
// reproduced here so that GPU sums equal CPU sums bit for bit:
//   per format, over spans of span_chunks chunks, 32 float partials p[j] (j = position in the
//   chunk) summed in chunk order; at each span's end reduced by a fixed tree to row_lanes
//   double lanes, lane[l] += double((p[l] + p[l+8]) + (p[l+16] + p[l+24]));
//   row = ((0 + lane[0]) + lane[1]) + ... + lane[7], plus the partial last chunk's sum
//   (process_chunk_scalar); tensor total = the row sums added in row order.
// Every float product is rounded on its own: kernels are compiled with -fmad=false.
inline constexpr int span_chunks_device = 4;
inline constexpr int row_lanes_device = 8;

// One warp per row, lane j = position j of every 32-element chunk, all tensors in one launch.
template <class Fmts, class Req>
__global__ void cost_kernel(const dtensor<Fmts>* tensors, int n_tensors, std::int64_t total_rows) {
  constexpr std::size_t NF = Fmts::size;
  constexpr int S = span_chunks_device;
  const std::int64_t grow = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x & 31;
  if (grow >= total_rows) return;
  const dtensor<Fmts>& T = tensors[find_tensor(tensors, n_tensors, grow)];
  const std::int64_t r = grow - T.row_begin;
  const std::int64_t cols = T.w.cols, rows = T.w.rows;
  const std::int64_t n_chunks = cols / cost::chunk_elems;
  double lane_sse[NF] = {}, lane_act[NF] = {};  // lanes 0..7: the row's double lanes
  float mx[NF] = {};
  for (std::int64_t k0 = 0; k0 < n_chunks; k0 += S) {
    const int nk = static_cast<int>(n_chunks - k0 < S ? n_chunks - k0 : S);
    float x[S], a[S];
#pragma unroll
    for (int s = 0; s < S; ++s)
      if (s < nk) {
        const std::int64_t c = (k0 + s) * cost::chunk_elems + lane;
        x[s] = T.w.at(r, c);
        if constexpr (Req::act_sse) a[s] = T.act[c];
      }
    // local 16- and 32-blocks of each chunk: ranges from {0, 0} as formats::block_range
    formats::block_range r16[S], r32[S];
#pragma unroll
    for (int s = 0; s < S; ++s) {
      if constexpr (Fmts::any_local16 || Fmts::any_local32) {
        if (s < nk) {
          formats::block_range g{};
          g.add(x[s]);
#pragma unroll
          for (int o = 1; o < 16; o <<= 1) {
            g.add(__shfl_xor_sync(0xFFFFFFFFu, g.min, o));
            g.add(__shfl_xor_sync(0xFFFFFFFFu, g.max, o));
          }
          r16[s] = g;
          g.add(__shfl_xor_sync(0xFFFFFFFFu, g.min, 16));
          g.add(__shfl_xor_sync(0xFFFFFFFFu, g.max, 16));
          r32[s] = g;
        }
      }
    }
    Fmts::for_each([&](auto ic) {
      constexpr std::size_t I = decltype(ic)::value;
      if constexpr (Fmts::template twin_of<I> == I) {
        using F = typename Fmts::template at<I>;
        using B = cost::format_blocks<F>;
        if (T.ctx.identity[I]) return;
        const auto& tp = cost::get<I>(T.ctx.tp);
        float p = 0.0f, pa = 0.0f;
#pragma unroll
        for (int s = 0; s < S; ++s) {
          if (s >= nk) break;
          typename F::block_params bp;
          if constexpr (B::is_local) bp = F::block_scale(tp, B::C == 16 ? r16[s] : r32[s]);
          else bp = F::block_scale(tp, cost::prepass_block<F>(T.ctx, I, r, (k0 + s) * cost::chunk_elems));
          const float e = cost::sub_rounded(x[s], cost::element_round_trip<F>(bp, x[s]));
          const float e2 = e * e;
          if constexpr (Req::any_sse) p += e2;
          if constexpr (Req::act_sse) pa += a[s] * e2;
          if constexpr (Req::max_abs) {
            const float ae = e < 0.0f ? -e : e;
            mx[I] = ae > mx[I] ? ae : mx[I];
          }
        }
        if constexpr (Req::any_sse) {
          const float h = p + __shfl_down_sync(0xFFFFFFFFu, p, 8);
          const float q = h + __shfl_down_sync(0xFFFFFFFFu, h, 16);
          lane_sse[I] += static_cast<double>(q);
        }
        if constexpr (Req::act_sse) {
          const float h = pa + __shfl_down_sync(0xFFFFFFFFu, pa, 8);
          const float q = h + __shfl_down_sync(0xFFFFFFFFu, h, 16);
          lane_act[I] += static_cast<double>(q);
        }
      }
    });
  }
  // the partial last chunk, as the CPU takes it: one thread, process_chunk_scalar
  cost::row_accum<NF> tail;
  const std::int64_t c_tail = n_chunks * cost::chunk_elems;
  if (lane == 0 && c_tail < cols) {
    float xt[cost::chunk_elems];
    const int n = static_cast<int>(cols - c_tail);
    T.w.load_chunk(r, c_tail, n, xt);
    cost::process_chunk_scalar<Fmts, Req>(xt, n, Req::act_sse ? T.act + c_tail : nullptr, r, c_tail, T.ctx, tail);
  }
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    constexpr std::size_t W = Fmts::template twin_of<I>;  // same weight round trip: same sums
    double s = 0.0, sa = 0.0;
#pragma unroll
    for (int l = 0; l < row_lanes_device; ++l) {
      if constexpr (Req::any_sse) s += __shfl_sync(0xFFFFFFFFu, lane_sse[W], l);
      if constexpr (Req::act_sse) sa += __shfl_sync(0xFFFFFFFFu, lane_act[W], l);
    }
    float m = mx[W];
    if constexpr (Req::max_abs)
      for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xFFFFFFFFu, m, o));
    if (lane == 0) {
      if constexpr (Req::any_sse) T.row_sse[I * rows + r] = s + tail.sse[W];
      if constexpr (Req::act_sse) T.row_act[I * rows + r] = sa + tail.act[W];
      if constexpr (Req::max_abs) T.row_max[I * rows + r] = fmaxf(m, tail.max_abs[W]);
    }
  });
}

// Tensor totals per (tensor, format): one thread each, the rows added in row order (as the CPU).
template <class Fmts, class Req>
__global__ void reduce_rows(const dtensor<Fmts>* tensors, int n_tensors, double* out /*[T][NF][3]*/) {
  constexpr std::size_t NF = Fmts::size;
  const std::int64_t id = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (id >= static_cast<std::int64_t>(n_tensors) * static_cast<std::int64_t>(NF)) return;
  const int t = static_cast<int>(id / static_cast<std::int64_t>(NF));
  const int f = static_cast<int>(id % static_cast<std::int64_t>(NF));
  const dtensor<Fmts>& T = tensors[t];
  const std::int64_t rows = T.w.rows;
  double s = 0.0, a = 0.0;
  float m = 0.0f;
  for (std::int64_t r = 0; r < rows; ++r) {
    if constexpr (Req::any_sse) s += T.row_sse[f * rows + r];
    if constexpr (Req::act_sse) a += T.row_act[f * rows + r];
    if constexpr (Req::max_abs) m = fmaxf(m, T.row_max[f * rows + r]);
  }
  out[id * 3 + 0] = s;
  out[id * 3 + 1] = a;
  out[id * 3 + 2] = m;
}

}  // namespace detail

// The device pass over many tensors: one allocation, one pre-pass launch, one range
// conversion, one cost launch, one reduction launch, whatever the number of tensors.
// Synchronous; results in job order, same layout as cost::evaluate.
template <class FormatList, class Req = cost::request<cost::stat::sse>>
std::vector<cost::tensor_cost> evaluate_device(const std::vector<device_job>& jobs, cudaStream_t stream = 0) {
  using Fmts = typename cost::to_fused<FormatList>::type;
  constexpr std::size_t NF = Fmts::size;
  using dt = detail::dtensor<Fmts>;
  if (jobs.empty()) return {};
  const std::size_t T = jobs.size();

  // ---- layout of one arena: [range_bits: tensor ranges, prepass blocks][block_range: same
  // blocks][row_sse][row_act][row_max][table][reduction out][bad flag]
  std::vector<std::int64_t> blk_off(T * NF, -1);
  std::int64_t n_blocks = 0, n_rowvals = 0, total_rows = 0;
  for (std::size_t t = 0; t < T; ++t) {
    const auto& j = jobs[t];
    const auto& w = j.weight;
    if (w.rows <= 0 || w.cols <= 0 || w.data == nullptr) throw error(j.name, "empty weight or null device pointer");
    if (w.type == cost::weight_dtype::fp8_e4m3_block128 && w.scale_inv == nullptr)
      throw error(j.name, "F8_E4M3 weight without weight_scale_inv");
    Fmts::for_each([&](auto ic) { Fmts::template at<decltype(ic)::value>::check_shape(w.rows, w.cols, j.name); });
    if (Req::act_sse && j.act == nullptr)
      throw error(j.name, "activation-weighted error requested but no per-column vector given");
    Fmts::for_each([&](auto ic) {
      constexpr std::size_t I = decltype(ic)::value;
      using B = cost::format_blocks<typename Fmts::template at<I>>;
      if constexpr (B::is_prepass) {
        blk_off[t * NF + I] = n_blocks;
        n_blocks += formats::block_count(B::R, w.rows) * formats::block_count(B::C, w.cols);
      }
    });
    n_rowvals += static_cast<std::int64_t>(NF) * w.rows;
    total_rows += w.rows;
  }
  auto align = [](std::size_t x) { return (x + 255) & ~std::size_t{255}; };
  const std::size_t n_bits = static_cast<std::size_t>(T + n_blocks);
  const std::size_t o_bits = 0;
  const std::size_t o_rng = align(o_bits + n_bits * sizeof(detail::range_bits));
  const std::size_t o_sse = align(o_rng + static_cast<std::size_t>(n_blocks) * sizeof(formats::block_range));
  const std::size_t o_act = align(o_sse + static_cast<std::size_t>(n_rowvals) * sizeof(double));
  const std::size_t o_max = align(o_act + static_cast<std::size_t>(n_rowvals) * sizeof(double));
  const std::size_t o_tab = align(o_max + static_cast<std::size_t>(n_rowvals) * sizeof(float));
  const std::size_t o_red = align(o_tab + T * sizeof(dt));
  const std::size_t o_bad = align(o_red + T * NF * 3 * sizeof(double));
  const std::size_t bytes = o_bad + 256;
  char* arena = nullptr;
  // Stream-ordered: no device-wide synchronisation, so copies on other streams (e.g.
  // kernels/cost_stream.cuh staging the next sub-batch) keep running.
  detail::check(cudaMallocAsync(reinterpret_cast<void**>(&arena), bytes, stream), "cudaMallocAsync");
  struct freer {
    char* p;
    cudaStream_t s;
    ~freer() { cudaFreeAsync(p, s); }
  } free_arena{arena, stream};
  auto* bits = reinterpret_cast<detail::range_bits*>(arena + o_bits);
  auto* rng = reinterpret_cast<formats::block_range*>(arena + o_rng);
  auto* row_sse = reinterpret_cast<double*>(arena + o_sse);
  auto* row_act = reinterpret_cast<double*>(arena + o_act);
  auto* row_max = reinterpret_cast<float*>(arena + o_max);
  auto* dtab = reinterpret_cast<dt*>(arena + o_tab);
  auto* red = reinterpret_cast<double*>(arena + o_red);
  auto* bad = reinterpret_cast<int*>(arena + o_bad);
  detail::check(cudaMemsetAsync(arena, 0, o_rng, stream), "cudaMemset");
  detail::check(cudaMemsetAsync(bad, 0, sizeof(int), stream), "cudaMemset");

  std::vector<dt> host(T);
  std::int64_t row_begin = 0, rv = 0;
  for (std::size_t t = 0; t < T; ++t) {
    dt& d = host[t];
    d.w = jobs[t].weight;
    d.act = jobs[t].act;
    d.row_begin = row_begin;
    row_begin += d.w.rows;
    d.ctx.rows = d.w.rows;
    d.ctx.cols = d.w.cols;
    d.tensor_range = bits + t;
    for (std::size_t i = 0; i < NF; ++i) {
      d.pre[i] = blk_off[t * NF + i] >= 0 ? bits + T + blk_off[t * NF + i] : nullptr;
      d.ctx.blocks[i] = blk_off[t * NF + i] >= 0 ? rng + blk_off[t * NF + i] : nullptr;
    }
    d.row_sse = row_sse + rv;
    d.row_act = row_act + rv;
    d.row_max = row_max + rv;
    rv += static_cast<std::int64_t>(NF) * d.w.rows;
  }
  detail::check(cudaMemcpyAsync(dtab, host.data(), sizeof(dt) * T, cudaMemcpyHostToDevice, stream), "cudaMemcpy");

  constexpr int threads = 256;  // 8 rows (warps) per block
  const unsigned grid = static_cast<unsigned>((total_rows * 32 + threads - 1) / threads);
  detail::prepass_kernel<Fmts><<<grid, threads, 0, stream>>>(dtab, static_cast<int>(T), total_rows, bad);
  detail::check(cudaGetLastError(), "prepass_kernel launch");
  if (n_blocks > 0) {
    detail::finalize_ranges<<<static_cast<unsigned>((n_blocks + 255) / 256), 256, 0, stream>>>(bits + T, rng, n_blocks);
    detail::check(cudaGetLastError(), "finalize_ranges launch");
  }
  std::vector<detail::range_bits> tr(T);
  int h_bad = 0;
  detail::check(cudaMemcpyAsync(tr.data(), bits, sizeof(detail::range_bits) * T, cudaMemcpyDeviceToHost, stream),
                "cudaMemcpy");
  detail::check(cudaMemcpyAsync(&h_bad, bad, sizeof(int), cudaMemcpyDeviceToHost, stream), "cudaMemcpy");
  detail::check(cudaStreamSynchronize(stream), "cost pre-pass");
  if (h_bad)
    throw error(T == 1 ? jobs[0].name : std::string("device cost pass"),
                "NaN or Inf in a weight; quantization needs finite weights");

  // tensor params on the host (tiny; the formats' own PQ_HD prepare)
  std::vector<formats::tensor_stats> own(T);
  for (std::size_t t = 0; t < T; ++t) {
    const float mn = 0.0f - prismaquant::detail::bit_cast<float>(tr[t].neg_min);
    const float mx = prismaquant::detail::bit_cast<float>(tr[t].max);
    own[t].amax = -mn > mx ? -mn : mx;
    own[t].source = host[t].w.type == cost::weight_dtype::bf16  ? dtype::BF16
                    : host[t].w.type == cost::weight_dtype::f16 ? dtype::F16
                                                                : dtype::F32;
  }
  for (std::size_t t = 0; t < T; ++t) {
    dt& d = host[t];
    const formats::tensor_stats ts = cost::job_stats(std::span<const device_job>(jobs), std::span<const formats::tensor_stats>(own), t);
    Fmts::for_each([&](auto ic) {
      constexpr std::size_t I = decltype(ic)::value;
      using F = typename Fmts::template at<I>;
      cost::get<I>(d.ctx.tp) = F::prepare(ts);
      d.ctx.identity[I] = cost::round_trip_is_identity<F>(d.w);
    });
  }
  detail::check(cudaMemcpyAsync(dtab, host.data(), sizeof(dt) * T, cudaMemcpyHostToDevice, stream), "cudaMemcpy");
  detail::cost_kernel<Fmts, Req><<<grid, threads, 0, stream>>>(dtab, static_cast<int>(T), total_rows);
  detail::check(cudaGetLastError(), "cost_kernel launch");
  const std::size_t n_red = T * NF;
  detail::reduce_rows<Fmts, Req><<<static_cast<unsigned>((n_red + 127) / 128), 128, 0, stream>>>(dtab, static_cast<int>(T), red);
  detail::check(cudaGetLastError(), "reduce_rows launch");
  std::vector<double> h_red(T * NF * 3);
  detail::check(cudaMemcpyAsync(h_red.data(), red, sizeof(double) * h_red.size(), cudaMemcpyDeviceToHost, stream),
                "cudaMemcpy");
  std::vector<double> h_rows(Req::row_sse ? static_cast<std::size_t>(n_rowvals) : 0);
  if (Req::row_sse)
    detail::check(cudaMemcpyAsync(h_rows.data(), row_sse, sizeof(double) * h_rows.size(), cudaMemcpyDeviceToHost, stream),
                  "cudaMemcpy");
  detail::check(cudaStreamSynchronize(stream), "cost pass");

  std::vector<cost::tensor_cost> out(T);
  std::size_t ro = 0;
  for (std::size_t t = 0; t < T; ++t) {
    out[t].name = jobs[t].name;
    out[t].formats.resize(NF);
    const std::size_t nr = static_cast<std::size_t>(host[t].w.rows);
    Fmts::for_each([&](auto ic) {
      constexpr std::size_t I = decltype(ic)::value;
      cost::format_cost& f = out[t].formats[I];
      f.format = Fmts::template at<I>::name;
      f.elements = host[t].w.size();
      const double* v = &h_red[(t * NF + I) * 3];
      if constexpr (Req::sse) f.sse = v[0];
      if constexpr (Req::act_sse) f.act_sse = v[1];
      if constexpr (Req::max_abs) f.max_abs = static_cast<float>(v[2]);
      if constexpr (Req::row_sse) f.row_sse.assign(h_rows.begin() + ro + I * nr, h_rows.begin() + ro + (I + 1) * nr);
    });
    ro += NF * nr;
  }
  return out;
}

}  // namespace prismaquant::kernels
