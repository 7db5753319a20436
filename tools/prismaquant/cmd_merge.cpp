// `prismaquant merge A.json B.json ... --out OUT.json`
//
// Joins the parts of a sharded run. Stats files (probe shards): every sum merges exactly, so a
// complete set of shards gives a file byte-identical to the single-process run (shards of
// different runs, or one shard twice, are refused). Costs files (cost shards): the union of
// their Linears (a Linear in two parts is refused). The merged file and its side file are one
// output set (io/output_set.hpp): published together, or not at all.
#include "command.hpp"

#include <prismaquant/cli/options.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <cstdio>

namespace pq = prismaquant;

namespace {

int run_merge(const std::vector<std::string>& inputs, const std::string& out) {
  if (inputs.empty()) throw pq::error("merge", "no input files");
  const std::filesystem::path out_file(out);
  if (out_file.extension() == ".safetensors")
    throw pq::error("--out", out + ": the merged file is JSON (its side file takes the name <stem>.safetensors)");
  const auto dir = out_file.has_parent_path() ? out_file.parent_path() : std::filesystem::path(".");
  {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) throw pq::error("--out", "folder " + dir.string() + " does not exist");
  }
  for (const auto& f : inputs)
    if (std::filesystem::weakly_canonical(f) == std::filesystem::weakly_canonical(out_file))
      throw pq::error("--out", out + ": is also an input");
  pq::output_set set(dir, pq::publish_mode::replace_files, {}, "--out " + out);
  set.owns(std::filesystem::path(out_file.filename()).replace_extension(".safetensors").string());
  const auto staged = set.path(out_file.filename().string());
  const auto first = pq::strict_json::read_file(inputs.front());
  const std::string format = first.is_object() ? first.value("format", std::string{}) : std::string{};
  if (format == "prismaquant.stats") {
    std::vector<pq::stats::model_stats> parts;
    for (const auto& f : inputs) parts.push_back(pq::stats::read_stats(f));
    auto merged = pq::stats::merge_shards(std::move(parts));
    merged.validate(out);
    pq::stats::write_stats(staged, merged, 64, !merged.shards.empty());
    set.publish();
    std::printf("merge: %zu stats files, %zu linears, %zu routers%s -> %s\n", inputs.size(), merged.linears.size(),
                merged.routers.size(), merged.shards.empty() ? "" : " (partial: shards still missing)", out.c_str());
    return 0;
  }
  if (format == "prismaquant.costs") {
    pq::stats::model_costs merged;
    std::map<std::string, std::string> from;
    for (const auto& f : inputs) {
      auto c = pq::stats::read_costs(f);
      for (auto& [name, l] : c.linears) {
        if (from.count(name)) throw pq::error(f, "linear \"" + name + "\" is also in " + from[name]);
        from[name] = f;
        merged.linears.emplace(name, std::move(l));
      }
    }
    pq::stats::write_costs(staged, merged);
    set.publish();
    std::printf("merge: %zu costs files, %zu linears -> %s\n", inputs.size(), merged.linears.size(), out.c_str());
    return 0;
  }
  throw pq::error(inputs.front(), "not a prismaquant stats or costs file (\"format\" is \"" + format + "\")");
}

const pq::tool::registration reg{
    "merge", "Join the parts of a sharded probe (stats files) or cost pass (costs files)", [](CLI::App& sub) {
      auto in = std::make_shared<std::vector<std::string>>();
      auto out = std::make_shared<std::string>();
      namespace check = pq::cli::check;
      sub.add_option("inputs", *in, "stats or costs files of the shards")->required()->check(check::existing_file());
      sub.add_option("--out", *out, "merged file to write")->required()->check(check::output_file());
      return [=] { return run_merge(*in, *out); };
    }};

}  // namespace
