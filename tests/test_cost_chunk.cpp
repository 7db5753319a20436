// CPU emulation of the CUDA kernel (kernels/cost.cuh), lane by lane: a 32-lane "warp" per row,
// lane j holding position j of every 32-element chunk (plain_weight::at, the device's loader),
// spans of 4 chunks with one float partial per lane, the kernel's shuffle trees (local block
// ranges; (p[l] + p[l+8]) + (p[l+16] + p[l+24]) into 8 double lanes), lane 0's sum of the 8
// lanes and its process_chunk_scalar on the partial last chunk. Checked bit for bit against the
// CPU pass (cost::evaluate, every SIMD width summing in cost/row_scalar.hpp's order) and within
// float rounding against the scalar reference, for every format and input dtype — so a wrong
// order or step in the kernel fails here, without a GPU.
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
  constexpr int S = 4, L = 8;  // span chunks, double lanes (cost/row_scalar.hpp)
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
  const std::int64_t n_chunks = w.cols / cost::chunk_elems;
  std::vector<cost::row_accum<NF>> rows(static_cast<std::size_t>(w.rows));
  for (std::int64_t r = 0; r < w.rows; ++r) {
    double lane_sse[NF][32] = {}, lane_act[NF][32] = {};
    float mx[NF][32] = {};
    for (std::int64_t k0 = 0; k0 < n_chunks; k0 += S) {
      const int nk = static_cast<int>(std::min<std::int64_t>(S, n_chunks - k0));
      float x[32][S] = {};
      fm::block_range r16[32][S], r32[32][S];
      for (int j = 0; j < 32; ++j)
        for (int s = 0; s < nk; ++s) x[j][s] = w.at(r, (k0 + s) * cost::chunk_elems + j);
      for (int j = 0; j < 32; ++j)
        for (int s = 0; s < nk; ++s) {  // the shuffle butterflies: exact group ranges from {0, 0}
          fm::block_range g16{}, g32{};
          for (int u = 0; u < 32; ++u) {
            if (u / 16 == j / 16) g16.add(x[u][s]);
            g32.add(x[u][s]);
          }
          r16[j][s] = g16;
          r32[j][s] = g32;
        }
      Fmts::for_each([&](auto ic) {
        constexpr std::size_t I = decltype(ic)::value;
        if constexpr (Fmts::template twin_of<I> == I) {
          using F = typename Fmts::template at<I>;
          using B = cost::format_blocks<F>;
          if (ctx.identity[I]) return;
          const auto& tp = cost::get<I>(ctx.tp);
          float p[32] = {}, pa[32] = {};
          for (int j = 0; j < 32; ++j)
            for (int s = 0; s < nk; ++s) {
              const std::int64_t c = (k0 + s) * cost::chunk_elems + j;
              typename F::block_params bp;
              if constexpr (B::is_local) bp = F::block_scale(tp, B::C == 16 ? r16[j][s] : r32[j][s]);
              else bp = F::block_scale(tp, cost::prepass_block<F>(ctx, I, r, c - j));
              const float e = cost::sub_rounded(x[j][s], cost::element_round_trip<F>(bp, x[j][s]));
              const float e2 = cost::fence(e * e);
              p[j] += e2;
              pa[j] += cost::fence(act[c] * e2);
              mx[I][j] = std::max(mx[I][j], std::fabs(e));
            }
          for (int l = 0; l < L; ++l) {  // __shfl_down_sync by 8, then by 16
            lane_sse[I][l] += static_cast<double>((p[l] + p[l + 8]) + (p[l + 16] + p[l + 24]));
            lane_act[I][l] += static_cast<double>((pa[l] + pa[l + 8]) + (pa[l + 16] + pa[l + 24]));
          }
        }
      });
    }
    cost::row_accum<NF> tail;
    const std::int64_t ct = n_chunks * cost::chunk_elems;
    if (ct < w.cols) {
      float xt[cost::chunk_elems];
      const int n = static_cast<int>(w.cols - ct);
      w.load_chunk(r, ct, n, xt);
      cost::process_chunk_scalar<Fmts, cost::all_stats>(xt, n, act + ct, r, ct, ctx, tail);
    }
    auto& out = rows[static_cast<std::size_t>(r)];
    Fmts::for_each([&](auto ic) {
      constexpr std::size_t I = decltype(ic)::value;
      constexpr std::size_t W = Fmts::template twin_of<I>;
      double s = 0.0, sa = 0.0;
      for (int l = 0; l < L; ++l) {
        s += lane_sse[W][l];
        sa += lane_act[W][l];
      }
      out.sse[I] = s + tail.sse[W];
      out.act[I] = sa + tail.act[W];
      out.max_abs[I] = std::max(*std::max_element(mx[W], mx[W] + 32), tail.max_abs[W]);
    });
  }
  return rows;
}

}  // namespace

namespace {

template <class fmts>
void check_emulation(std::int64_t R, std::int64_t C) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 0.02f);
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
    const auto rows = emulate_kernel<typename cost::to_fused<fmts>::type>(v, act.data());
    const cost::job jobs[] = {{v, act.data(), std::nullopt, -1}};
    const auto cpu = cost::evaluate<fmts, cost::all_stats>(std::span<const cost::job>(jobs))[0];
    std::size_t i = 0;
    fmts::for_each([&]<class F>() {
      INFO(F::name << " on " << pq::dtype_name(v.type));
      {  // the CPU pass, bit for bit
        const auto& c = cpu.formats[i];
        std::size_t diff = 0;
        double sse = 0.0, asq = 0.0;
        float mx = 0.0f;
        for (std::size_t r = 0; r < rows.size(); ++r) {
          diff += rows[r].sse[i] != c.row_sse[r];
          sse += rows[r].sse[i];
          asq += rows[r].act[i];
          mx = std::max(mx, rows[r].max_abs[i]);
        }
        CHECK(diff == 0);
        CHECK(sse == c.sse);
        CHECK(asq == c.act_sse);
        CHECK(mx == c.max_abs);
      }
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
      CHECK(bad_rows == 0);
      CHECK(sse == Approx(ref.sum_sq).epsilon(2e-6).margin(1e-30));
      CHECK(asq == Approx(ref.weighted_sq).epsilon(2e-6).margin(1e-30));
      CHECK(static_cast<double>(mx) == Approx(ref.max_abs).epsilon(1e-7).margin(1e-38));
      ++i;
    });
  }
}

}  // namespace

TEST_CASE("the kernel, emulated, equals the CPU pass bit for bit and the scalar reference", "[cost][cuda-emulation]") {
  SECTION("every format, 36 chunks a row") { check_emulation<fm::all_formats>(131, 1152); }
  SECTION("1x16 blocks: 33 chunks (a short last span) and a partial last chunk") {
    check_emulation<fm::format_list<fm::nvfp4, fm::bf16_passthrough>>(131, 1072);
  }
}
