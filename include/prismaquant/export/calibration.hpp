#pragma once
// What calibration gives the exporter, layer by layer (the sequential scheme of
// llm-compressor's pipeline): for decoder layer L, the statistics of every Linear of L
// measured by a forward of the calibration tokens through a model whose layers < L already
// hold their exported (quantized) weights. The exporter hands each quantized weight back
// (set_weight) before it asks for the next layer.
//
//   xtx         H = Σ_t x_t x_tᵀ over every calibration token the Linear sees (an expert: the
//               tokens routed to it), row-major in x in; empty: none (RTN only)
//   input_amax  max_t,j |x_tj| (NVFP4 W4A4 input_global_scale); 0 = unknown
//   rows        tokens seen
#include <cstdint>
#include <map>
#include <vector>

namespace prismaquant::exporter {

struct linear_calibration {
  std::vector<float> xtx;
  float input_amax = 0.0f;
  std::int64_t rows = 0;
};

class calibration_source {
 public:
  virtual ~calibration_source() = default;
  // Statistics of decoder layer `layer`'s Linears, keyed by model Linear index.
  virtual std::map<int, linear_calibration> measure_layer(int layer) = 0;
  // The exported weight of model Linear `linear` as a client dequantizes it (float32 [out, in]).
  virtual void set_weight(int linear, const std::vector<float>& dequantized) = 0;
};

}  // namespace prismaquant::exporter
