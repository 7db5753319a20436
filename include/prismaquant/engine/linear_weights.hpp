#pragma once
// Where a Linear's weight comes from: the engine asks a `linear_weights` provider for the
// float32 weight [out, in] of each Linear when it loads a layer, and never cares which it is:
//   source_weights       the checkpoint, dequantized exactly (probe, plain eval)
//   round_trip_weights   each Linear through a format's quantize-dequantize (eval --layer-config;
//                        engine/round_trip_weights.hpp)
//   override_weights     given weights for some Linears (an exporter's GPTQ output, layer by
//                        layer), another provider for the rest
// Providers are called from several threads at once (one Linear each): load() must be
// thread-safe.
#include <prismaquant/engine/checkpoint_tensor.hpp>
#include <prismaquant/model/profile.hpp>
#include <prismaquant/nn/input_quantizer.hpp>

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace prismaquant::engine {

class linear_weights {
 public:
  virtual ~linear_weights() = default;
  // out: [l.out_features × l.in_features] row-major float32.
  virtual void load(const model::linear_info& l, float* out) const = 0;
  // The quantization a served model applies to this Linear's input (none by default: only a
  // checkpoint whose schemes quantize activations has one, engine/compressed_weights.hpp).
  virtual nn::input_quantizer input_quantizer(const model::linear_info&) const { return {}; }
};

class source_weights final : public linear_weights {
 public:
  explicit source_weights(const checkpoint& ck) : ck_(ck) {}
  void load(const model::linear_info& l, float* out) const override {
    const auto s = open_source_weight(ck_, l.name, l.out_features, l.in_features);
    dequantize(s.view, out);
  }

 private:
  const checkpoint& ck_;
};

class override_weights final : public linear_weights {
 public:
  explicit override_weights(const linear_weights& fallback) : fallback_(fallback) {}
  // w: [out × in] row-major; replaces what the fallback would give for `module`.
  void set(const std::string& module, std::vector<float> w) {
    std::lock_guard lock(mu_);
    w_[module] = std::move(w);
  }
  void erase(const std::string& module) {
    std::lock_guard lock(mu_);
    w_.erase(module);
  }
  void load(const model::linear_info& l, float* out) const override {
    {
      std::lock_guard lock(mu_);
      const auto it = w_.find(l.name);
      if (it != w_.end()) {
        if (static_cast<std::int64_t>(it->second.size()) != l.out_features * l.in_features)
          throw error(l.name, "override weight has " + std::to_string(it->second.size()) + " elements, expected " +
                                  std::to_string(l.out_features * l.in_features));
        std::copy(it->second.begin(), it->second.end(), out);
        return;
      }
    }
    fallback_.load(l, out);
  }

 private:
  const linear_weights& fallback_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<float>> w_;
};

}  // namespace prismaquant::engine
