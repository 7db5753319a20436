#pragma once
// Evaluation: mean next-token cross-entropy (nats per predicted position) per domain and
// overall, of the checkpoint as a linear_weights provider gives it — the source, or every
// Linear through its layer_config format (round_trip_weights) — optionally with experts pruned
// (a prune manifest: routers and bias shrunk to the kept experts). The measured Δloss engine of
// validation and export. Forward only, layer by layer, one layer resident.
#include <prismaquant/engine/activation_store.hpp>
#include <prismaquant/engine/linear_weights.hpp>
#include <prismaquant/engine/runner.hpp>
#include <prismaquant/io/json.hpp>
#include <prismaquant/stats/exact_sum.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace prismaquant::engine {

struct eval_options {
  std::int64_t seq_len = 256;
  std::int64_t batch_rows = 4;
  int token_bytes = 2;               // uint16 ids (4: uint32)
  std::vector<std::string> domains;  // empty: "default"
  unsigned threads = 0;
  std::uint64_t max_memory = 8ull << 30;
  std::filesystem::path tmp_dir;
  std::int64_t logits_rows = 0;      // keep the logits of the token file's first rows
  std::function<void(const std::string&)> progress;
};

struct eval_result {
  double loss = 0.0;       // mean CE over every predicted position
  std::int64_t tokens = 0;  // predicted positions
  std::vector<std::string> domains;
  std::vector<double> domain_loss;
  std::vector<std::int64_t> domain_tokens;
  std::vector<float> logits;  // [logits_rows · seq_len × vocab], when asked for
};

// Experts kept per layer, from a prune manifest ({router: {"kept_expert_ids": [...]}}): a mask
// per layer (empty = all kept). Every layer must keep the same number (vLLM's rule) and at
// least top_k.
inline std::vector<std::vector<std::uint8_t>> read_prune_manifest(const std::filesystem::path& path,
                                                                  const architecture& a) {
  const auto j = strict_json::read_file(path);
  const std::string w = path.string();
  if (!j.is_object()) throw error(w, "prune manifest must be a JSON object keyed by router module");
  std::vector<std::vector<std::uint8_t>> mask(static_cast<std::size_t>(a.layers));
  std::map<std::string, int> layer_of;
  for (int l = 0; l < a.layers; ++l) layer_of[a.layer[static_cast<std::size_t>(l)].router] = l;
  int kept_count = -1;
  for (auto& [router, e] : j.items()) {
    const std::string wr = w + ": \"" + router + "\"";
    const auto it = layer_of.find(router);
    if (it == layer_of.end()) throw error(wr, "is not a router of this model");
    if (!e.is_object() || !e.contains("kept_expert_ids") || !e["kept_expert_ids"].is_array())
      throw error(wr, "needs a \"kept_expert_ids\" array");
    auto& m = mask[static_cast<std::size_t>(it->second)];
    m.assign(static_cast<std::size_t>(a.experts), 0);
    int kept = 0;
    for (auto& v : e["kept_expert_ids"]) {
      if (!v.is_number_integer() || v.get<int>() < 0 || v.get<int>() >= a.experts)
        throw error(wr, "kept expert id out of range [0, " + std::to_string(a.experts) + ")");
      if (m[static_cast<std::size_t>(v.get<int>())]) throw error(wr, "expert " + std::to_string(v.get<int>()) + " is kept twice");
      m[static_cast<std::size_t>(v.get<int>())] = 1;
      ++kept;
    }
    if (kept < a.top_k) throw error(wr, "keeps " + std::to_string(kept) + " experts, fewer than top_k " + std::to_string(a.top_k));
    if (kept_count >= 0 && kept != kept_count) throw error(w, "routers keep different numbers of experts");
    kept_count = kept;
  }
  if (kept_count >= 0 && kept_count < a.experts)
    for (int l = 0; l < a.layers; ++l)
      if (mask[static_cast<std::size_t>(l)].empty())
        throw error(w, "router " + a.layer[static_cast<std::size_t>(l)].router + " is missing (every layer must keep the same experts count)");
  return mask;
}

