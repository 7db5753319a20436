#pragma once
// A sequential forward for layer-by-layer quantization (GPTQ): layer l is calibrated on the
// inputs that the already-quantized layers 0..l−1 produce.
//
//   for each layer l:
//     load layer l with `initial` weights; run every batch through it with the observer that
//     hooks.observer(l, batch) returns (forward: it sees every Linear's inputs, e.g. the
//     probe's layer_statistics<stat::list<stat::xtx>> in forward mode: XᵀX per Linear);
//     w = hooks.layer_done(l)  — quantize the layer from what was observed, return the weights
//     to continue with (e.g. an override_weights holding GPTQ's output), or null to keep;
//     if w: reload layer l from w and recompute its outputs; they are layer l+1's inputs.
//   after the last layer, hooks.finish(batch, last hidden states) if set.
// Activations of one layer boundary are cached at a time (within max_memory, spilling beyond).
#include <prismaquant/engine/activation_store.hpp>
#include <prismaquant/engine/linear_weights.hpp>
#include <prismaquant/engine/observer.hpp>
#include <prismaquant/engine/runner.hpp>

#include <functional>
#include <memory>

namespace prismaquant::engine {

struct sequential_hooks {
  std::function<std::unique_ptr<layer_observer>(int layer, const batch&)> observer;
  std::function<const linear_weights*(int layer)> layer_done;
  std::function<void(const batch&, const std::vector<float>& hidden)> finish;
};

inline void sequential_forward(runner& R, const token_file& tf, const batch_plan& plan, const linear_weights& initial,
                               const sequential_hooks& hooks, activation_store& store) {
  const auto& A = R.arch();
  const std::int64_t H = A.hidden, S = R.seq_len();
  R.each(plan.batches, [&](const batch& b, worker_scratch&) {
    std::vector<float> x(static_cast<std::size_t>(b.rows * S * H));
    embed_tokens(A, R.top(), tf.row(b.first_row), b.rows * S, x.data());
    store.put(activation_store::key(0, 0, b.index), std::move(x));
  });
  layer_weights w;
  for (int l = 0; l < A.layers; ++l) {
    const auto in = [&](int b) { return activation_store::key(0, l, b); };
    const auto out = [&](int b) { return activation_store::key(0, l + 1, b); };
    R.load(l, initial, w);
    R.each(plan.batches, [&](const batch& b, worker_scratch& s) {
      auto x = store.take(in(b.index));
      std::vector<float> y(x.size());
      auto obs = hooks.observer ? hooks.observer(l, b) : nullptr;
      R.layer().forward(w, x.data(), b.rows, y.data(), s.tape, obs.get());
      store.put(in(b.index), std::move(x));
      store.put(out(b.index), std::move(y));
    });
    const linear_weights* next = hooks.layer_done ? hooks.layer_done(l) : nullptr;
    if (next) {
      R.load(l, *next, w);
      R.each(plan.batches, [&](const batch& b, worker_scratch& s) {
        auto x = store.take(in(b.index));
        auto y = store.take(out(b.index));
        R.layer().forward(w, x.data(), b.rows, y.data(), s.tape);
        store.put(out(b.index), std::move(y));
      });
    } else {
      for (const auto& b : plan.batches) (void)store.take(in(b.index));
    }
  }
  R.each(plan.batches, [&](const batch& b, worker_scratch&) {
    auto x = store.take(activation_store::key(0, A.layers, b.index));
    if (hooks.finish) hooks.finish(b, x);
  });
}

}  // namespace prismaquant::engine
