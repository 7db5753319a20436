// `prismaquant quantize --format NAME --in W.safetensors --out Q.safetensors [--group a,b,c]...`
//
// Encodes every 2-D floating-point tensor `<m>.weight` (F32, BF16, F16, or F8_E4M3 with its
// `<m>.weight_scale_inv` 128x128 block multipliers) into the format's compressed-tensors
// tensors `<m>.<suffix>` (`weight_packed`, `weight_scale`, `weight_global_scale`, ... exactly
// as formats::encode names them) and copies every other tensor unchanged. An FP8 source's
// `weight_scale_inv` is consumed, not copied.
//
// --group a,b,c (repeatable): the listed weights are measured together and share one tensor
//   pre-pass (max |w| over the group), hence one NVFP4 global scale — fused siblings such as
//   q/k/v or an expert's w1/w3. Names are module names (`model.layers.0.self_attn.q_proj`) or
//   weight names (`...q_proj.weight`); each must be a weight this command encodes.
// --ignore NAME (repeatable): module or weight names to copy unchanged instead of encoding.
//
// --in may also be a checkpoint folder or index (anything prismaquant::checkpoint opens); the
// output is always one file, written atomically (a temporary name renamed at the end), so an
// error never leaves a partial output. Tensors are streamed: one encoded weight in memory.
#include "command.hpp"
#include <prismaquant/cli/options.hpp>

#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/finite.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/io/safetensors.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <unistd.h>

namespace pq = prismaquant;
namespace pf = prismaquant::formats;