// The result as JSON: {"loss", "tokens", "domains": {name: loss}}, and with `positions` also
// "domain_tokens": {name: predicted positions} (what `eval --out` and `export --eval-out` write).
inline nlohmann::json to_json(const eval_result& r, bool positions) {
  nlohmann::json j;
  j["loss"] = r.loss;
  j["tokens"] = r.tokens;
  j["domains"] = nlohmann::json::object();
  for (std::size_t d = 0; d < r.domains.size(); ++d) j["domains"][r.domains[d]] = r.domain_loss[d];
  if (positions) {
    j["domain_tokens"] = nlohmann::json::object();
    for (std::size_t d = 0; d < r.domains.size(); ++d) j["domain_tokens"][r.domains[d]] = r.domain_tokens[d];
  }
  return j;
}

inline eval_result evaluate(const model::opened_model& m, const std::filesystem::path& tokens, const eval_options& o,
                            const linear_weights& lw, const std::vector<std::vector<std::uint8_t>>& active,
                            const nn::gemm_backend& g) {
  auto say = [&](const std::string& s) { if (o.progress) o.progress(s); };
  runner R(m, g, o.threads, o.seq_len);
  const auto& A = R.arch();
  const auto tf = read_token_file(tokens, o.seq_len, A.vocab, A.max_positions, o.token_bytes);
  const auto plan = plan_batches(tf, o.domains.empty() ? std::vector<std::string>{"default"} : o.domains, o.batch_rows);
  const std::int64_t H = A.hidden, S = o.seq_len;
  activation_store store(o.max_memory, o.tmp_dir);
  R.each(plan.batches, [&](const batch& b, worker_scratch&) {
    std::vector<float> x(static_cast<std::size_t>(b.rows * S * H));
    embed_tokens(A, R.top(), tf.row(b.first_row), b.rows * S, x.data());
    store.put(b.index, std::move(x));
  });
  layer_weights w;
  for (int l = 0; l < A.layers; ++l) {
    say("layer " + std::to_string(l + 1) + "/" + std::to_string(A.layers));
    R.load(l, lw, w);
    w.active = active.empty() ? std::vector<std::uint8_t>{} : active[static_cast<std::size_t>(l)];
    R.each(plan.batches, [&](const batch& b, worker_scratch& s) {
      auto x = store.take(b.index);
      std::vector<float> out(x.size());
      R.layer().forward(w, x.data(), b.rows, out.data(), s.tape);
      store.put(b.index, std::move(out));
    });
  }
  std::vector<stats::exact_sum> sum(plan.domains.size());
  std::vector<std::int64_t> count(plan.domains.size(), 0);
  std::mutex mu;
  const std::int64_t keep_rows = std::min<std::int64_t>(o.logits_rows, tf.rows);
  eval_result r;
  r.logits.resize(static_cast<std::size_t>(keep_rows * S * A.vocab));
  R.each(plan.batches, [&](const batch& b, worker_scratch& s) {
    auto x = store.take(b.index);
    if (b.first_row < keep_rows)  // rows are disjoint across batches: no lock needed
      R.head().logits_of(x.data(), std::min(b.rows, keep_rows - b.first_row),
                         r.logits.data() + b.first_row * S * A.vocab, s.head);
    std::vector<double> ce;
    R.head().loss(x.data(), tf.row(b.first_row), b.rows, ce, s.head);
    stats::exact_sum part;
    for (double c : ce) part.add(c);
    std::lock_guard lock(mu);
    sum[static_cast<std::size_t>(b.domain)].merge(part);
    count[static_cast<std::size_t>(b.domain)] += static_cast<std::int64_t>(ce.size());
  });
  r.domains = plan.domains;
  stats::exact_sum all;
  for (std::size_t d = 0; d < sum.size(); ++d) {
    all.merge(sum[d]);
    r.tokens += count[d];
    r.domain_tokens.push_back(count[d]);
    r.domain_loss.push_back(count[d] ? sum[d].value() / static_cast<double>(count[d]) : 0.0);
  }
  r.loss = r.tokens ? all.value() / static_cast<double>(r.tokens) : 0.0;
  return r;
}

}  // namespace prismaquant::engine
