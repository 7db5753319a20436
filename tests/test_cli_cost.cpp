// `prismaquant cost` end to end on a synthetic MiniMax-M2 checkpoint: the costs file equals the
// scalar reference (cost/reference.hpp) on the dequantized FP8-block weights, fused siblings
// share NVFP4's global scale, FP8_SOURCE is exact, and bad input is a clear error.
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/formats/all.hpp>
#include <prismaquant/model/open.hpp>
#include <prismaquant/model/synthetic.hpp>
#include <prismaquant/stats/costs_file.hpp>

#include "cli_run.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
namespace pq = prismaquant;

namespace {

using pq_test::run_cli;

fs::path make_model() {
  const fs::path d = fs::temp_directory_path() / ("pq_cost_" + std::to_string(::getpid()));
  fs::remove_all(d);
  pq::model::synthetic_minimax_options o;
  o.hidden = 256, o.layers = 1, o.heads = 4, o.kv_heads = 2, o.head_dim = 64, o.experts = 4, o.top_k = 2;
  o.intermediate = 128, o.vocab = 300, o.max_shard_bytes = 200'000;
  pq::model::write_synthetic_minimax(d, o);
  return d;
}

// The dequantized float32 weight of a Linear, as the reference sees it.
std::vector<float> dequantized(const pq::checkpoint& ck, const std::string& m, std::int64_t rows, std::int64_t cols) {
  const auto w = ck.tensor(m + ".weight").to_vector<std::uint8_t>();
  const auto s = ck.tensor(m + ".weight_scale_inv").to_vector<float>();
  std::vector<float> out(w.size());
  const std::int64_t sc = (cols + 127) / 128;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      out[i * cols + j] = pq::fp8_e4m3::from_bits(w[i * cols + j]).to_float() * s[(i / 128) * sc + j / 128];
  return out;
}

}  // namespace

