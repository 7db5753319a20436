// Stats file version 2: exact vectors (order-independent bit for bit, checked against exact_sum
// per element), the new fields' round trip, version 1 files still read, shard merges (complete
// sets collapse, duplicates and mixed runs refused), and the re-routing saliency scores.
#include <catch2/catch.hpp>

#include <prismaquant/saliency/scores.hpp>
#include <prismaquant/stats/exact_vector.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
namespace pq = prismaquant;
namespace st = prismaquant::stats;

namespace {
fs::path tmpdir(const std::string& n) {
  auto d = fs::path(PQ_BUILD_DIR) / "test_tmp" / ("stats_v2_" + n);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
std::uint64_t bits(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}
// Addends that make plain double sums order-dependent: wide magnitudes, both signs.
std::vector<double> nasty(std::mt19937_64& r, std::size_t n) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::uniform_int_distribution<int> e(-60, 60);
  std::vector<double> v(n);
  for (auto& x : v) x = std::ldexp(u(r), e(r));
  return v;
}
}  // namespace

TEST_CASE("exact_vector: every element equals exact_sum's value, for any order of adds and merges") {
  std::mt19937_64 r(5);
  const std::size_t n = 40, adds = 300;
  std::vector<std::vector<double>> rows;
  for (std::size_t a = 0; a < adds; ++a) rows.push_back(nasty(r, n));
  std::vector<st::exact_sum> ref(n);
  for (auto& row : rows)
    for (std::size_t i = 0; i < n; ++i) ref[i].add(row[i]);
  auto build = [&](std::vector<std::size_t> order, std::size_t split) {
    st::exact_vector a(n), b(n);
    for (std::size_t k = 0; k < order.size(); ++k) (k < split ? a : b).add(rows[order[k]].data());
    b.merge(a);
    return b;
  };
  std::vector<std::size_t> order(adds);
  for (std::size_t i = 0; i < adds; ++i) order[i] = i;
  const auto v1 = build(order, 100);
  std::shuffle(order.begin(), order.end(), r);
  const auto v2 = build(order, 7);
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(bits(v1.value(i)) == bits(ref[i].value()));
    REQUIRE(bits(v2.value(i)) == bits(ref[i].value()));
  }
  REQUIRE(v1.expansion() == v2.expansion());
  // the expansion is exact: rebuilding from it gives the same sums
  const auto back = st::exact_vector::from_rows(v1.expansion());
  REQUIRE(back.expansion() == v1.expansion());
  // a plain double sum of the same rows in the two orders would differ somewhere
  bool plain_differs = false;
  for (std::size_t i = 0; i < n && !plain_differs; ++i) {
    double s1 = 0, s2 = 0;
    for (std::size_t k = 0; k < adds; ++k) s1 += rows[k][i];
    for (std::size_t k = 0; k < adds; ++k) s2 += rows[order[k]][i];
    plain_differs = bits(s1) != bits(s2);
  }
  REQUIRE(plain_differs);  // the test data does exercise order dependence
}

namespace {
st::model_stats shard_part(int shard, int of, std::uint64_t seed) {
  std::mt19937_64 r(seed);
  st::model_stats m;
  m.probe = {{"seq_len", 8}, {"batch", 2}};
  if (of > 1) m.shards = {std::to_string(shard) + "/" + std::to_string(of)};
  st::linear_stats l;
  l.name = "model.layers.0.self_attn.q_proj";
  l.out_features = 70;
  l.in_features = 80;
  l.source_dtype = pq::dtype::F8_E4M3;
  l.source_block_out = l.source_block_in = 128;
  l.rows_seen = 10 + shard;
  st::exact_vector h(70), x(80);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int b = 0; b < 5; ++b) {
    std::vector<double> hv(70), xv(80);
    for (auto& v : hv) v = std::ldexp(u(r), static_cast<int>(r() % 80) - 40);
    for (auto& v : xv) v = std::ldexp(u(r), static_cast<int>(r() % 80) - 40);
    h.add(hv.data());
    x.add(xv.data());
    l.fisher_sum.add(u(r));
  }
  auto he = h.expansion(), xe = x.expansion();
  l.h_row_sum = he[0];
  l.h_row_rest.assign(he.begin() + 1, he.end());
  l.xtx_diag = xe[0];
  l.xtx_diag_rest.assign(xe.begin() + 1, xe.end());
  l.fisher_token_sum = st::exact_sum(u(r));
  l.input_amax = u(r) * 10;
  m.linears[l.name] = l;
  st::router_stats rs;
  rs.name = "model.layers.0.block_sparse_moe.gate";
  rs.experts_prefix = "model.layers.0.block_sparse_moe.experts";
  rs.num_experts = 3;
  rs.top_k = 1;
  auto& d = rs.domain("code");
  d.total_tokens = 20;
  for (auto& e : d.experts) {
    e.add_token(u(r), u(r));
    e.reroute = true;
    e.reroute_first.add(u(r) - 0.7);  // signed
    e.reroute_fisher.add(u(r));
    e.reroute_sq.add(u(r));
  }
  m.routers[rs.name] = rs;
  return m;
}
}  // namespace

