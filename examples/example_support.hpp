#pragma once
// What the allocation examples share: a small synthetic MiniMax-M2 checkpoint on disk (the
// real layout: FP8 128x128-block weights, 2 layers of q/k/v/o + 8 experts × w1/w2/w3) and
// statistics for it as a calibration probe would write them (seeded: per-Linear Fisher sums,
// per-row H, diag(XᵀX); per router REAP accumulators from simulated top-k routing).
#include <prismaquant/model/open.hpp>
#include <prismaquant/model/synthetic.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

namespace example {

namespace pq = prismaquant;

struct workspace {
  std::filesystem::path dir;
  explicit workspace(const std::string& name)
      : dir(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~workspace() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::filesystem::path operator/(const std::string& f) const { return dir / f; }
};

// The checkpoint folder, written under `dir`.
inline std::filesystem::path tiny_minimax(const std::filesystem::path& dir, std::uint64_t seed = 7) {
  pq::model::synthetic_minimax_options o;
  o.hidden = 256, o.layers = 2, o.heads = 4, o.kv_heads = 2, o.head_dim = 64, o.experts = 8, o.top_k = 2;
  o.intermediate = 128, o.vocab = 300, o.seed = seed, o.max_shard_bytes = 1'000'000;
  const auto model = dir / "model";
  pq::model::write_synthetic_minimax(model, o);
  return model;
}

// Statistics for every Linear and router of a model description.
inline pq::stats::model_stats synthetic_stats(const pq::model::model_description& d, std::uint64_t seed = 11) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> ln(0.0, 0.8);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  pq::stats::model_stats st;
  const std::int64_t tokens = 512;
  for (const auto& l : d.linears) {
    pq::stats::linear_stats s;
    s.name = l.name;
    s.out_features = l.out_features;
    s.in_features = l.in_features;
    s.source_dtype = pq::dtype::F8_E4M3;
    s.source_block_out = s.source_block_in = 128;
    s.rows_seen = l.expert >= 0 ? tokens / 4 : tokens;
    s.h_row_sum.resize(static_cast<std::size_t>(l.out_features));
    double h = 0;
    for (auto& v : s.h_row_sum) h += (v = 1e-3 * ln(rng));
    s.fisher_sum = pq::stats::exact_sum(h);
    s.xtx_diag.resize(static_cast<std::size_t>(l.in_features));
    for (auto& v : s.xtx_diag) v = static_cast<double>(s.rows_seen) * ln(rng);
    st.linears.emplace(l.name, std::move(s));
  }
  for (const auto& moe : d.moe_layers) {
    pq::stats::router_stats r;
    r.name = moe.router;
    const auto& w1 = d.linears[static_cast<std::size_t>(moe.experts[0][0])].name;  // "<prefix>.0.w1"
    r.experts_prefix = w1.substr(0, w1.rfind('.', w1.rfind('.') - 1));
    r.num_experts = moe.num_experts;
    r.top_k = moe.top_k;
    std::vector<double> pop(static_cast<std::size_t>(moe.num_experts)), norm(pop.size());
    for (auto& p : pop) p = ln(rng);
    for (auto& n : norm) n = ln(rng);
    auto& dom = r.domain("default");
    for (std::int64_t t = 0; t < tokens; ++t) {
      ++dom.total_tokens;
      std::vector<double> w = pop;
      double gs = 0;
      std::vector<int> chosen;
      for (int k = 0; k < moe.top_k; ++k) {
        std::discrete_distribution<int> pick(w.begin(), w.end());
        const int e = pick(rng);
        chosen.push_back(e);
        w[static_cast<std::size_t>(e)] = 0;
        gs += pop[static_cast<std::size_t>(e)];
      }
      for (int e : chosen)
        dom.experts[static_cast<std::size_t>(e)].add_token(pop[static_cast<std::size_t>(e)] / gs,
                                                           norm[static_cast<std::size_t>(e)] * (0.5 + u(rng)));
    }
    st.routers.emplace(r.name, std::move(r));
  }
  return st;
}

}  // namespace example
