// Stats model and files: exact order-independent merging, file round trips, clear errors.
#include <catch2/catch.hpp>

#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace pq = prismaquant;
namespace fs = std::filesystem;
using pq::stats::exact_sum;
__extension__ typedef __int128 i128;

static std::uint64_t bits(double d) { std::uint64_t b; std::memcpy(&b, &d, 8); return b; }

static fs::path tmpdir(const std::string& name) {
  auto d = fs::path(PQ_BUILD_DIR) / "test_tmp" / ("stats_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST_CASE("exact_sum equals the exact integer sum (outside reference: int128 arithmetic)") {
  // Addends are k·2^-20 with |k| < 2^50: their exact sum is an integer multiple of 2^-20 that
  // i128 holds exactly; value() must be its correctly rounded double.
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    exact_sum s;
    i128 exact = 0;
    const int n = 1 + static_cast<int>(rng() % 400);
    for (int i = 0; i < n; ++i) {
      std::int64_t k = static_cast<std::int64_t>(rng() % (1ull << 50)) - (1ll << 49);
      if (rng() % 3 == 0) k >>= (rng() % 40);  // mix magnitudes
      exact += k;
      s.add(std::ldexp(static_cast<double>(k), -20));
    }
    // Correct rounding of exact·2^-20: long double (64-bit mantissa) is not enough in general,
    // so round the int128 to 53 bits by hand (RNE).
    i128 a = exact < 0 ? -exact : exact;
    int shift = 0;
    while ((a >> shift) >= (static_cast<i128>(1) << 53)) ++shift;
    i128 q = a >> shift;
    if (shift) {
      i128 rem = a & ((static_cast<i128>(1) << shift) - 1);
      i128 half = static_cast<i128>(1) << (shift - 1);
      if (rem > half || (rem == half && (q & 1))) ++q;
    }
    double ref = std::ldexp(static_cast<double>(static_cast<std::int64_t>(q)), shift - 20);
    if (exact < 0) ref = -ref;
    REQUIRE(bits(s.value()) == bits(ref));
  }
}

TEST_CASE("exact_sum: merge order does not change the value, bit for bit") {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> ln(0.0, 4.0);
  std::vector<double> xs(3000);
  for (auto& x : xs) x = ln(rng);
  // Plain double summation in two orders differs (so the test can fail for a naive sum).
  double f1 = 0, f2 = 0;
  for (double x : xs) f1 += x;
  for (auto it = xs.rbegin(); it != xs.rend(); ++it) f2 += *it;
  CHECK(bits(f1) != bits(f2));
  std::uint64_t first = 0;
  for (int perm = 0; perm < 20; ++perm) {
    std::shuffle(xs.begin(), xs.end(), rng);
    // split into shards of random size, merge shards in a random order
    std::vector<exact_sum> shards(1 + rng() % 9);
    for (double x : xs) shards[rng() % shards.size()].add(x);
    std::shuffle(shards.begin(), shards.end(), rng);
    exact_sum all;
    for (auto& s : shards) all.merge(s);
    if (perm == 0) first = bits(all.value());
    REQUIRE(bits(all.value()) == first);
  }
  REQUIRE_THROWS_AS(exact_sum(std::nan("")), pq::error);
}

static pq::stats::model_stats make_stats(std::mt19937_64& rng, const std::string& shard, int n_tokens) {
  pq::stats::model_stats m;
  m.shards = {shard};
  pq::stats::linear_stats l;
  l.name = "model.layers.0.self_attn.q_proj";
  l.out_features = 70;
  l.in_features = 80;
  l.source_dtype = pq::dtype::F8_E4M3;
  l.source_block_out = l.source_block_in = 128;
  l.rows_seen = n_tokens;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  l.fisher_sum.add(u(rng));
  l.h_row_sum.resize(70);
  for (auto& v : l.h_row_sum) v = u(rng);
  l.xtx_diag.resize(80);
  for (auto& v : l.xtx_diag) v = u(rng) * n_tokens;
  m.linears[l.name] = l;
  pq::stats::router_stats r;
  r.name = "model.layers.0.block_sparse_moe.gate";
  r.experts_prefix = "model.layers.0.block_sparse_moe.experts";
  r.num_experts = 8;
  r.top_k = 2;
  for (const char* dom : {"code", "math"}) {
    auto& d = r.domain(dom);
    for (int t = 0; t < n_tokens; ++t) {
      ++d.total_tokens;
      int a = static_cast<int>(rng() % 8), b = static_cast<int>((a + 1 + rng() % 7) % 8);
      double g = u(rng);
      d.experts[a].add_token(g, 10 * u(rng));
      d.experts[b].add_token(1 - g, 10 * u(rng));
    }
  }
  m.routers[r.name] = r;
  return m;
}