TEST_CASE("cost: the costs file equals the scalar reference, with shared global scales") {
  const auto dir = make_model();
  const auto out = dir / "cost.json";
  const auto r = run_cli("cost --quiet --model " + dir.string() +
                         " --formats NVFP4,MXFP8_E4M3,FP8_SOURCE,BF16,INT4_W4A16_g128 --proxies per_row_fisher --out " +
                         out.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const auto costs = pq::stats::read_costs(out);
  CHECK(costs.linears.size() == 4 + 4 * 3);

  const pq::checkpoint ck(dir);
  const std::string w1 = "model.layers.0.block_sparse_moe.experts.2.w1", w3 = "model.layers.0.block_sparse_moe.experts.2.w3";
  const auto a = dequantized(ck, w1, 128, 256), b = dequantized(ck, w3, 128, 256);
  const pq::formats::weight_view va(a.data(), 128, 256, w1), vb(b.data(), 128, 256, w3);
  const auto shared = pq::formats::measure_group({va, vb});
  const auto ref = pq::cost::reference_stats<pq::formats::nvfp4>(va, shared, {});
  const auto& c = costs.linears.at(w1).formats.at("NVFP4");
  CHECK(c.n == 128 * 256);
  CHECK(c.bytes == static_cast<std::int64_t>(pq::formats::nvfp4::storage_bytes(128, 256)));
  CHECK(c.sse == Approx(ref.sum_sq).epsilon(1e-6));
  CHECK(c.max_abs_err == Approx(ref.max_abs).epsilon(1e-7));
  REQUIRE(c.sse_row.size() == 128);
  for (std::size_t i = 0; i < 128; ++i) CHECK(c.sse_row[i] == Approx(ref.row_sq[i]).epsilon(1e-5).margin(1e-30));
  // the shared scale matters: with w1's own amax the error differs unless w1 holds the group max
  const auto own = pq::cost::reference_stats<pq::formats::nvfp4>(va, pq::formats::measure(va), {});
  if (pq::formats::measure(va).amax != shared.amax) CHECK(own.sum_sq != Approx(c.sse).epsilon(1e-9));

  const auto& src = costs.linears.at(w1).formats.at("FP8_SOURCE");
  CHECK(src.sse == 0.0);
  CHECK(src.max_abs_err == 0.0);
  const auto mx = pq::cost::reference_stats<pq::formats::mxfp8_e4m3>(va, shared, {});
  CHECK(costs.linears.at(w1).formats.at("MXFP8_E4M3").sse == Approx(mx.sum_sq).epsilon(1e-6));
  const auto i4 = pq::cost::reference_stats<pq::formats::int4_w4a16_g128>(va, shared, {});
  CHECK(costs.linears.at(w1).formats.at("INT4_W4A16_g128").sse == Approx(i4.sum_sq).epsilon(1e-6));
  fs::remove_all(dir);
}

TEST_CASE("cost: --formats all measures every format the pass knows, each as its own name does") {
  const auto dir = make_model();
  const auto all = dir / "all.json", one = dir / "one.json";
  const auto r = run_cli("cost --quiet --model " + dir.string() + " --formats all --out " + all.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const auto r1 = run_cli("cost --quiet --model " + dir.string() + " --formats INT3_ASYM,NVFP4A16 --out " + one.string());
  REQUIRE(r1.code == 0);
  const auto ca = pq::stats::read_costs(all), c1 = pq::stats::read_costs(one);
  REQUIRE(ca.linears.size() == c1.linears.size());
  for (const auto& [name, l] : c1.linears) {
    const auto& la = ca.linears.at(name);
    // every built-in format that can store the shape (the synthetic model's sources are all
    // FP8 128x128 blocks, so FP8_SOURCE is among them)
    std::size_t expected = 0;
    pq::formats::all_formats::for_each([&]<class F>() {
      try {
        F::check_shape(l.out_features, l.in_features, name);
        ++expected;
        CHECK(la.formats.count(std::string(F::name)) == 1);
      } catch (const pq::error&) {
      }
    });
    CHECK(la.formats.size() == expected);
    for (const auto& [f, c] : l.formats) {
      CHECK(la.formats.at(f).sse == c.sse);
      CHECK(la.formats.at(f).max_abs_err == c.max_abs_err);
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("cost: the file holds exactly the statistics the named proxies read") {
  const auto dir = make_model();
  const auto a = dir / "a.json", b = dir / "b.json";
  REQUIRE(run_cli("cost --quiet --model " + dir.string() + " --out " + a.string()).code == 0);  // fisher_trace
  REQUIRE(run_cli("cost --quiet --model " + dir.string() + " --proxies fisher_trace,per_row_fisher --out " + b.string())
              .code == 0);
  const auto ca = pq::stats::read_costs(a), cb = pq::stats::read_costs(b);
  for (const auto& [name, l] : ca.linears)
    for (const auto& [f, c] : l.formats) {
      CHECK(c.sse_row.empty());  // fisher_trace reads sse only
      CHECK_FALSE(c.act_sse);
      const auto& cr = cb.linears.at(name).formats.at(f);
      CHECK(cr.sse_row.size() == static_cast<std::size_t>(l.out_features));  // per_row_fisher reads row_sse
      CHECK(cr.sse == c.sse);
    }
  // act_weighted reads act_sse, which needs the Linears' xtx_diag
  const auto r = run_cli("cost --quiet --model " + dir.string() + " --proxies act_weighted --out " + (dir / "c.json").string());
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::StartsWith("prismaquant: error: --stats") && Catch::Contains("act_sse"));
  const auto u = run_cli("cost --quiet --model " + dir.string() + " --proxies nope --out " + (dir / "c.json").string());
  CHECK(u.code == 1);
  CHECK_THAT(u.out, Catch::Contains("unknown proxy \"nope\""));
  fs::remove_all(dir);
}

TEST_CASE("cost: bad input is one clear line and a non-zero exit") {
  const auto dir = make_model();
  auto expect_error = [&](const std::string& args, const std::string& fragment) {
    const auto r = run_cli("cost --quiet " + args);
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Catch::StartsWith("prismaquant: error:") && Catch::Contains(fragment));
    CHECK_FALSE(fs::exists(dir / "c.json"));
  };
  expect_error("--model " + dir.string() + " --formats NVFP4,NOPE --out " + (dir / "c.json").string(), "NOPE");
  expect_error("--model " + dir.string() + " --formats NVFP4,NVFP4 --out " + (dir / "c.json").string(), "twice");
  // `all` stands alone: inside a list it is an unknown name
  expect_error("--model " + dir.string() + " --formats all,NVFP4 --out " + (dir / "c.json").string(), "\"all\"");
  expect_error("--model " + (dir / "nowhere").string() + " --out " + (dir / "c.json").string(), "no such file");
  expect_error("--model " + dir.string() + " --stats " + (dir / "missing.json").string() + " --out " +
                   (dir / "c.json").string(),
               "missing.json");
  fs::remove_all(dir);
}