namespace {

bool ends_with(std::string_view s, std::string_view suf) { return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf; }

// "<m>.weight" -> "<m>"; a bare "weight" has the empty module name.
std::string module_of(std::string_view weight) {
  return std::string(weight.substr(0, weight.size() >= 7 ? weight.size() - 7 : 0));
}
std::string join(const std::string& module, const std::string& suffix) { return module.empty() ? suffix : module + "." + suffix; }

// A name given on the command line -> the weight tensor name.
std::string as_weight(const std::string& n) { return n == "weight" || ends_with(n, ".weight") ? n : n + ".weight"; }

struct source_weight {
  pq::tensor_view view;
  std::vector<float> scale_inv;  // F8_E4M3 sources: copied (the mapped bytes may be unaligned)
};

int run_quantize(const std::string& format, const std::string& in, const std::string& out,
                 const std::vector<std::string>& groups, const std::vector<std::string>& ignores) {
  const pf::format_entry& fmt = pf::find(format, "--format");
  const std::filesystem::path out_file(out);
  pq::output_set out_set(out_file.parent_path().empty() ? std::filesystem::path(".") : out_file.parent_path(),
                         pq::publish_mode::replace_files, {}, "--out " + out);
  pq::checkpoint ck(in);
  ck.validate();

  // Tensors in file order (shard by shard).
  std::vector<pq::tensor_view> all;
  for (const auto& f : ck.files())
    for (const auto& v : ck.file(f).tensors()) all.push_back(v);

  std::set<std::string> ignored;
  for (const auto& n : ignores) {
    if (!ck.contains(as_weight(n))) throw pq::error("--ignore", "no tensor \"" + as_weight(n) + "\" in " + in);
    ignored.insert(as_weight(n));
  }

  // Which tensors get encoded: 2-D floating-point "<m>.weight".
  std::map<std::string, source_weight> enc;
  std::set<std::string> consumed;  // weight_scale_inv of FP8 sources
  for (const auto& v : all) {
    const std::string name(v.name);
    if (!(name == "weight" || ends_with(name, ".weight")) || v.rank() != 2 || !pq::is_floating(v.type) ||
        ignored.count(name))
      continue;
    source_weight s{v, {}};
    const std::string where = std::string(v.file) + ": tensor \"" + name + "\"";
    if (v.type == pq::dtype::F8_E4M3) {
      const std::string si = join(module_of(name), "weight_scale_inv");
      if (!ck.contains(si)) throw pq::error(where, "F8_E4M3 weight without \"" + si + "\" block scales");
      auto sv = ck.tensor(si);
      const std::uint64_t br = (v.shape[0] + 127) / 128, bc = (v.shape[1] + 127) / 128;
      if (sv.type != pq::dtype::F32 || sv.rank() != 2 || sv.shape[0] != br || sv.shape[1] != bc)
        throw pq::error(std::string(sv.file) + ": tensor \"" + si + "\"",
                        "expected F32 [" + std::to_string(br) + "," + std::to_string(bc) + "] 128x128 block scales, got " +
                            std::string(pq::dtype_name(sv.type)) + " " + pq::detail::shape_string(sv.shape));
      pq::require_finite(sv);
      s.scale_inv = sv.to_vector<float>();
      consumed.insert(si);
    } else if (v.type != pq::dtype::F32 && v.type != pq::dtype::BF16 && v.type != pq::dtype::F16) {
      throw pq::error(where, "cannot quantize a " + std::string(pq::dtype_name(v.type)) +
                                 " weight (supported: F32, BF16, F16, F8_E4M3 with weight_scale_inv)");
    }
    fmt.check_shape(static_cast<std::int64_t>(v.shape[0]), static_cast<std::int64_t>(v.shape[1]), where);
    enc.emplace(name, std::move(s));
  }
  auto view_of = [&](const std::string& name) {
    const source_weight& s = enc.at(name);
    return pf::weight_view::from_bytes(s.view.bytes.data(), s.view.type, static_cast<std::int64_t>(s.view.shape[0]),
                                       static_cast<std::int64_t>(s.view.shape[1]), s.view.name,
                                       s.scale_inv.empty() ? nullptr : s.scale_inv.data(), 128);
  };

  // Groups: one shared pre-pass each.
  std::map<std::string, std::size_t> group_of;
  std::vector<std::vector<std::string>> members;
  for (const auto& g : groups) {
    std::vector<std::string> m;
    std::stringstream ss(g);
    for (std::string item; std::getline(ss, item, ',');) {
      if (item.empty()) throw pq::error("--group " + g, "empty name");
      const std::string w = as_weight(item);
      if (!enc.count(w))
        throw pq::error("--group " + g, "\"" + item + "\" is not a 2-D floating-point weight encoded from " + in);
      if (!group_of.emplace(w, members.size()).second) throw pq::error("--group " + g, "\"" + w + "\" is in two groups");
      m.push_back(w);
    }
    if (m.empty()) throw pq::error("--group", "empty group");
    members.push_back(std::move(m));
  }
  std::vector<pf::tensor_stats> group_stats;
  for (const auto& m : members) {
    std::vector<pf::weight_view> vs;
    for (const auto& w : m) vs.push_back(view_of(w));
    group_stats.push_back(pf::measure_group(vs));
  }

  pq::checkpoint_writer_options o;
  o.single_file = true;
  o.metadata = {{"format", "pt"}};
  pq::checkpoint_writer w(out_set.path(out_file.filename().string()), o);
  std::size_t n_enc = 0, n_copy = 0;
  const bool progress = ::isatty(2);  // a live counter on a terminal; logs get the summary line
  std::uint64_t bytes_in = 0;
  for (const auto& v : all) {
    const std::string name(v.name);
    if (consumed.count(name)) {
      bytes_in += v.bytes.size();
      continue;
    }
    auto it = enc.find(name);
    if (it == enc.end()) {
      w.add(pq::tensor_spec{name, v.type, {v.shape.begin(), v.shape.end()}}, v.bytes);
      bytes_in += v.bytes.size();
      ++n_copy;
      continue;
    }
    const pf::weight_view wv = view_of(name);
    auto g = group_of.find(name);
    pf::encoded_weight e;
    try {
      const pf::tensor_stats st = g != group_of.end() ? group_stats[g->second] : pf::measure(wv);
      e = fmt.encode(wv, st);
    } catch (const pq::error& err) {  // the format names the tensor; add the file
      if (progress) std::fprintf(stderr, "\n");
      throw pq::error(std::string(v.file), err.what());
    }
    const std::string m = module_of(name);
    for (const auto& t : e.tensors) {
      std::vector<std::uint64_t> shape(t.shape.begin(), t.shape.end());
      w.add(pq::tensor_spec{join(m, t.suffix), t.type, shape}, std::as_bytes(std::span(t.bytes)));
    }
    bytes_in += v.bytes.size();
    ++n_enc;
    if (progress) std::fprintf(stderr, "\rquantize: %zu/%zu weights encoded", n_enc, enc.size());
  }
  if (progress && n_enc) std::fprintf(stderr, "\n");
  w.finish();
  out_set.publish();
  std::printf("wrote %s: %zu weights encoded as %s, %zu tensors copied; %llu bytes in, %llu bytes out\n",
              out.c_str(), n_enc, std::string(fmt.name).c_str(), n_copy, static_cast<unsigned long long>(bytes_in),
              static_cast<unsigned long long>(w.total_bytes()));
  return 0;
}

pq::tool::registration reg{
    "quantize", "Encode every 2-D floating-point <m>.weight of a safetensors file into one format's compressed-tensors tensors",
    [](CLI::App& sub) {
      auto format = std::make_shared<std::string>();
      auto in = std::make_shared<std::string>();
      auto out = std::make_shared<std::string>();
      auto groups = std::make_shared<std::vector<std::string>>();
      auto ignores = std::make_shared<std::vector<std::string>>();
      namespace check = pq::cli::check;
      std::vector<std::string> names;
      for (const auto& f : pf::registry()) names.emplace_back(f.name);
      sub.add_option("--format", *format, "Format name (NVFP4, MXFP4, FP8_E4M3, INT4_W4A16_g128, ...)")
          ->required()
          ->check(check::one_of(names));
      sub.add_option("--in", *in, "Input .safetensors file (or checkpoint folder / index)")
          ->required()
          ->check(check::existing_path());
      sub.add_option("--out", *out, "Output .safetensors file (written atomically)")->required()->check(check::output_file());
      sub.add_option("--group", *groups,
                     "Comma-separated module or weight names sharing one tensor pre-pass (one NVFP4 global scale); repeatable")
          ->take_all();
      sub.add_option("--ignore", *ignores, "Module or weight name to copy unchanged; repeatable")->take_all();
      return [=] { return run_quantize(*format, *in, *out, *groups, *ignores); };
    }};

}  // namespace
