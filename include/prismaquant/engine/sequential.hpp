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
// sequential_pass is the same loop one step at a time, for a caller that drives it (the
// exporter's calibration, export/sequential_calibration.hpp): forward(l), then redo(l) with
// the layer's replaced weights (or skip(l)), then forward(l + 1), ...
#include <prismaquant/engine/activation_store.hpp>
#include <prismaquant/engine/linear_weights.hpp>
#include <prismaquant/engine/observer.hpp>
#include <prismaquant/engine/runner.hpp>
#include <prismaquant/core/error.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace prismaquant::engine {

struct sequential_hooks {
  std::function<std::unique_ptr<layer_observer>(int layer, const batch&)> observer;
  std::function<const linear_weights*(int layer)> layer_done;
  std::function<void(const batch&, const std::vector<float>& hidden)> finish;
};

class sequential_pass {
 public:
  using observer_fn = std::function<std::unique_ptr<layer_observer>(int layer, const batch&)>;

  // Embeds every batch's tokens: layer 0's inputs. `active` (optional): per layer, the experts
  // the router may choose (a pruned model), as in engine/eval.hpp.
  sequential_pass(runner& R, const token_file& tf, const batch_plan& plan, activation_store& store,
                  std::vector<std::vector<std::uint8_t>> active = {})
      : R_(R), plan_(plan), store_(store), active_(std::move(active)) {
    const auto& A = R.arch();
    const std::int64_t H = A.hidden, S = R.seq_len();
    R.each(plan.batches, [&](const batch& b, worker_scratch&) {
      std::vector<float> x(static_cast<std::size_t>(b.rows * S * H));
      embed_tokens(A, R.top(), tf.row(b.first_row), b.rows * S, x.data());
      store.put(activation_store::key(0, 0, b.index), std::move(x));
    });
  }

  // Layer l (the next one) with weights `lw`: every batch through it, observed by obs(l, batch)
  // if given; its inputs are kept for redo(l).
  void forward(int l, const linear_weights& lw, const observer_fn& obs = {}) {
    if (l != next_) throw error("sequential pass", "layer " + std::to_string(l) + " out of order");
    load(l, lw);
    R_.each(plan_.batches, [&](const batch& b, worker_scratch& s) {
      auto x = store_.take(in(l, b.index));
      std::vector<float> y(x.size());
      auto o = obs ? obs(l, b) : nullptr;
      R_.layer().forward(w_, x.data(), b.rows, y.data(), s.tape, o.get());
      store_.put(in(l, b.index), std::move(x));
      store_.put(in(l + 1, b.index), std::move(y));
    });
    ++next_;
  }
  // Layer l's outputs again, with its replaced weights `lw`: they are layer l+1's inputs.
  void redo(int l, const linear_weights& lw) {
    check_last(l);
    load(l, lw);
    R_.each(plan_.batches, [&](const batch& b, worker_scratch& s) {
      auto x = store_.take(in(l, b.index));
      auto y = store_.take(in(l + 1, b.index));
      R_.layer().forward(w_, x.data(), b.rows, y.data(), s.tape);
      store_.put(in(l + 1, b.index), std::move(y));
    });
  }
  // Layer l keeps the outputs forward(l) gave: drop its inputs.
  void skip(int l) {
    check_last(l);
    for (const auto& b : plan_.batches) (void)store_.take(in(l, b.index));
  }
  // After the last layer: f(batch, final hidden states) for every batch.
  void finish(const std::function<void(const batch&, const std::vector<float>&)>& f) {
    R_.each(plan_.batches, [&](const batch& b, worker_scratch&) {
      auto x = store_.take(in(next_, b.index));
      if (f) f(b, x);
    });
  }
  int next_layer() const noexcept { return next_; }

 private:
  static std::int64_t in(int l, int b) { return activation_store::key(0, l, b); }
  void load(int l, const linear_weights& lw) {
    R_.load(l, lw, w_);
    w_.active = active_.empty() ? std::vector<std::uint8_t>{} : active_[static_cast<std::size_t>(l)];
  }
  void check_last(int l) const {
    if (l != next_ - 1) throw error("sequential pass", "layer " + std::to_string(l) + " is not the last one forwarded");
  }

  runner& R_;
  const batch_plan& plan_;
  activation_store& store_;
  std::vector<std::vector<std::uint8_t>> active_;
  layer_weights w_;
  int next_ = 0;
};

inline void sequential_forward(runner& R, const token_file& tf, const batch_plan& plan, const linear_weights& initial,
                               const sequential_hooks& hooks, activation_store& store) {
  sequential_pass p(R, tf, plan, store);
  for (int l = 0; l < R.arch().layers; ++l) {
    p.forward(l, initial, hooks.observer);
    const linear_weights* next = hooks.layer_done ? hooks.layer_done(l) : nullptr;
    if (next) p.redo(l, *next);
    else p.skip(l);
  }
  p.finish(hooks.finish);
}

}  // namespace prismaquant::engine
