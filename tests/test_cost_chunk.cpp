// CPU emulation of the CUDA kernel's per-thread code (kernels/cost.cuh): every row is cut into
// 32-element chunks, lane l of a 32-lane "warp" takes chunks l, l+32, ..., loads them with
// plain_weight::load_chunk (the device's loader) and runs cost::process_chunk_scalar (the
// device's per-thread step) for every format; lanes are combined in the kernel's shuffle-down
// tree order. Checked against the scalar reference (cost/reference.hpp) for every format and
// every input dtype, so a wrong per-thread step fails here, without a GPU.
#include <prismaquant/cost/engine.hpp>
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/formats/list.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <vector>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;
namespace cost = prismaquant::cost;

namespace {

template <class Fmts>
std::vector<cost::row_accum<Fmts::size>> emulate_kernel(const fm::weight_view& v, const float* act) {
  constexpr std::size_t NF = Fmts::size;
  const cost::plain_weight w = cost::to_plain(v);
  cost::detail::prepass_result<Fmts> pre;
  cost::thread_pool pool(1);
  cost::detail::prepass<Fmts>(w, "w", pool, 16, pre);
  cost::tensor_ctx<Fmts> ctx;
  ctx.rows = w.rows;
  ctx.cols = w.cols;
  fm::tensor_stats ts;
  ts.amax = pre.tensor.amax();
  ts.source = w.type == cost::weight_dtype::fp8_e4m3_block128 ? pq::dtype::F32 : v.type;
  Fmts::for_each([&](auto ic) {
    constexpr std::size_t I = decltype(ic)::value;
    using F = typename Fmts::template at<I>;
    cost::get<I>(ctx.tp) = F::prepare(ts);
    ctx.blocks[I] = pre.blocks[I];
    ctx.identity[I] = cost::round_trip_is_identity<F>(w);
  });
  std::vector<cost::row_accum<NF>> rows(static_cast<std::size_t>(w.rows));
  for (std::int64_t r = 0; r < w.rows; ++r) {
    cost::row_accum<NF> lane[32];
    for (int l = 0; l < 32; ++l)
      for (std::int64_t c0 = l * cost::chunk_elems; c0 < w.cols; c0 += 32 * cost::chunk_elems) {
        const int n = static_cast<int>(std::min<std::int64_t>(cost::chunk_elems, w.cols - c0));
        float x[cost::chunk_elems];
        w.load_chunk(r, c0, n, x);
        if (n == cost::chunk_elems)
          cost::process_chunk_scalar<Fmts, cost::all_stats, true>(x, n, act + c0, r, c0, ctx, lane[l]);
        else
          cost::process_chunk_scalar<Fmts, cost::all_stats>(x, n, act + c0, r, c0, ctx, lane[l]);
      }
    for (int o = 16; o > 0; o >>= 1)  // __shfl_down_sync tree
      for (int l = 0; l < o; ++l)
        for (std::size_t i = 0; i < NF; ++i) {
          lane[l].sse[i] += lane[l + o].sse[i];
          lane[l].act[i] += lane[l + o].act[i];
          lane[l].max_abs[i] = std::max(lane[l].max_abs[i], lane[l + o].max_abs[i]);
        }
    rows[static_cast<std::size_t>(r)] = lane[0];
  }
  return rows;
}

}  // namespace

TEST_CASE("the kernel's per-thread step, emulated, equals the scalar reference", "[cost][cuda-emulation]") {
  using fmts = fm::all_formats;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  const std::int64_t R = 131, C = 1024;
  std::vector<float> f(static_cast<std::size_t>(R * C));
  for (std::size_t k = 0; k < f.size(); ++k) f[k] = (k % 97 == 0) ? nd(rng) * 50.0f : (k / C) % 9 == 4 ? 0.0f : nd(rng);
  std::vector<pq::bf16> b;
  for (float x : f) b.push_back(pq::bf16::from_float(x));
  std::vector<pq::fp8_e4m3> q;
  for (float x : f) q.push_back(pq::fp8_e4m3::from_float(x / (1.0f / 448.0f)));
  std::vector<float> scale(static_cast<std::size_t>(((R + 127) / 128) * ((C + 127) / 128)), 1.0f / 448.0f);
  std::vector<float> act(static_cast<std::size_t>(C));
  for (std::size_t k = 0; k < act.size(); ++k) act[k] = 0.25f + static_cast<float>(k % 13);
  const fm::weight_view views[] = {fm::weight_view(f.data(), R, C), fm::weight_view(b.data(), R, C),
                                   fm::weight_view(q.data(), scale.data(), R, C)};
  for (const auto& v : views) {
    const auto rows = emulate_kernel<cost::to_fused<fmts>::type>(v, act.data());
    std::size_t i = 0;
    fmts::for_each([&]<class F>() {
      const auto ref = cost::reference_stats<F>(v, act);
      double sse = 0.0, asq = 0.0;
      float mx = 0.0f;
      std::size_t bad_rows = 0;
      for (std::size_t r = 0; r < rows.size(); ++r) {
        sse += rows[r].sse[i];
        asq += rows[r].act[i];
        mx = std::max(mx, rows[r].max_abs[i]);
        if (std::fabs(rows[r].sse[i] - ref.row_sq[r]) > 2e-6 * ref.row_sq[r] + 1e-30) ++bad_rows;
      }
      INFO(F::name << " on " << pq::dtype_name(v.type));
      CHECK(bad_rows == 0);
      CHECK(sse == Approx(ref.sum_sq).epsilon(2e-6).margin(1e-30));
      CHECK(asq == Approx(ref.weighted_sq).epsilon(2e-6).margin(1e-30));
      CHECK(static_cast<double>(mx) == Approx(ref.max_abs).epsilon(1e-7).margin(1e-38));
      ++i;
    });
  }
}
