// Saliency scores against a direct per-token computation (the REAP repo's definitions, from
// CerebrasResearch/reap src/reap/observer.py), domain policies, and exact merging.
#include <catch2/catch.hpp>

#include <prismaquant/saliency/domains.hpp>

#include <random>
#include <set>

namespace pq = prismaquant;
namespace ps = prismaquant::saliency;

namespace {
struct token { int expert; double g, norm; };

// Tokens of one router: each token routes to top_k distinct experts.
std::vector<std::vector<token>> simulate(std::mt19937_64& rng, int E, int top_k, int T) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::vector<token>> toks(static_cast<std::size_t>(T));
  for (auto& t : toks) {
    std::set<int> chosen;
    while (static_cast<int>(chosen.size()) < top_k) chosen.insert(static_cast<int>(std::pow(u(rng), 2) * E));
    double gs = 0;
    std::vector<double> g;
    for (std::size_t k = 0; k < chosen.size(); ++k) { g.push_back(u(rng) + 0.05); gs += g.back(); }
    int k = 0;
    for (int e : chosen) t.push_back({e, g[static_cast<std::size_t>(k++)] / gs, 0.5 + 4 * u(rng)});
  }
  return toks;
}
}  // namespace

TEST_CASE("scores match a direct computation over the tokens") {
  std::mt19937_64 rng(1);
  const int E = 16, K = 3, T = 500;
  const auto toks = simulate(rng, E, K, T);
  pq::stats::router_stats r;
  r.name = "gate";
  r.num_experts = E;
  r.top_k = K;
  auto& d = r.domain("default");
  for (auto& t : toks) {
    ++d.total_tokens;
    for (auto& x : t) d.experts[static_cast<std::size_t>(x.expert)].add_token(x.g, x.norm);
  }
  r.validate("test");
  for (int e = 0; e < E; ++e) {
    // direct: lists of the routed tokens' values, as the REAP observer sees them
    std::vector<double> g, n;
    for (auto& t : toks)
      for (auto& x : t)
        if (x.expert == e) { g.push_back(x.g); n.push_back(x.norm); }
    double sgn = 0, sgn2 = 0, sg = 0, sn = 0;
    for (std::size_t i = 0; i < g.size(); ++i) { sgn += g[i] * n[i]; sgn2 += g[i] * n[i] * n[i]; sg += g[i]; sn += n[i]; }
    const double cnt = static_cast<double>(g.size());
    const ps::expert_view a{d.experts[static_cast<std::size_t>(e)], d, r, e};
    REQUIRE(a.total_tokens() == T);
    REQUIRE(ps::reap{}(a) == Approx(cnt ? sgn / cnt : 0.0).epsilon(1e-12));
    REQUIRE(ps::reap_dropout{}(a) == Approx(sgn2 / T).epsilon(1e-12));
    REQUIRE(ps::frequency{}(a) == cnt);
    REQUIRE(ps::ean_sum{}(a) == Approx(sn).epsilon(1e-12));
    REQUIRE(ps::ean_mean{}(a) == Approx(cnt ? sn / cnt : 0.0).epsilon(1e-12));
    REQUIRE(ps::weighted_frequency{}(a) == Approx(sg).epsilon(1e-12));
    REQUIRE(ps::weighted_ean{}(a) == Approx(sgn).epsilon(1e-12));
    // the erased score is the same function
    REQUIRE(ps::erase(ps::reap_dropout{})(a) == ps::reap_dropout{}(a));
  }
  for (auto& n : ps::saliency_names()) REQUIRE(ps::saliency_by_name(n).name() == n);
  REQUIRE(ps::saliency_by_name("reap").needs() == pq::stat::list<pq::stat::reap>::mask);
  REQUIRE_THROWS_WITH(ps::saliency_by_name("bogus"), Catch::Contains("known: reap"));
}

