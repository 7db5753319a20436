// `prismaquant inspect --model DIR [--json]`: what a checkpoint holds — parameters and bytes
// per module kind and per dtype, experts per layer, the source format. Validates every
// shard header and the index on the way; a broken checkpoint is a one-line error.
#include "command.hpp"
#include <prismaquant/cli/options.hpp>

#include <prismaquant/model/open.hpp>

#include <cstdio>
#include <iostream>
#include <map>

namespace pq = prismaquant;

namespace {

struct tally {
  std::int64_t count = 0, params = 0, bytes = 0;
  void add(std::int64_t p, std::int64_t b) { ++count, params += p, bytes += b; }
};

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

std::int64_t numel(const pq::model::tensor_info& t) {
  std::int64_t n = 1;
  for (auto s : t.shape) n *= s;
  return n;
}

std::int64_t stored_bytes(const pq::model::tensor_info& t) { return (numel(t) * pq::dtype_bits(t.type) + 7) / 8; }

int run_inspect(const std::string& dir, bool as_json) {
  const auto m = pq::model::open_model(dir);
  const auto& d = m.description;
  std::map<std::string, const pq::model::tensor_info*> by_name;
  for (const auto& t : m.tensors) by_name[t.name] = &t;

  std::map<std::string, tally> dtypes, kinds;
  tally all, linears, other;
  std::map<std::string, bool> is_linear_tensor;
  for (const auto& t : m.tensors) {
    dtypes[std::string(pq::dtype_name(t.type))].add(numel(t), stored_bytes(t));
    all.add(numel(t), stored_bytes(t));
  }
  std::map<std::string, tally> sources;
  for (const auto& l : d.linears) {
    std::int64_t bytes = 0;
    for (const char* suffix : {".weight", ".weight_scale_inv", ".weight_scale", ".bias"}) {
      auto it = by_name.find(l.name + suffix);
      if (it == by_name.end()) continue;
      bytes += stored_bytes(*it->second);
      is_linear_tensor[it->first] = true;
    }
    kinds[std::string(pq::model::linear_kind_name(l.kind))].add(l.n_params(), bytes);
    sources[std::string(pq::model::source_format_name(l.source))].add(l.n_params(), bytes);
    linears.add(l.n_params(), bytes);
  }
  for (const auto& t : m.tensors)
    if (!is_linear_tensor.count(t.name)) other.add(numel(t), stored_bytes(t));

  if (as_json) {
    nlohmann::json j;
    j["model"] = dir;
    j["profile"] = d.profile;
    j["architecture"] = d.architecture;
    j["files"] = m.weights->files().size();
    j["tensors"] = m.tensors.size();
    j["params"] = all.params;
    j["bytes"] = all.bytes;
    auto put = [](const tally& t) { return nlohmann::json{{"count", t.count}, {"params", t.params}, {"bytes", t.bytes}}; };
    for (auto& [k, t] : dtypes) j["dtypes"][k] = put(t);
    for (auto& [k, t] : kinds) j["linear_kinds"][k] = put(t);
    for (auto& [k, t] : sources) j["source_formats"][k] = put(t);
    j["linears"] = put(linears);
    j["not_quantized"] = put(other);
    j["moe_layers"] = d.moe_layers.size();
    j["fused_groups"] = d.fused_groups.size();
    if (!d.moe_layers.empty()) {
      j["experts_per_layer"] = nlohmann::json::array();
      for (auto& l : d.moe_layers) j["experts_per_layer"].push_back(l.num_experts);
      j["top_k"] = d.moe_layers.front().top_k;
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  std::printf("model         %s\n", dir.c_str());
  std::printf("profile       %s (%s)\n", d.profile.c_str(), d.architecture.c_str());
  std::printf("files         %zu safetensors, %zu tensors, %s params, %s\n", m.weights->files().size(),
              m.tensors.size(), std::to_string(all.params).c_str(), human_bytes(static_cast<double>(all.bytes)).c_str());
  if (!d.moe_layers.empty()) {
    int lo = d.moe_layers.front().num_experts, hi = lo;
    for (auto& l : d.moe_layers) lo = std::min(lo, l.num_experts), hi = std::max(hi, l.num_experts);
    const std::string range = lo == hi ? std::to_string(lo) : std::to_string(lo) + ".." + std::to_string(hi);
    std::printf("MoE           %zu layers, %s experts per layer, top-k %d\n", d.moe_layers.size(), range.c_str(),
                d.moe_layers.front().top_k);
  }
  std::printf("fused groups  %zu (share one format and one NVFP4 global scale)\n", d.fused_groups.size());
  std::printf("\n%-16s %8s %16s %14s\n", "source format", "linears", "params", "bytes");
  for (auto& [k, t] : sources)
    std::printf("%-16s %8lld %16lld %14s\n", k.c_str(), (long long)t.count, (long long)t.params,
                human_bytes(static_cast<double>(t.bytes)).c_str());
  std::printf("\n%-16s %8s %16s %14s\n", "linear kind", "count", "params", "bytes");
  for (auto& [k, t] : kinds)
    std::printf("%-16s %8lld %16lld %14s\n", k.c_str(), (long long)t.count, (long long)t.params,
                human_bytes(static_cast<double>(t.bytes)).c_str());
  std::printf("%-16s %8lld %16lld %14s\n", "all linears", (long long)linears.count, (long long)linears.params,
              human_bytes(static_cast<double>(linears.bytes)).c_str());
  std::printf("%-16s %8lld %16lld %14s\n", "not quantized", (long long)other.count, (long long)other.params,
              human_bytes(static_cast<double>(other.bytes)).c_str());
  std::printf("\n%-16s %8s %16s %14s\n", "dtype", "tensors", "elements", "bytes");
  for (auto& [k, t] : dtypes)
    std::printf("%-16s %8lld %16lld %14s\n", k.c_str(), (long long)t.count, (long long)t.params,
                human_bytes(static_cast<double>(t.bytes)).c_str());
  return 0;
}

const pq::tool::registration reg{
    "inspect", "Summarise a checkpoint: params and bytes per module kind and dtype, experts, source format",
    [](CLI::App& sub) {
      auto dir = std::make_shared<std::string>();
      auto as_json = std::make_shared<bool>(false);
      sub.add_option("--model", *dir, "checkpoint folder (config.json + safetensors) or a .safetensors file")
          ->required()
          ->check(pq::cli::check::existing_path());
      sub.add_flag("--json", *as_json, "print a JSON summary instead of tables");
      return [=] { return run_inspect(*dir, *as_json); };
    }};

}  // namespace