TEST_CASE("stats file: round trip is exact and merge is order-independent") {
  auto dir = tmpdir("roundtrip");
  std::mt19937_64 rng(3);
  std::vector<pq::stats::model_stats> parts;
  for (int i = 0; i < 4; ++i) parts.push_back(make_stats(rng, "shard" + std::to_string(i), 50 + 10 * i));
  auto merged = pq::stats::merge_shards(parts);
  std::reverse(parts.begin(), parts.end());
  std::swap(parts[0], parts[2]);
  auto merged2 = pq::stats::merge_shards(parts);
  pq::stats::write_stats(dir / "a.json", merged);
  pq::stats::write_stats(dir / "b.json", merged2);
  auto text = [](const fs::path& p) { std::ifstream f(p); return std::string(std::istreambuf_iterator<char>(f), {}); };
  std::string tb = text(dir / "b.json");
  tb.replace(tb.find("b.safetensors"), 13, "a.safetensors");  // only the side-file name differs
  REQUIRE(text(dir / "a.json") == tb);
  REQUIRE(text(dir / "a.safetensors") == text(dir / "b.safetensors"));
  auto back = pq::stats::read_stats(dir / "a.json");
  const auto& l0 = merged.linears.begin()->second;
  const auto& l1 = back.linears.begin()->second;
  REQUIRE(bits(l0.h_trace()) == bits(l1.h_trace()));
  REQUIRE(l1.rows_seen == 50 + 60 + 70 + 80);
  REQUIRE(l1.h_row_sum == l0.h_row_sum);  // via side file, F64 exact
  REQUIRE(l1.xtx_diag == l0.xtx_diag);
  REQUIRE(l1.is_fp8_block_source());
  const auto& r0 = merged.routers.begin()->second.domains.at("code").experts[3];
  const auto& r1 = back.routers.begin()->second.domains.at("code").experts[3];
  REQUIRE(bits(r0.sum_g_norm.value()) == bits(r1.sum_g_norm.value()));
  REQUIRE(bits(r0.sum_g_norm_sq.value()) == bits(r1.sum_g_norm_sq.value()));
  REQUIRE(r0.count == r1.count);
  // The expert accumulators equal a direct accumulation of all tokens (one shard).
  auto pooled = back.routers.begin()->second.pooled();
  std::int64_t total = 0;
  for (auto& e : pooled.experts) total += e.count;
  REQUIRE(total == 2 * pooled.total_tokens);
}

