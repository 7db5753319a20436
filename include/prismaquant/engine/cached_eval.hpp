#pragma once
// Many evaluations of small changes to one model (validation: one item quantized, one expert
// dropped): the source forward runs once and keeps every layer's input and every layer's
// weights; a change whose first touched layer is l then costs only layers l.. and the head.
// Each batch is computed exactly as engine::evaluate computes it and the sum is exact, so
// loss() with nothing changed equals evaluate() on the source bit for bit.
//
//   engine::cached_eval ce(model, "eval_tokens.bin", opts, gemm);
//   double d = ce.loss(layers_from(provider, {2}), masks) - ce.source_loss();
//
// Memory: every layer's input for every token, float32 (layers · tokens · hidden · 4 bytes),
// plus the float32 weights of the model's layers; beyond eval_options::max_memory it is an
// error that says so (evaluate fewer rows).
#include <prismaquant/engine/eval.hpp>

#include <optional>

namespace prismaquant::engine {

class cached_eval {
 public:
  cached_eval(const model::opened_model& m, const std::filesystem::path& tokens, const eval_options& o,
              const nn::gemm_backend& g)
      : R_(m, g, o.threads, o.seq_len), progress_(o.progress) {
    const auto& A = R_.arch();
    tf_ = read_token_file(tokens, o.seq_len, A.vocab, A.max_positions, o.token_bytes);
    plan_ = plan_batches(tf_, {"default"}, o.batch_rows);
    const std::uint64_t need = static_cast<std::uint64_t>(A.layers) *
                                   (static_cast<std::uint64_t>(tf_.rows * o.seq_len * A.hidden) * 4 + R_.layer_bytes());
    if (need > o.max_memory)
      throw error("eval cache", "keeping every layer's input (" + std::to_string(tf_.rows) + " rows) and weights needs " +
                                    std::to_string(need / 1000000) + " MB, above --max-memory (" +
                                    std::to_string(o.max_memory / 1000000) + " MB): evaluate fewer rows");
    const source_weights src(*m.weights);
    input_.assign(static_cast<std::size_t>(A.layers), std::vector<std::vector<float>>(plan_.batches.size()));
    weights_.resize(static_cast<std::size_t>(A.layers));
    const std::int64_t S = o.seq_len, H = A.hidden;
    R_.each(plan_.batches, [&](const batch& b, worker_scratch&) {
      std::vector<float> x(static_cast<std::size_t>(b.rows * S * H));
      embed_tokens(A, R_.top(), tf_.row(b.first_row), b.rows * S, x.data());
      input_[0][static_cast<std::size_t>(b.index)] = std::move(x);
    });
    std::vector<std::vector<float>> last(plan_.batches.size());
    for (int l = 0; l < A.layers; ++l) {
      say("source: layer " + std::to_string(l + 1) + "/" + std::to_string(A.layers));
      R_.load(l, src, weights_[static_cast<std::size_t>(l)]);
      R_.each(plan_.batches, [&](const batch& b, worker_scratch& s) {
        const auto& x = input_[static_cast<std::size_t>(l)][static_cast<std::size_t>(b.index)];
        std::vector<float> out(x.size());
        R_.layer().forward(weights_[static_cast<std::size_t>(l)], x.data(), b.rows, out.data(), s.tape);
        if (l + 1 < A.layers) input_[static_cast<std::size_t>(l + 1)][static_cast<std::size_t>(b.index)] = std::move(out);
        else last[static_cast<std::size_t>(b.index)] = std::move(out);
      });
    }
    source_ = head_loss([&](const batch& b) -> const std::vector<float>& { return last[static_cast<std::size_t>(b.index)]; });
    say("");
  }

  int layers() const noexcept { return R_.arch().layers; }
  std::int64_t rows() const noexcept { return tf_.rows; }
  std::int64_t positions() const noexcept { return tf_.rows * (tf_.seq_len - 1); }
  const architecture& arch() const noexcept { return R_.arch(); }
  double source_loss() const noexcept { return source_; }

  // Mean CE with the layers in `changed` loaded from `lw` (the others as the source) and each
  // layer's experts masked by `active` (empty: all kept; else per layer, an empty mask keeps
  // all). Only layers from the first changed or masked one are computed.
  double loss(const linear_weights& lw, const std::vector<int>& changed,
              const std::vector<std::vector<std::uint8_t>>& active = {}) {
    const int L = layers();
    int first = L;
    for (int l : changed) {
      if (l < 0 || l >= L) throw error("eval cache", "layer " + std::to_string(l) + " out of range");
      first = std::min(first, l);
    }
    for (std::size_t l = 0; l < active.size(); ++l)
      if (!active[l].empty()) first = std::min(first, static_cast<int>(l));
    if (first == L) return source_;
    std::vector<std::optional<layer_weights>> own(static_cast<std::size_t>(L));
    for (int l : changed) {
      auto& w = own[static_cast<std::size_t>(l)];
      if (w) continue;
      w.emplace();
      R_.load(l, lw, *w);
    }
    // A layer's expert mask lives in its weights: masked source layers get it set for this
    // call and restored after (loss() is not reentrant).
    std::vector<const layer_weights*> W(static_cast<std::size_t>(L));
    for (int l = first; l < L; ++l) {
      auto& o = own[static_cast<std::size_t>(l)];
      layer_weights& w = o ? *o : weights_[static_cast<std::size_t>(l)];
      w.active = static_cast<std::size_t>(l) < active.size() ? active[static_cast<std::size_t>(l)] : std::vector<std::uint8_t>{};
      W[static_cast<std::size_t>(l)] = &w;
    }
    std::vector<std::vector<float>> last(plan_.batches.size());
    R_.each(plan_.batches, [&](const batch& b, worker_scratch& s) {
      std::vector<float> x = input_[static_cast<std::size_t>(first)][static_cast<std::size_t>(b.index)];
      std::vector<float> out(x.size());
      for (int l = first; l < L; ++l) {
        R_.layer().forward(*W[static_cast<std::size_t>(l)], x.data(), b.rows, out.data(), s.tape);
        std::swap(x, out);
      }
      last[static_cast<std::size_t>(b.index)] = std::move(x);
    });
    for (auto& w : weights_) w.active.clear();
    return head_loss([&](const batch& b) -> const std::vector<float>& { return last[static_cast<std::size_t>(b.index)]; });
  }

 private:
  void say(const std::string& s) const {
    if (progress_) progress_(s);
  }

  template <class Hidden>
  double head_loss(Hidden&& hidden) {
    stats::exact_sum sum;
    std::int64_t count = 0;
    std::mutex mu;
    R_.each(plan_.batches, [&](const batch& b, worker_scratch& s) {
      std::vector<double> ce;
      R_.head().loss(hidden(b).data(), tf_.row(b.first_row), b.rows, ce, s.head);
      stats::exact_sum part;
      for (double c : ce) part.add(c);
      std::lock_guard lock(mu);
      sum.merge(part);
      count += static_cast<std::int64_t>(ce.size());
    });
    return count ? sum.value() / static_cast<double>(count) : 0.0;
  }

  runner R_;
  std::function<void(const std::string&)> progress_;
  token_file tf_;
  batch_plan plan_;
  std::vector<std::vector<std::vector<float>>> input_;  // [layer][batch]: the source's input to that layer
  std::vector<layer_weights> weights_;                  // [layer]: the source's weights
  double source_ = 0.0;
};

}  // namespace prismaquant::engine
