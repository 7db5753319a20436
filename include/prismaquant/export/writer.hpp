#pragma once
// Writes a compressed-tensors mixed-precision checkpoint from a source checkpoint and an
// export plan (export/plan.hpp): sharded safetensors + index, config.json with the
// quantization_config (export/quantization_config.hpp) and num_local_experts, the source's
// other files copied, export_report.json. Everything is written into a staging folder beside
// the target and published in one step (io/output_set.hpp); an error leaves the target as
// it was. Reruns write identical bytes (fixed tensor order, sorted JSON, no timestamps).
//
// Tensor order: tensors outside the decoder layers first (source order), then layer by layer
// in increasing layer order (each in source order). Per layer:
//   - the layer's Linears are quantized, fused siblings (q/k/v; an expert's w1/w3) with one
//     shared tensor pre-pass (one NVFP4 global scale, from the ORIGINAL weights' max amax and,
//     for W4A4, the max input amax), by the rounding policy (rounding/): RTN, GPTQ or
//     GPTQ+sweep for formats with scale blocks; FP8_SOURCE copies its source byte for byte
//     (weight_scale_inv stored as weight_scale), BF16 rounds to bf16
//   - a dropped expert's tensors are left out, kept experts renumbered densely
//   - the router weight keeps its rows of kept experts, in kept order, in its dtype; the
//     e_score_correction_bias likewise, stored as F32
//   - FP8 sources' weight_scale_inv are consumed
#include <prismaquant/export/calibration.hpp>
#include <prismaquant/export/quantization_config.hpp>
#include <prismaquant/formats/list.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/finite.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/io/safetensors.hpp>
#include <prismaquant/model/open.hpp>
#include <prismaquant/rounding/gptq.hpp>
#include <prismaquant/rounding/output_error.hpp>
#include <prismaquant/rounding/rtn.hpp>
#include <prismaquant/rounding/scale_sweep.hpp>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>

