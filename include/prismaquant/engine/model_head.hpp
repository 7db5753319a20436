#pragma once
// The ends of the model: token embedding in, and out: final RMSNorm, lm_head, per-position
// cross-entropy and its gradient. Logits are formed `chunk` tokens at a time, so a 200k vocab
// never needs a [tokens × vocab] buffer.
#include <prismaquant/engine/architecture.hpp>
#include <prismaquant/engine/layer_weights.hpp>
#include <prismaquant/nn/cross_entropy.hpp>
#include <prismaquant/nn/linear.hpp>
#include <prismaquant/nn/rms_norm.hpp>

#include <cstring>
#include <vector>

namespace prismaquant::engine {

struct head_scratch {
  nn::tensor2 xf, logits, dlogits, dxf;
  std::vector<float> rstd;
};

// x [rows·seq_len × hidden] = embed[ids]
inline void embed_tokens(const architecture& a, const top_weights& w, const std::uint32_t* ids, std::int64_t n,
                         float* x) {
  for (std::int64_t t = 0; t < n; ++t)
    std::memcpy(x + t * a.hidden, w.embed.data() + static_cast<std::int64_t>(ids[t]) * a.hidden,
                static_cast<std::size_t>(a.hidden) * 4);
}

class model_head {
 public:
  model_head(const architecture& a, const top_weights& w, const nn::gemm_backend& g, std::int64_t seq_len,
             std::int64_t chunk = 256)
      : a_(a), w_(w), g_(g), S_(seq_len), chunk_(chunk) {}

  // CE of every predicted position (row r, position p < seq_len−1 predicts ids[p+1]), in
  // token order without the rows' last positions: ce.size() == seqs·(seq_len−1).
  void loss(const float* x, const std::uint32_t* ids, std::int64_t seqs, std::vector<double>& ce,
            head_scratch& sc) const {
    const std::int64_t n = seqs * S_;
    normed(x, n, sc);
    ce.clear();
    for (std::int64_t t0 = 0; t0 < n; t0 += chunk_) {
      const std::int64_t m = std::min(chunk_, n - t0);
      logits(sc, t0, m);
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int64_t t = t0 + i;
        if (t % S_ == S_ - 1) continue;
        ce.push_back(nn::cross_entropy(sc.logits.data() + i * a_.vocab, a_.vocab, static_cast<int>(ids[t + 1])));
      }
    }
  }

  // The logits of the first `seqs` rows: out [seqs·seq_len × vocab].
  void logits_of(const float* x, std::int64_t seqs, float* out, head_scratch& sc) const {
    const std::int64_t n = seqs * S_;
    normed(x, n, sc);
    for (std::int64_t t0 = 0; t0 < n; t0 += chunk_) {
      const std::int64_t m = std::min(chunk_, n - t0);
      logits(sc, t0, m);
      std::memcpy(out + t0 * a_.vocab, sc.logits.data(), static_cast<std::size_t>(m * a_.vocab) * 4);
    }
  }

  // dx [tokens × hidden] = d(Σ_t w_t·CE_t)/dx, w indexed like loss()'s ce. Rows' last positions
  // get only what flows back through nothing: zero.
  void loss_grad(const float* x, const std::uint32_t* ids, std::int64_t seqs, const std::vector<double>& w,
                 float* dx, head_scratch& sc) const {
    const std::int64_t n = seqs * S_, H = a_.hidden, V = a_.vocab;
    normed(x, n, sc);
    nn::reshape(sc.dxf, n, H);
    nn::reshape(sc.dlogits, std::min(chunk_, n), V);
    std::size_t pos = 0;
    for (std::int64_t t0 = 0; t0 < n; t0 += chunk_) {
      const std::int64_t m = std::min(chunk_, n - t0);
      logits(sc, t0, m);
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int64_t t = t0 + i;
        float* dl = sc.dlogits.data() + i * V;
        if (t % S_ == S_ - 1) {
          std::fill(dl, dl + V, 0.0f);
          continue;
        }
        nn::cross_entropy_grad(sc.logits.data() + i * V, V, static_cast<int>(ids[t + 1]), w[pos++], dl);
      }
      nn::linear_backward_input(g_, {w_.lm_head.data(), V, H, H}, sc.dlogits.data(), V, m, sc.dxf.data() + t0 * H, H,
                                false);
    }
    nn::rms_norm{w_.final_norm.data(), H, a_.eps}.backward(x, H, sc.rstd.data(), sc.dxf.data(), H, dx, H, n, 1, false);
  }

 private:
  void normed(const float* x, std::int64_t n, head_scratch& sc) const {
    nn::reshape(sc.xf, n, a_.hidden);
    sc.rstd.resize(static_cast<std::size_t>(n));
    nn::rms_norm{w_.final_norm.data(), a_.hidden, a_.eps}.forward(x, a_.hidden, sc.xf.data(), a_.hidden, n, 1,
                                                                    sc.rstd.data());
  }
  void logits(head_scratch& sc, std::int64_t t0, std::int64_t m) const {
    nn::reshape(sc.logits, m, a_.vocab);
    nn::linear_forward(g_, {w_.lm_head.data(), a_.vocab, a_.hidden, a_.hidden}, sc.xf.data() + t0 * a_.hidden,
                       a_.hidden, m, sc.logits.data(), a_.vocab);
  }

  const architecture& a_;
  const top_weights& w_;
  const nn::gemm_backend& g_;
  std::int64_t S_, chunk_;
};

}  // namespace prismaquant::engine
