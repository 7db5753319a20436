#pragma once
// The exporter's calibration from the model engine (export/calibration.hpp): llm-compressor's
// sequential scheme on CPU. measure_layer(L) runs every calibration batch through decoder layer
// L — its inputs being the outputs of layers < L as exported (their Linears replaced by the
// dequantized weights the exporter handed back with set_weight) — and returns, per Linear of L,
// the full XᵀX (GPTQ's Hessian, up to a factor GPTQ does not see), the input amax (NVFP4 W4A4's
// input_global_scale) and the tokens seen. Experts see only the tokens routed to them; with a
// prune manifest the router chooses among the kept experts only, as the exported model will.
//
//   engine::runner R(model, gemm, threads, seq_len);
//   exporter::sequential_calibration cal(R, tokens, {.batch_rows = 4}, active);
//   exporter::write_export(model, plan, options, &cal, out);
//
// Layers are asked for in order (the exporter does). Memory: one layer boundary's activations
// (activation_store: within max_memory, spilling beyond) and one layer's XᵀX per Linear, in
// double while accumulated (in² × 8 bytes each). Host only; links prismaquant::blas.
#include <prismaquant/engine/sequential.hpp>
#include <prismaquant/export/calibration.hpp>
#include <prismaquant/probe/layer_statistics.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace prismaquant::exporter {

struct calibration_options {
  std::int64_t batch_rows = 4;
  std::uint64_t max_memory = 8'000'000'000ull;  // activations kept in memory
  std::filesystem::path tmp_dir;                // where the rest spills
  int token_bytes = 2;
};

class sequential_calibration final : public calibration_source {
  using stats_t = probe::layer_statistics<stat::list<stat::xtx, stat::input_amax>>;

 public:
  sequential_calibration(engine::runner& R, const std::filesystem::path& tokens, const calibration_options& o,
                         std::vector<std::vector<std::uint8_t>> active = {})
      : R_(R),
        tf_(engine::read_token_file(tokens, R.seq_len(), R.arch().vocab, R.arch().max_positions, o.token_bytes)),
        plan_(engine::plan_batches(tf_, {"default"}, o.batch_rows)),
        store_(o.max_memory, o.tmp_dir),
        source_(*R.model().weights),
        weights_(source_),
        pass_(R, tf_, plan_, store_, std::move(active)) {}

  std::map<int, linear_calibration> measure_layer(int layer) override {
    if (layer != pass_.next_layer())
      throw error("calibration", "layer " + std::to_string(layer) + " asked for out of order (next: " +
                                     std::to_string(pass_.next_layer()) + ")");
    finish_previous();
    const auto& d = R_.model().description;
    stats_ = std::make_unique<stats_t>(R_.arch(), d, layer, plan_.domains);
    pass_.forward(layer, weights_, [&](int, const engine::batch& b) {
      std::lock_guard lock(mu_);
      return stats_->observer(b.domain, R_.gemm(), true);
    });
    std::map<int, linear_calibration> out;
    const auto& t = R_.arch().layer[static_cast<std::size_t>(layer)];
    std::vector<int> ids{t.q, t.k, t.v, t.o};
    for (const auto& x : t.experts) ids.insert(ids.end(), x.begin(), x.end());
    for (int i : ids) {
      linear_calibration c;
      c.rows = stats_->rows_seen(i);
      c.input_amax = static_cast<float>(stats_->get<stat::input_amax>(i).amax);
      if (c.rows > 0) {
        const auto h = stats_->get<stat::xtx>(i).v.values();
        c.xtx.assign(h.begin(), h.end());
      }
      out[i] = std::move(c);
    }
    stats_.reset();
    layer_ = layer;
    return out;
  }

  void set_weight(int linear, const std::vector<float>& dequantized) override {
    const auto& l = R_.model().description.linears.at(static_cast<std::size_t>(linear));
    weights_.set(l.name, dequantized);
    replaced_.push_back(l.name);
  }

 private:
  // The previous layer's outputs, recomputed with the weights the exporter wrote; its
  // replacements are then dropped (they are never read again).
  void finish_previous() {
    if (layer_ < 0) return;
    if (replaced_.empty()) {
      pass_.skip(layer_);
    } else {
      pass_.redo(layer_, weights_);
      for (const auto& n : replaced_) weights_.erase(n);
      replaced_.clear();
    }
  }

  engine::runner& R_;
  engine::token_file tf_;
  engine::batch_plan plan_;
  engine::activation_store store_;
  engine::source_weights source_;
  engine::override_weights weights_;
  engine::sequential_pass pass_;
  std::unique_ptr<stats_t> stats_;
  std::mutex mu_;
  std::vector<std::string> replaced_;
  int layer_ = -1;
};

}  // namespace prismaquant::exporter
