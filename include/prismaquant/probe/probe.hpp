#pragma once
// The calibration probe: per-Linear and per-router statistics of a checkpoint over a token file,
// by a streamed forward and a reverse sweep, one layer's weights resident at a time.
//
//   phase 1  embed every batch; for each layer: load it, run every batch through it, caching
//            each layer's input (engine::activation_store: in memory within max_memory, spilled
//            to a temporary folder beyond);
//   phase 2  final norm, lm_head, per-position CE; token weights w_t (clamped or none) as
//            constants; dL_b/d(last hidden) for L_b = Σ_t w_t·CE_t;
//   phase 3  for each layer from the last: load it, recompute its forward from the cached
//            input, propagate dL/dh, and let the statistics' observers (probe/layer_statistics)
//            accumulate what `Stats` asks for — nothing is computed that no statistic needs.
// When every layer's weights and a batch's tapes for all layers fit in max_memory (small
// models), the same blocks run per batch instead — forward through all layers keeping the
// tapes, loss, backward — which saves phase 3's recomputed forward. Each batch's numbers are the
// same either way (same products on the same inputs), so the two give identical files.
//
// `Stats` is a stat::list (stats/statistic.hpp); file_statistics is everything the stats file
// holds. `first_order` names the formats whose first-order terms Σ_b ⟨G_b, Q_f(W) − W⟩ are
// measured (probe/first_order.hpp; none by default: they cost one ΔW per weight and format).
// With a shard spec only the shard's batches are processed (batch i on shard i mod N)
// and the result is one part for stats::merge_shards.
#include <prismaquant/engine/activation_store.hpp>
#include <prismaquant/engine/linear_weights.hpp>
#include <prismaquant/engine/runner.hpp>
#include <prismaquant/engine/shard.hpp>
#include <prismaquant/probe/first_order.hpp>
#include <prismaquant/probe/layer_statistics.hpp>
#include <prismaquant/stats/exact_sum.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace prismaquant::probe {

using file_statistics = stat::list<stat::fisher, stat::fisher_token, stat::h_row, stat::xtx_diag, stat::input_amax,
                                   stat::first_order, stat::reap, stat::reroute>;

struct options {
  std::int64_t seq_len = 256;
  std::int64_t batch_rows = 4;
  int token_bytes = 2;  // uint16 ids (4: uint32, vocabularies beyond 65536)
  nn::token_weighting weighting = nn::token_weighting::clamped;
  std::vector<std::string> domains;  // empty: one domain "default"
  engine::shard_spec shard;
  unsigned threads = 0;                            // 0: all cores
  std::uint64_t max_memory = 8ull << 30;           // bytes of cached activations kept in memory
  std::filesystem::path tmp_dir;                   // where spills go (default: the system's temp folder)
  bool stream = false;                             // stream layers even when all would fit
  std::vector<std::string> first_order;            // formats whose first-order terms are measured
  std::function<void(const std::string&)> progress;  // status lines (may be empty)
};

struct batch_result {
  int index = 0, domain = 0;
  std::int64_t first_row = 0, rows = 0, positions = 0;
  double loss = 0.0;    // Σ_t w_t·CE_t
  double ce_sum = 0.0;  // Σ_t CE_t
};

struct result {
  stats::model_stats stats;
  std::vector<batch_result> batches;  // this shard's batches, in file order
  std::uint64_t activations_peak_bytes = 0, spilled_bytes = 0;
  bool streamed = true;  // layers streamed (else every layer resident, no recomputed forward)
  double seconds = 0.0;
};

inline const char* weighting_name(nn::token_weighting w) { return w == nn::token_weighting::clamped ? "clamped" : "none"; }