TEST_CASE("stats v2: shard files keep the vectors exact; a complete merge is the single-run file, byte for byte") {
  const auto d = tmpdir("merge");
  // "single run": all parts' contributions added into one
  std::vector<st::model_stats> parts = {shard_part(0, 3, 1), shard_part(1, 3, 2), shard_part(2, 3, 3)};
  for (std::size_t i = 0; i < parts.size(); ++i)
    st::write_stats(d / ("p" + std::to_string(i) + ".json"), parts[i], 64, true);
  std::vector<st::model_stats> back;
  for (std::size_t i = 0; i < parts.size(); ++i) back.push_back(st::read_stats(d / ("p" + std::to_string(i) + ".json")));
  auto m1 = st::merge_shards(back);
  std::reverse(back.begin(), back.end());
  auto m2 = st::merge_shards(back);
  REQUIRE(m1.shards.empty());  // complete: no shard list left
  st::write_stats(d / "a.json", m1);
  st::write_stats(d / "b.json", m2);
  std::string ta = slurp(d / "a.json"), tb = slurp(d / "b.json");
  tb.replace(tb.find("b.safetensors"), 13, "a.safetensors");
  REQUIRE(ta == tb);
  REQUIRE(slurp(d / "a.safetensors") == slurp(d / "b.safetensors"));
  // the merged vectors are the exact sums, element by element
  const auto& l = m1.linears.begin()->second;
  for (std::size_t i = 0; i < l.h_row_sum.size(); ++i) {
    st::exact_sum s;
    for (auto& p : parts) {
      const auto& pl = p.linears.begin()->second;
      s.add(pl.h_row_sum[i]);
      for (auto& rest : pl.h_row_rest) s.add(rest[i]);
    }
    REQUIRE(bits(l.h_row_sum[i]) == bits(s.value()));
  }
  const auto v = st::read_stats(d / "a.json");
  const auto& e = v.routers.begin()->second.domains.at("code").experts[1];
  REQUIRE(e.reroute);
  REQUIRE(v.linears.begin()->second.fisher_token_sum.has_value());
  REQUIRE(v.linears.begin()->second.input_amax.has_value());
  REQUIRE(v.probe == parts[0].probe);
  // partial merge keeps the list; duplicates and other runs are refused
  auto partial = st::merge_shards({parts[0], parts[2]});
  REQUIRE(partial.shards == std::vector<std::string>{"0/3", "2/3"});
  REQUIRE_THROWS_WITH(st::merge_shards({parts[0], parts[0]}), Catch::Contains("given twice"));
  auto other = shard_part(1, 3, 9);
  other.probe["seq_len"] = 16;
  REQUIRE_THROWS_WITH(st::merge_shards({parts[0], other}), Catch::Contains("different settings"));
}