TEST_CASE("domain policies") {
  // Two domains, 6 experts. Scores per domain are the weighted frequency Σg we inject.
  pq::stats::router_stats r;
  r.name = "gate";
  r.num_experts = 6;
  r.top_k = 1;
  const std::vector<double> code = {5, 1, 4, 0.5, 3, 2}, math = {0.2, 6, 1, 5, 3.5, 2.5};
  for (auto [dn, v] : {std::pair{"code", code}, std::pair{"math", math}}) {
    auto& d = r.domain(dn);
    d.total_tokens = 100;
    for (int e = 0; e < 6; ++e) d.experts[static_cast<std::size_t>(e)].add_token(v[static_cast<std::size_t>(e)] / 10, 1.0);
    for (int e = 0; e < 6; ++e) d.experts[static_cast<std::size_t>(e)].sum_g = pq::stats::exact_sum(v[static_cast<std::size_t>(e)]);
  }
  const auto s = ps::erase(ps::weighted_frequency{});
  // mean: (5.1/2, 3.5, 2.5, 2.75, 3.25, 2.25) -> order 5, 2, 0, 3, 4, 1
  const auto mean = ps::rank_experts(r, s, ps::domain_policy::mean);
  REQUIRE(mean.drop_order == std::vector<int>{5, 2, 0, 3, 4, 1});
  REQUIRE(mean.score[0] == Approx(2.6));
  // max: (5, 6, 4, 5, 3.5, 2.5) -> 5, 4, 2, then 0 and 3 tie at 5 (mean breaks: 2.6 < 2.75), 1
  const auto mx = ps::rank_experts(r, s, ps::domain_policy::max);
  REQUIRE(mx.drop_order == std::vector<int>{5, 4, 2, 0, 3, 1});
  // per-domain prune sets of size k: code drops {3},{3,1},{3,1,5}; math {0},{0,2},{0,2,5}
  // union of 1-sets = {0,3}, of 2-sets = {0,1,2,3}; intersection of 3-sets = {5}
  const auto un = ps::rank_experts(r, s, ps::domain_policy::union_);
  REQUIRE(un.prune_set(2) == std::vector<int>{0, 3});
  REQUIRE(un.prune_set(4) == std::vector<int>{0, 1, 2, 3});
  const auto in = ps::rank_experts(r, s, ps::domain_policy::intersection);
  REQUIRE(in.prune_set(1) == std::vector<int>{5});
  // pooled = scores of the merged accumulators = sum over domains here
  const auto po = ps::rank_experts(r, s, ps::domain_policy::pooled);
  REQUIRE(po.score[1] == Approx(7.0));
  REQUIRE(po.drop_order.front() == 5);
  REQUIRE_THROWS_AS(ps::domain_policy_by_name("median"), pq::error);
}

TEST_CASE("expert accumulators merge exactly in any order") {
  std::mt19937_64 rng(2);
  const auto toks = simulate(rng, 8, 2, 3000);
  auto acc_of = [&](const std::vector<std::size_t>& order, std::size_t shards) {
    std::vector<pq::stats::domain_acc> parts(shards);
    for (auto& p : parts) p.experts.resize(8);
    for (std::size_t i = 0; i < order.size(); ++i) {
      auto& p = parts[order[i] % shards];
      ++p.total_tokens;
      for (auto& x : toks[order[i]]) p.experts[static_cast<std::size_t>(x.expert)].add_token(x.g, x.norm);
    }
    pq::stats::domain_acc all;
    all.experts.resize(8);
    for (auto& p : parts) all.merge(p, "t");
    return all;
  };
  std::vector<std::size_t> order(toks.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto a = acc_of(order, 1);
  std::shuffle(order.begin(), order.end(), rng);
  const auto b = acc_of(order, 7);
  for (int e = 0; e < 8; ++e) {
    const auto& x = a.experts[static_cast<std::size_t>(e)];
    const auto& y = b.experts[static_cast<std::size_t>(e)];
    REQUIRE(x.sum_g_norm.value() == y.sum_g_norm.value());  // bitwise equal doubles
    REQUIRE(x.sum_g_norm_sq.value() == y.sum_g_norm_sq.value());
    REQUIRE(x.sum_norm_sq.value() == y.sum_norm_sq.value());
    REQUIRE(x.count == y.count);
    REQUIRE(x.max_g_norm == y.max_g_norm);
    pq::stats::router_stats r;
    r.num_experts = 8;
    r.top_k = 1;
    REQUIRE(ps::reap{}(ps::expert_view{x, a, r, e}) == ps::reap{}(ps::expert_view{y, b, r, e}));
  }
  REQUIRE_THROWS_AS(pq::stats::expert_acc{}.add_token(-0.1, 1.0), pq::error);
}