template <class Stats = file_statistics>
result run(const model::opened_model& m, const std::filesystem::path& tokens, const options& o,
           const nn::gemm_backend& g) {
  const auto t0 = std::chrono::steady_clock::now();
  std::mutex say_mu;
  auto say = [&](const std::string& s) {
    std::lock_guard lock(say_mu);
    if (o.progress) o.progress(s);
  };
  engine::runner R(m, g, o.threads, o.seq_len);
  const auto& A = R.arch();
  const auto tf = engine::read_token_file(tokens, o.seq_len, A.vocab, A.max_positions, o.token_bytes);
  const auto plan = engine::plan_batches(tf, o.domains.empty() ? std::vector<std::string>{"default"} : o.domains,
                                         o.batch_rows);
  std::vector<engine::batch> mine;
  for (const auto& b : plan.batches)
    if (o.shard.owns(b.index)) mine.push_back(b);
  const std::int64_t H = A.hidden, S = o.seq_len;
  const int L = A.layers;
  engine::activation_store store(o.max_memory, o.tmp_dir);
  const auto X = [](int layer, int b) { return engine::activation_store::key(0, layer, b); };
  const auto G = [](int b) { return engine::activation_store::key(1, 0, b); };
  engine::source_weights src(*m.weights);

  result res;
  res.stats.probe = {{"tokens", engine::checksum_string(tf.checksum)},
                     {"rows", tf.rows},
                     {"seq_len", S},
                     {"batch", o.batch_rows},
                     {"batches", plan.batches.size()},
                     {"token_weights", weighting_name(o.weighting)},
                     {"domains", plan.domains},
                     {"model_type", A.model_type}};
  if (o.shard.count > 1) res.stats.shards = {o.shard.name()};
  const first_order_deltas first(*m.weights, m.description, o.first_order);
  if (!first.empty()) {
    std::vector<std::string> names;
    for (const auto& n : o.first_order) names.emplace_back(formats::find(n).name);
    res.stats.probe["first_order"] = names;
  }
  auto attach_first_order = [&](layer_statistics<Stats>& st) {
    if (first.empty()) return;
    say("first-order targets of layer " + std::to_string(st.layer() + 1) + "/" + std::to_string(L));
    for (int i : st.linears()) st.set_first_order(i, first.targets(i));
  };

  res.batches.resize(mine.size());
  std::vector<int> slot(plan.batches.size(), -1);
  for (std::size_t i = 0; i < mine.size(); ++i) slot[static_cast<std::size_t>(mine[i].index)] = static_cast<int>(i);
  // loss and its gradient at the last hidden state x of batch b
  auto loss = [&](const engine::batch& b, engine::worker_scratch& s, const std::vector<float>& x, std::vector<float>& dx) {
    const std::uint32_t* ids = tf.row(b.first_row);
    std::vector<double> ce;
    R.head().loss(x.data(), ids, b.rows, ce, s.head);
    const auto wt = nn::token_weights(ce, o.weighting);
    dx.resize(x.size());
    R.head().loss_grad(x.data(), ids, b.rows, wt, dx.data(), s.head);
    auto& br = res.batches[static_cast<std::size_t>(slot[static_cast<std::size_t>(b.index)])];
    br = {b.index, b.domain, b.first_row, b.rows, static_cast<std::int64_t>(ce.size()), 0.0, 0.0};
    for (std::size_t i = 0; i < ce.size(); ++i) {
      br.loss += wt[i] * ce[i];
      br.ce_sum += ce[i];
    }
  };
  const std::uint64_t resident_bytes =
      static_cast<std::uint64_t>(L) * R.layer_bytes() +
      static_cast<std::uint64_t>(R.pool().size()) * static_cast<std::uint64_t>(L) * R.tape_bytes_per_token() *
          static_cast<std::uint64_t>(o.batch_rows * S);
  res.streamed = o.stream || resident_bytes > o.max_memory;

  if (!res.streamed) {  // every layer resident: per batch forward, loss, backward
    std::vector<engine::layer_weights> ws(static_cast<std::size_t>(L));
    std::vector<std::unique_ptr<layer_statistics<Stats>>> st;
    for (int l = 0; l < L; ++l) {
      say("load layer " + std::to_string(l + 1) + "/" + std::to_string(L));
      R.load(l, src, ws[static_cast<std::size_t>(l)]);
      st.push_back(std::make_unique<layer_statistics<Stats>>(A, m.description, l, plan.domains));
      attach_first_order(*st.back());
    }
    std::atomic<int> done{0};
    R.each(mine, [&](const engine::batch& b, engine::worker_scratch& s) {
      s.tapes.resize(static_cast<std::size_t>(L));
      s.hidden.resize(static_cast<std::size_t>(L) + 1);
      auto& h = s.hidden;
      h[0].resize(static_cast<std::size_t>(b.rows * S * H));
      engine::embed_tokens(A, R.top(), tf.row(b.first_row), b.rows * S, h[0].data());
      for (int l = 0; l < L; ++l) {
        h[static_cast<std::size_t>(l) + 1].resize(h[0].size());
        R.layer().forward(ws[static_cast<std::size_t>(l)], h[static_cast<std::size_t>(l)].data(), b.rows,
                          h[static_cast<std::size_t>(l) + 1].data(), s.tapes[static_cast<std::size_t>(l)]);
      }
      std::vector<float> d;
      loss(b, s, h[static_cast<std::size_t>(L)], d);
      for (int l = L - 1; l >= 0; --l) {
        auto obs = st[static_cast<std::size_t>(l)]->observer(b.domain, g);
        R.layer().backward(ws[static_cast<std::size_t>(l)], s.tapes[static_cast<std::size_t>(l)], d.data(), obs.get());
      }
      say("batch " + std::to_string(++done) + "/" + std::to_string(mine.size()) + " forward + backward");
    });
    for (auto& x : st) x->write(res.stats);
  } else {
    // phase 1: forward, caching every layer's input
    R.each(mine, [&](const engine::batch& b, engine::worker_scratch&) {
      std::vector<float> x(static_cast<std::size_t>(b.rows * S * H));
      engine::embed_tokens(A, R.top(), tf.row(b.first_row), b.rows * S, x.data());
      store.put(X(0, b.index), std::move(x));
    });
    engine::layer_weights w;
    for (int l = 0; l < L; ++l) {
      say("forward layer " + std::to_string(l + 1) + "/" + std::to_string(L));
      R.load(l, src, w);
      R.each(mine, [&](const engine::batch& b, engine::worker_scratch& s) {
        auto x = store.take(X(l, b.index));
        std::vector<float> out(x.size());
        R.layer().forward(w, x.data(), b.rows, out.data(), s.tape);
        store.put(X(l, b.index), std::move(x));
        store.put(X(l + 1, b.index), std::move(out));
      });
    }
    // phase 2: loss and its gradient at the last hidden state
    say("loss");
    R.each(mine, [&](const engine::batch& b, engine::worker_scratch& s) {
      auto x = store.take(X(L, b.index));
      std::vector<float> dx;
      loss(b, s, x, dx);
      store.put(G(b.index), std::move(dx));
    });
    // phase 3: reverse sweep with the statistics' observers
    for (int l = L - 1; l >= 0; --l) {
      say("backward layer " + std::to_string(l + 1) + "/" + std::to_string(L));
      R.load(l, src, w);
      layer_statistics<Stats> stats_l(A, m.description, l, plan.domains);
      attach_first_order(stats_l);
      R.each(mine, [&](const engine::batch& b, engine::worker_scratch& s) {
        auto x = store.take(X(l, b.index));
        auto d = store.take(G(b.index));
        s.out.resize(x.size());
        R.layer().forward(w, x.data(), b.rows, s.out.data(), s.tape);
        auto obs = stats_l.observer(b.domain, g);
        R.layer().backward(w, s.tape, d.data(), obs.get());
        store.put(G(b.index), std::move(d));
      });
      stats_l.write(res.stats);
    }
    for (const auto& b : mine) (void)store.take(G(b.index));
  }
  res.activations_peak_bytes = store.peak_resident_bytes();
  res.spilled_bytes = store.spilled_bytes();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.stats.validate("probe");
  return res;
}

}  // namespace prismaquant::probe
