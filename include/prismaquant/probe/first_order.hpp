#pragma once
// What the probe's first-order statistic needs per Linear: ΔW_f = Q_f(W) − W for each format f
// asked for, where Q_f(W) is the round trip a quantized checkpoint holds
// (engine::round_trip_weights: fused siblings in one format share one pre-pass, as the exporter
// writes them). Formats that do not fit a Linear (shape, source dtype) are left out for it, as the
// cost pass leaves them out.
//
//   probe::first_order_deltas fo(ck, description, {"NVFP4", "MXFP4"});
//   stats_l.set_first_order(i, fo.targets(i));   // before the layer's first batch
//
// Memory: one float per weight and format, for the Linears whose targets are alive (one layer
// when the probe streams layers; every layer when it keeps them all resident).
#include <prismaquant/engine/round_trip_weights.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/probe/linear_statistics.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace prismaquant::probe {

class first_order_deltas {
 public:
  // `formats`: registry names, as the registry spells them.
  first_order_deltas(const checkpoint& ck, const model::model_description& d, const std::vector<std::string>& formats,
                     const std::string& where = "--first-order")
      : d_(d), source_(ck) {
    for (const auto& n : formats) {
      const auto* f = formats::find_if_known(n);
      if (!f) throw error(where, "unknown format \"" + n + "\"");
      for (const auto& e : entries_)
        if (e.format == f) throw error(where, "format " + std::string(f->name) + " is named twice");
      std::map<std::string, std::string> all;  // every Linear the format fits, so siblings share its pre-pass
      for (const auto& l : d.linears)
        if (fits(*f, l)) all.emplace(l.name, std::string(f->name));
      entries_.push_back({f, std::make_unique<engine::round_trip_weights>(ck, d, std::move(all))});
    }
  }

  bool empty() const noexcept { return entries_.empty(); }

  // ΔW of Linear `linear` (model description index) for every format that fits it.
  std::vector<first_order_target> targets(int linear) const {
    const auto& l = d_.linears.at(static_cast<std::size_t>(linear));
    const std::size_t n = static_cast<std::size_t>(l.out_features * l.in_features);
    std::vector<float> w(n);
    source_.load(l, w.data());
    std::vector<first_order_target> out;
    for (const auto& e : entries_) {
      if (!fits(*e.format, l)) continue;
      first_order_target t{std::string(e.format->name), std::vector<float>(n)};
      e.weights->load(l, t.delta.data());
      for (std::size_t i = 0; i < n; ++i) t.delta[i] -= w[i];
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  static bool fits(const formats::format_entry& f, const model::linear_info& l) {
    if (!f.allows(l.source)) return false;
    try {
      f.check_shape(l.out_features, l.in_features, l.name);
    } catch (const error&) {
      return false;
    }
    return true;
  }
  struct entry {
    const formats::format_entry* format;
    std::unique_ptr<engine::round_trip_weights> weights;
  };
  const model::model_description& d_;
  engine::source_weights source_;
  std::vector<entry> entries_;
};

}  // namespace prismaquant::probe