static void write_file(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

TEST_CASE("stats file: malformed and inconsistent input gives clear errors") {
  auto dir = tmpdir("errors");
  auto expect = [&](const std::string& body, const std::string& what) {
    write_file(dir / "s.json", body);
    try {
      pq::stats::read_stats(dir / "s.json");
      FAIL("no error for: " << what);
    } catch (const pq::error& e) {
      INFO(e.what());
      REQUIRE(std::string(e.what()).find(what) != std::string::npos);
      REQUIRE(std::string(e.what()).find("s.json") != std::string::npos);
    }
  };
  const std::string head = R"({"format":"prismaquant.stats","version":1,)";
  expect("{nope", "malformed JSON");
  expect(R"({"format":"x","version":1})", "format");
  expect(head + R"("linears":{"a":{"shape":[4,8],"source_dtype":"BF16","rows_seen":3,"h_trace":-1}}})", "negative");
  expect(head + R"("linears":{"a":{"shape":[4,8],"source_dtype":"BF16","rows_seen":3,"h_trace":1,"h_row_sum":[1,2]}}})",
         "expected out_features");
  expect(head + R"("linears":{"a":{"shape":[4,8],"source_dtype":"XX","rows_seen":3,"h_trace":1}}})", "unknown safetensors dtype");
  expect(head + R"("linears":{"a":{"shape":[4,8],"source_dtype":"BF16","h_trace":1}}})", "rows_seen");
  const std::string r = R"("routers":{"g":{"num_experts":2,"top_k":1,"experts_prefix":"e","domains":{"d":{"total_tokens":4,)";
  expect(head + r + R"("count":[1],"sum_g_norm":[1],"sum_g_norm_sq":[1],"sum_g":[1],"sum_norm":[1],"sum_norm_sq":[1],"max_g_norm":[1]}}}}})",
         "missing expert");
  expect(head + r + R"("count":[1,1],"sum_g_norm":[1,-1],"sum_g_norm_sq":[1,1],"sum_g":[1,1],"sum_norm":[1,1],"sum_norm_sq":[1,1],"max_g_norm":[1,1]}}}}})",
         "negative");
  expect(head + r + R"("count":[5,1],"sum_g_norm":[1,1],"sum_g_norm_sq":[1,1],"sum_g":[1,1],"sum_norm":[1,1],"sum_norm_sq":[1,1],"max_g_norm":[1,1]}}}}})",
         "exceeds total_tokens");
  // a JSON NaN cannot be written, but a huge literal overflows to inf
  expect(head + R"("linears":{"a":{"shape":[4,8],"source_dtype":"BF16","rows_seen":3,"h_trace":1e999}}})", "malformed JSON");
}

TEST_CASE("costs file: round trip and consistency checks") {
  auto dir = tmpdir("costs");
  pq::stats::model_costs m;
  pq::stats::linear_costs l;
  l.name = "model.layers.0.mlp.w1";
  l.out_features = 100;
  l.in_features = 64;
  pq::stats::format_cost c;
  c.bytes = 100 * 32 + 100 * 4 + 8;
  c.n = 6400;
  c.sse_row.resize(100);
  for (int r = 0; r < 100; ++r) c.sse_row[r] = 0.01 * (r + 1);
  for (double v : c.sse_row) c.sse += v;
  c.max_abs_err = 0.05;
  c.act_sse = 0.3;
  l.formats["NVFP4"] = c;
  m.linears[l.name] = l;
  pq::stats::write_costs(dir / "c.json", m);
  REQUIRE(fs::exists(dir / "c.safetensors"));  // sse_row (100 > 64) in the side file
  auto back = pq::stats::read_costs(dir / "c.json");
  const auto& b = back.linears.at(l.name).formats.at("NVFP4");
  REQUIRE(b.sse_row == c.sse_row);
  REQUIRE(bits(b.sse) == bits(c.sse));
  REQUIRE(b.act_sse.value() == 0.3);
  REQUIRE(b.bytes == c.bytes);

  auto expect = [&](const std::string& body, const std::string& what) {
    write_file(dir / "bad.json", body);
    try {
      pq::stats::read_costs(dir / "bad.json");
      FAIL("no error for: " << what);
    } catch (const pq::error& e) {
      INFO(e.what());
      REQUIRE(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  const std::string head = R"({"format":"prismaquant.costs","version":1,"linears":{"a":{"shape":[2,4],"formats":{"NVFP4":)";
  expect(head + R"({"bytes":10,"n":9,"sse":1,"max_abs_err":0.5}}}}})", "does not match shape");
  expect(head + R"({"bytes":10,"n":8,"sse":1,"max_abs_err":0.5,"sse_row":[0.5,0.1]}}}}})", "sse_row sums");
  expect(head + R"({"bytes":10,"n":8,"sse":0.01,"max_abs_err":0.5}}}}})", "max_abs_err");
  expect(head + R"({"bytes":10,"n":8,"sse":-1,"max_abs_err":0}}}}})", "negative");
  expect(head + R"({"bytes":10,"n":8,"sse":1,"max_abs_err":0.5,"sse_row":{"tensor":"x"}}}}}})", "side-file");
}