TEST_CASE("stats v2: version 1 files still read; v2 fields are checked") {
  const auto d = tmpdir("versions");
  std::ofstream(d / "v1.json") << R"({"format":"prismaquant.stats","version":1,"linears":{"a":{"shape":[2,3],"source_dtype":"BF16","rows_seen":4,"h_trace":0.5}}})";
  const auto m = st::read_stats(d / "v1.json");
  REQUIRE(m.linears.at("a").h_trace() == 0.5);
  REQUIRE(!m.linears.at("a").fisher_token_sum);
  std::ofstream(d / "v3.json") << R"({"format":"prismaquant.stats","version":3,"linears":{}})";
  REQUIRE_THROWS_WITH(st::read_stats(d / "v3.json"), Catch::Contains("version"));
  std::ofstream(d / "neg.json") << R"({"format":"prismaquant.stats","version":2,"linears":{"a":{"shape":[2,3],"source_dtype":"BF16","rows_seen":4,"fisher_sum":1,"input_amax":-1}}})";
  REQUIRE_THROWS_WITH(st::read_stats(d / "neg.json"), Catch::Contains("input_amax"));
  const std::string r = R"({"format":"prismaquant.stats","version":2,"routers":{"g":{"num_experts":2,"top_k":1,"experts_prefix":"e","domains":{"d":{"total_tokens":4,"count":[1,1],"sum_g_norm":[1,1],"sum_g_norm_sq":[1,1],"sum_g":[1,1],"sum_norm":[1,1],"sum_norm_sq":[1,1],"max_g_norm":[1,1])";
  std::ofstream(d / "rr1.json") << r + R"(,"reroute_first":[-1,2],"reroute_fisher":[1,1],"reroute_sq":[1,1]}}}}})";
  REQUIRE(st::read_stats(d / "rr1.json").routers.at("g").domains.at("d").experts[0].reroute_first.value() == -1.0);
  std::ofstream(d / "rr2.json") << r + R"(,"reroute_first":[1,2]}}}}})";
  REQUIRE_THROWS_WITH(st::read_stats(d / "rr2.json"), Catch::Contains("come together"));
  std::ofstream(d / "rr3.json") << r + R"(,"reroute_first":[1,2],"reroute_fisher":[-1,1],"reroute_sq":[1,1]}}}}})";
  REQUIRE_THROWS_WITH(st::read_stats(d / "rr3.json"), Catch::Contains("negative"));
  // a v2 file without fisher (the probe was not asked for it) reads, h_trace is then absent
  std::ofstream(d / "nofisher.json") << R"({"format":"prismaquant.stats","version":2,"linears":{"a":{"shape":[2,3],"source_dtype":"BF16","rows_seen":4,"input_amax":2}}})";
  REQUIRE(!st::read_stats(d / "nofisher.json").linears.at("a").has_fisher);
  // first_order_sum: signed sums keyed by format; anything else is refused with the field named
  const std::string fo = R"({"format":"prismaquant.stats","version":2,"linears":{"a":{"shape":[2,3],"source_dtype":"BF16","rows_seen":4,"fisher_sum":1,"first_order_sum":)";
  std::ofstream(d / "fo_ok.json") << fo + R"({"NVFP4":-0.5,"INT4":[1e300,-1e300,0.25]}}}})";
  const auto fm = st::read_stats(d / "fo_ok.json").linears.at("a");
  REQUIRE(fm.first_order("NVFP4") == -0.125);
  REQUIRE(fm.first_order("INT4") == 0.0625);
  REQUIRE(!fm.first_order("MXFP4"));
  std::ofstream(d / "fo_list.json") << fo + R"([1,2]}}})";
  REQUIRE_THROWS_WITH(st::read_stats(d / "fo_list.json"), Catch::Contains("first_order_sum") && Catch::Contains("object"));
  std::ofstream(d / "fo_str.json") << fo + R"({"NVFP4":"x"}}}})";
  REQUIRE_THROWS_WITH(st::read_stats(d / "fo_str.json"), Catch::Contains("first_order_sum.NVFP4"));
  std::ofstream(d / "fo_part.json") << fo + R"({"NVFP4":[1,null]}}}})";
  REQUIRE_THROWS_WITH(st::read_stats(d / "fo_part.json"), Catch::Contains("first_order_sum.NVFP4"));
  std::ofstream(d / "fo_inf.json") << fo + R"({"NVFP4":[1e308,1e308]}}}})";
  REQUIRE_THROWS_WITH(st::read_stats(d / "fo_inf.json"), Catch::Contains("first_order_sum"));
}

TEST_CASE("re-routing saliency scores: definitions, and a clear error without the sums") {
  namespace ps = prismaquant::saliency;
  st::domain_acc dom;
  const st::router_stats router;
  auto view = [&](const st::expert_acc& x, std::int64_t tokens) {
    dom.total_tokens = tokens;
    return ps::expert_view{x, dom, router, 0};
  };
  st::expert_acc e;
  e.reroute = true;
  e.reroute_first.add(-3.0);
  e.reroute_fisher.add(10.0);
  e.reroute_sq.add(4.0);
  REQUIRE(ps::saliency_by_name("reroute_fisher")(view(e, 100)) == Approx(0.05));
  REQUIRE(ps::saliency_by_name("reroute_taylor")(view(e, 100)) == Approx(0.02));
  REQUIRE(ps::saliency_by_name("reroute_output")(view(e, 100)) == Approx(0.04));
  e.reroute_first = st::exact_sum(-30.0);
  REQUIRE(ps::saliency_by_name("reroute_taylor")(view(e, 100)) == 0.0);
  st::expert_acc none;
  for (const auto& n : ps::reroute_saliency_names())
    REQUIRE_THROWS_WITH(ps::saliency_by_name(n)(view(none, 10)), Catch::Contains("re-routing"));
  for (const auto& n : ps::reroute_saliency_names())  // they declare what they read
    REQUIRE(ps::saliency_by_name(n).needs().contains<prismaquant::stat::reroute>());
}