namespace prismaquant::exporter {

enum class rounding_kind { rtn, gptq, gptq_sweep };

inline rounding_kind parse_rounding(const std::string& s) {
  if (s == "rtn") return rounding_kind::rtn;
  if (s == "gptq") return rounding_kind::gptq;
  if (s == "gptq+sweep") return rounding_kind::gptq_sweep;
  throw error("--rounding", "must be rtn, gptq or gptq+sweep, got \"" + s + "\"");
}
inline const char* rounding_name(rounding_kind r) {
  return r == rounding_kind::rtn ? "rtn" : r == rounding_kind::gptq ? "gptq" : "gptq+sweep";
}

struct export_options {
  rounding_kind rounding = rounding_kind::rtn;
  rounding::gptq_options gptq{};
  std::uint64_t max_shard_bytes = 5'000'000'000;
  bool progress = true;  // one line per layer on stderr
  bool sync = true;
};

namespace detail {

// Calls fn.template operator()<F>() for the format type named `name`.
template <class Fn>
void with_format(std::string_view name, Fn&& fn) {
  bool found = false;
  auto pick = [&]<class F>() {
    if (!found && F::name == name) {
      found = true;
      fn.template operator()<F>();
    }
  };
  formats::all_formats::for_each(pick);
  formats::mx_rule_variants::for_each(pick);
  if (!found) throw error("format", "no format type named " + std::string(name));
}

// One source Linear weight, readable as a weight_view.
struct source_linear {
  std::string weight_name;
  tensor_view t;
  std::vector<float> scale_inv;
  formats::weight_view view() const {
    return formats::weight_view::from_bytes(t.bytes.data(), t.type, static_cast<std::int64_t>(t.shape[0]),
                                            static_cast<std::int64_t>(t.shape[1]), weight_name,
                                            scale_inv.empty() ? nullptr : scale_inv.data(), 128);
  }
};

inline source_linear read_linear(const checkpoint& ck, const std::string& module) {
  source_linear s;
  s.weight_name = module + ".weight";
  s.t = ck.tensor(s.weight_name);
  require_finite(s.t);
  if (s.t.type == dtype::F8_E4M3) {
    const auto si = ck.tensor(module + ".weight_scale_inv");
    require_finite(si);
    if (si.type == dtype::F32) s.scale_inv = si.to_vector<float>();
    else {  // BF16 scales: widened exactly
      const auto b = si.to_vector<std::uint16_t>();
      for (auto h : b) s.scale_inv.push_back(bf16::from_bits(h).to_float());
    }
  }
  return s;
}

inline int layer_of(std::string_view name) {
  constexpr std::string_view p = "model.layers.";
  if (!name.starts_with(p)) return -1;
  name.remove_prefix(p.size());
  int v = 0;
  std::size_t i = 0;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) v = v * 10 + (name[i] - '0');
  return i > 0 && i < name.size() && name[i] == '.' ? v : -1;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw error(p.string(), "cannot open");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace detail

struct linear_report {
  std::string module;  // checkpoint name in the export
  std::string format;
  std::string rounding;
  std::int64_t rows_seen = 0;
  double output_error_rtn = -1;  // tr(ΔW H ΔWᵀ); -1: no Hessian
  double output_error = -1;
};

// The files of the source folder copied into the export (everything but the weights and
// config.json; hidden files skipped).
inline std::vector<std::filesystem::path> files_to_copy(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> v;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
    const std::string n = de.path().filename().string();
    if (!de.is_regular_file() || n.starts_with(".") || n.ends_with(".safetensors") ||
        n.ends_with(".safetensors.index.json") || n == "config.json" || n == "export_report.json")
      continue;
    v.push_back(de.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

// Writes the export into `out` (see the header comment). `cal` may be null (no calibration:
// RTN only, and no W4A4). Returns the per-Linear report.
inline std::vector<linear_report> write_export(const model::opened_model& m, const export_plan& p,
                                               const export_options& o, calibration_source* cal,
                                               const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  const auto& d = m.description;
  const checkpoint& ck = *m.weights;
  if (o.rounding != rounding_kind::rtn && !cal)
    throw error("--rounding", std::string(rounding_name(o.rounding)) + " needs calibration tokens (--calib)");
  if (p.any_w4a4() && !cal)
    throw error("--layer-config", "NVFP4 (W4A4) stores input_global_scale from the calibration inputs' amax: give "
                                  "--calib, or export weight-only with --weight-only");

  const auto copies = files_to_copy(m.dir);
  std::set<std::string> ours{"config.json", "export_report.json", "model.safetensors", "model.safetensors.index.json"};
  for (const auto& f : copies) ours.insert(f.filename().string());
  output_set os(out, publish_mode::replace_folder, [ours](const fs::path& e) {
    const std::string n = e.filename().string();
    return ours.count(n) || (n.starts_with("model-") && n.ends_with(".safetensors"));
  }, out.string());

  // which tensor is what
  std::map<std::string, int> linear_of_weight, linear_of_scale;
  for (std::size_t i = 0; i < d.linears.size(); ++i) {
    linear_of_weight[d.linears[i].name + ".weight"] = static_cast<int>(i);
    if (d.linears[i].source == model::source_format::fp8_block128)
      linear_of_scale[d.linears[i].name + ".weight_scale_inv"] = static_cast<int>(i);
  }
  std::map<std::string, const moe_plan*> router_weight, bias;
  for (const auto& mp : p.moe) {
    router_weight[mp.router + ".weight"] = &mp;
    if (!mp.correction_bias.empty()) bias[mp.correction_bias] = &mp;
  }
  std::map<int, const linear_plan*> plan_of;
  for (const auto& lp : p.linears) plan_of[lp.index] = &lp;

  std::vector<std::string> top;
  std::map<int, std::vector<std::string>> per_layer;
  for (const auto& t : m.tensors) {
    const int l = detail::layer_of(t.name);
    (l < 0 ? top : per_layer[l]).push_back(t.name);
  }

  checkpoint_writer_options wo;
  wo.max_shard_bytes = o.max_shard_bytes;
  wo.sync = o.sync;
  checkpoint_writer w(os.staging(), wo);
  auto copy = [&](const std::string& name) {
    const auto t = ck.tensor(name);
    w.add(tensor_spec{name, t.type, {t.shape.begin(), t.shape.end()}}, t.bytes);
  };
  for (const auto& n : top) copy(n);

  std::vector<linear_report> report;
  std::vector<std::vector<int>> groups_of_layer;
  const int n_layers = per_layer.empty() ? 0 : per_layer.rbegin()->first + 1;
  for (const auto& [layer, names] : per_layer) {
    if (o.progress) std::fprintf(stderr, "export: layer %d/%d\n", layer + 1, n_layers);
    std::map<int, linear_calibration> lc;
    if (cal) lc = cal->measure_layer(layer);
    std::map<int, formats::encoded_weight> enc;
    // quantize the layer's kept Linears, fused groups together
    std::set<int> done;
    auto group_of = [&](int li) {
      for (const auto& g : d.fused_groups)
        if (std::find(g.begin(), g.end(), li) != g.end()) {
          std::vector<int> v;
          for (int x : g)
            if (plan_of.count(x)) v.push_back(x);
          return v;
        }
      return std::vector<int>{li};
    };
    for (const auto& lp : p.linears) {
      const auto& l = d.linears[static_cast<std::size_t>(lp.index)];
      if (l.layer != layer || done.count(lp.index)) continue;
      const std::vector<int> members = group_of(lp.index);
      std::vector<detail::source_linear> src;
      std::vector<formats::weight_view> views;
      for (int x : members) src.push_back(detail::read_linear(ck, d.linears[static_cast<std::size_t>(x)].name));
      for (const auto& s : src) views.push_back(s.view());
      formats::tensor_stats stats = formats::measure_group(views);
      for (int x : members) {
        auto it = lc.find(x);
        if (it != lc.end()) stats.input_amax = std::max(stats.input_amax, it->second.input_amax);
      }
      if (lp.scheme.w4a4_nvfp4() && !(stats.input_amax > 0.0f))
        throw error(l.name, "NVFP4 (W4A4) needs the Linear's calibration input amax, and calibration saw no input "
                            "(an expert no token was routed to?); export it weight-only");
      for (std::size_t k = 0; k < members.size(); ++k) {
        const int x = members[k];
        const linear_plan& xp = *plan_of.at(x);
        const auto& xl = d.linears[static_cast<std::size_t>(x)];
        linear_report rep;
        rep.module = xp.out_module;
        rep.format = xp.scheme.encoder;
        const linear_calibration* c = lc.count(x) ? &lc.at(x) : nullptr;
        rep.rows_seen = c ? c->rows : 0;
        const bool has_h = c && !c->xtx.empty();
        if (has_h && static_cast<std::int64_t>(c->xtx.size()) != xl.in_features * xl.in_features)
          throw error(xl.name, "calibration Hessian has the wrong size");
        const rounding::calibration rc{has_h ? c->xtx.data() : nullptr, has_h ? xl.in_features : 0};
        std::vector<float> deq;
        detail::with_format(xp.scheme.encoder, [&]<class F>() {
          if constexpr (rounding::has_scale_blocks<F>) {
            const rounding::weight_matrix wm = rounding::weight_matrix::from_view(views[k]);
            rounding::quantized<F> q;
            const bool rtn = o.rounding == rounding_kind::rtn || !has_h;
            if (rtn) q = rounding::rtn{}.quantize<F>(wm, stats, rc);
            else if (o.rounding == rounding_kind::gptq) q = rounding::gptq{o.gptq}.quantize<F>(wm, stats, rc);
            else q = rounding::swept<rounding::gptq>{rounding::gptq{o.gptq}, {}}.quantize<F>(wm, stats, rc);
            rep.rounding = rtn ? "rtn" : rounding_name(o.rounding);
            enc[x] = q.encode();
            deq = q.dequantize();
            if (has_h) {
              const std::vector<float> r = rtn ? deq : rounding::rtn{}.quantize<F>(wm, stats, rc).dequantize();
              rep.output_error_rtn = rounding::output_error(wm.values.data(), r.data(), wm.rows, wm.cols, c->xtx.data());
              rep.output_error = rtn ? rep.output_error_rtn
                                     : rounding::output_error(wm.values.data(), deq.data(), wm.rows, wm.cols, c->xtx.data());
            }
          } else {  // FP8_SOURCE (byte copy of an FP8 source) or BF16: nothing to choose
            enc[x] = formats::encode<F>(views[k], stats);
            deq = formats::decode<F>(enc[x], xl.name);
            rep.rounding = "none";
            if (has_h) {
              const rounding::weight_matrix wm = rounding::weight_matrix::from_view(views[k]);
              rep.output_error_rtn = rep.output_error =
                  rounding::output_error(wm.values.data(), deq.data(), wm.rows, wm.cols, c->xtx.data());
            }
          }
        });
        if (cal) cal->set_weight(x, deq);
        report.push_back(std::move(rep));
        done.insert(x);
      }
    }
    // emit the layer's tensors in source order
    for (const auto& name : names) {
      if (auto it = linear_of_weight.find(name); it != linear_of_weight.end()) {
        if (p.dropped[static_cast<std::size_t>(it->second)]) continue;
        const linear_plan& lp = *plan_of.at(it->second);
        for (const auto& t : enc.at(it->second).tensors)
          w.add(tensor_spec{lp.out_module + "." + t.suffix, t.type, {t.shape.begin(), t.shape.end()}},
                std::as_bytes(std::span(t.bytes)));
        enc.erase(it->second);
        continue;
      }
      if (linear_of_scale.count(name)) continue;  // consumed (FP8_SOURCE stores it as weight_scale)
      if (auto it = router_weight.find(name); it != router_weight.end()) {
        const auto t = ck.tensor(name);
        const moe_plan& mp = *it->second;
        const std::size_t row = t.bytes.size() / static_cast<std::size_t>(t.shape[0]);
        std::vector<std::byte> b;
        for (int e : mp.kept) b.insert(b.end(), t.bytes.begin() + e * row, t.bytes.begin() + (e + 1) * row);
        w.add(tensor_spec{name, t.type, {mp.kept.size(), t.shape[1]}}, b);
        continue;
      }
      if (auto it = bias.find(name); it != bias.end()) {
        const auto t = ck.tensor(name);
        const moe_plan& mp = *it->second;
        if (t.rank() != 1 || static_cast<int>(t.shape[0]) != mp.num_experts)
          throw error(name, "e_score_correction_bias must have one entry per expert");
        std::vector<float> v;
        for (int e : mp.kept) {
          float f = 0;
          if (t.type == dtype::F32) std::memcpy(&f, t.bytes.data() + 4 * e, 4);
          else if (t.type == dtype::BF16) {
            std::uint16_t h;
            std::memcpy(&h, t.bytes.data() + 2 * e, 2);
            f = bf16::from_bits(h).to_float();
          } else throw error(name, "e_score_correction_bias must be F32 or BF16");
          v.push_back(f);
        }
        w.add(tensor_spec{name, dtype::F32, {v.size()}}, std::as_bytes(std::span(v)));
        continue;
      }
      // a dropped expert's other tensors (none in MiniMax-M2 beyond weights) and the rest
      bool dropped_tensor = false;
      for (const auto& mp : p.moe)
        for (int e = 0; e < mp.num_experts && !dropped_tensor; ++e)
          if (!std::binary_search(mp.kept.begin(), mp.kept.end(), e)) {
            const std::string pre = "model.layers." + std::to_string(mp.layer) + ".block_sparse_moe.experts." + std::to_string(e) + ".";
            dropped_tensor = name.starts_with(pre);
          }
      if (!dropped_tensor) copy(name);
    }
  }
  w.finish();

  // config.json
  nlohmann::json cfg = m.config;
  cfg["quantization_config"] = quantization_config(d, p);
  if (p.kept_experts >= 0) cfg["num_local_experts"] = p.kept_experts;
  write_file_atomic(os.staging() / "config.json", cfg.dump(2) + "\n", o.sync);
  for (const auto& f : copies) write_file_atomic(os.staging() / f.filename(), detail::read_text(f), o.sync);

  nlohmann::json rep = nlohmann::json::object();
  for (const auto& r : report) {
    nlohmann::json e = {{"format", r.format}, {"rounding", r.rounding}, {"rows_seen", r.rows_seen}};
    e["output_error_rtn"] = r.output_error_rtn >= 0 ? nlohmann::json(r.output_error_rtn) : nlohmann::json(nullptr);
    e["output_error"] = r.output_error >= 0 ? nlohmann::json(r.output_error) : nlohmann::json(nullptr);
    rep[r.module] = e;
  }
  nlohmann::json top_rep = {{"rounding", rounding_name(o.rounding)},
                            {"weight_only", p.weight_only},
                            {"loader", p.target == loader::vllm ? "vllm" : "transformers"},
                            {"num_local_experts", p.kept_experts},
                            {"linears", rep}};
  write_file_atomic(os.staging() / "export_report.json", top_rep.dump(1) + "\n", o.sync);
  os.publish();
  return report;
}

}  // namespace prismaquant::exporter
