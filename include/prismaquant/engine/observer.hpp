#pragma once
// Observers: what is measured while the engine runs is attached from outside. A layer shows
// each Linear's rows and each router's routing to a `layer_observer`, and computes the extra
// quantities an observer asks for (its needs()) — nothing else. The blocks never know which
// statistics are collected; the probe's observers (probe/observers.hpp) are keyed by the
// statistics vocabulary (stats/statistic.hpp), an exporter brings its own (e.g. full XᵀX).
//
// One observer instance sees one batch of one layer (the engine creates it per batch through a
// factory), so per-batch quantities (G_b = Σ_{t∈b} δ_t x_tᵀ) are complete within one call.
#include <cstdint>

namespace prismaquant::engine {

// A Linear's rows in one batch: x [m × in] its inputs, and in a backward delta [m × out] the
// loss gradient at its output (null in a forward). Row strides ldx / ldd. `linear` indexes the
// model description's Linears.
struct linear_rows {
  int linear = -1;
  const float* x = nullptr;
  std::int64_t ldx = 0;
  const float* delta = nullptr;
  std::int64_t ldd = 0;
  std::int64_t m = 0, in = 0, out = 0;
};

// A router's view of one batch (every token of it). Arrays are [tokens × k], slot order of the
// selection. reroute_* are filled only when the observer asked for re-routing.
struct router_rows {
  int layer = -1;
  std::int64_t tokens = 0;
  int k = 0, experts = 0;
  const int* expert = nullptr;        // selected expert ids
  const float* weight = nullptr;      // g: the weight the expert output is scaled by
  const double* out_norm = nullptr;   // ‖f_e(x_t)‖₂, the expert output before gating
  const double* reroute_dot = nullptr;  // δ_t·Δy_t (δ = dL/d MoE output; Δy: the expert excluded)
  const double* reroute_sq = nullptr;   // ‖Δy_t‖²
};

struct observer_needs {
  bool linear_inputs = false;  // forward: linear_forward() with every Linear's inputs
  bool linear_grads = false;   // backward: linear_backward() with inputs and output gradients
  bool router = false;         // backward: router_backward() with routing and expert output norms
  bool reroute = false;        // ... and the re-routing terms (one more expert forward per token)
};

class layer_observer {
 public:
  virtual ~layer_observer() = default;
  virtual observer_needs needs() const = 0;
  virtual void linear_forward(const linear_rows&) {}
  virtual void linear_backward(const linear_rows&) {}
  virtual void router_backward(const router_rows&) {}
};

}  // namespace prismaquant::engine
