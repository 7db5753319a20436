#pragma once
// The engine's common loop: one opened model, its assembly, the GEMM backend, a thread pool,
// and per-worker scratch. Work is parallel over batches (each batch computed by one thread with
// single-threaded GEMMs), so every batch's numbers are the same for any thread count.
// Drivers (probe/probe.hpp, engine/eval.hpp, engine/sequential.hpp) build their passes from it.
#include <prismaquant/cost/parallel.hpp>
#include <prismaquant/engine/assemble.hpp>
#include <prismaquant/engine/decoder_layer.hpp>
#include <prismaquant/engine/layer_weights.hpp>
#include <prismaquant/engine/model_head.hpp>
#include <prismaquant/engine/token_file.hpp>

#include <memory>
#include <mutex>
#include <vector>

namespace prismaquant::engine {

struct worker_scratch {
  layer_tape tape;
  std::vector<layer_tape> tapes;              // one per layer (resident mode)
  std::vector<std::vector<float>> hidden;     // every layer's input of one batch (resident mode)
  head_scratch head;
  std::vector<float> out;
};

class runner {
 public:
  runner(const model::opened_model& m, const nn::gemm_backend& g, unsigned threads, std::int64_t seq_len)
      : m_(m),
        arch_(assemble(m)),
        g_(g),
        pool_(threads),
        rope_(arch_.rot_dim, arch_.rope_theta, seq_len),
        layer_(arch_, g_, rope_, seq_len),
        head_(arch_, top_, g_, seq_len),
        seq_len_(seq_len) {
    load_top(*m_.weights, arch_, top_);
  }

  const model::opened_model& model() const noexcept { return m_; }
  const architecture& arch() const noexcept { return arch_; }
  const top_weights& top() const noexcept { return top_; }
  const decoder_layer& layer() const noexcept { return layer_; }
  const model_head& head() const noexcept { return head_; }
  const nn::gemm_backend& gemm() const noexcept { return g_; }
  cost::thread_pool& pool() noexcept { return pool_; }
  std::int64_t seq_len() const noexcept { return seq_len_; }

  // Float32 bytes of one layer's weights, and what one worker keeps per token of a batch for
  // one layer's backward (its tape) — for choosing between streaming and keeping every layer.
  std::uint64_t layer_bytes() const {
    const auto& a = arch_;
    const std::uint64_t H = static_cast<std::uint64_t>(a.hidden), I = static_cast<std::uint64_t>(a.inter),
                        E = static_cast<std::uint64_t>(a.experts);
    return 4 * (static_cast<std::uint64_t>(a.qkv_out()) * H + H * static_cast<std::uint64_t>(a.q_out()) + E * H +
                E * 3 * I * H + 4 * H);
  }
  std::uint64_t tape_bytes_per_token() const {
    const auto& a = arch_;
    const std::uint64_t H = static_cast<std::uint64_t>(a.hidden), I = static_cast<std::uint64_t>(a.inter),
                        k = static_cast<std::uint64_t>(a.top_k);
    return 4 * (6 * H + 2 * static_cast<std::uint64_t>(a.qkv_out() + a.q_out()) + 2 * static_cast<std::uint64_t>(a.experts) +
                k * (3 * H + 6 * I) + 8);
  }

  void load(int l, const linear_weights& lw, layer_weights& w) {
    load_layer(*m_.weights, arch_, m_.description, l, lw, w, pool_);
  }

  // f(const batch&, worker_scratch&) for every batch, in parallel.
  template <class F>
  void each(const std::vector<batch>& bs, F&& f) {
    pool_.parallel_for(static_cast<std::int64_t>(bs.size()), [&](std::int64_t i) {
      std::unique_ptr<worker_scratch> s = acquire();
      f(bs[static_cast<std::size_t>(i)], *s);
      release(std::move(s));
    });
  }

 private:
  std::unique_ptr<worker_scratch> acquire() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return std::make_unique<worker_scratch>();
    auto s = std::move(free_.back());
    free_.pop_back();
    return s;
  }
  void release(std::unique_ptr<worker_scratch> s) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(s));
  }

  const model::opened_model& m_;
  architecture arch_;
  const nn::gemm_backend& g_;
  cost::thread_pool pool_;
  nn::rotary rope_;
  top_weights top_;
  decoder_layer layer_;
  model_head head_;
  std::int64_t seq_len_;
  std::mutex mu_;
  std::vector<std::unique_ptr<worker_scratch>> free_;
};

}  // namespace prismaquant::engine
