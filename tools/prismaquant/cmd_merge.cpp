// `prismaquant merge A.json B.json ... --out OUT.json`
//
// Joins the parts of a sharded run. Stats files (probe shards): every sum merges exactly, so a
// complete set of shards gives a file byte-identical to the single-process run (shards of
// different runs, or one shard twice, are refused). Costs files (cost shards): the union of
// their Linears (a Linear in two parts is refused).
#include "command.hpp"

#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <cstdio>

namespace pq = prismaquant;

namespace {

int run_merge(const std::vector<std::string>& inputs, const std::string& out) {
  if (inputs.empty()) throw pq::error("merge", "no input files");
  const auto first = pq::stats::detail::parse_json(inputs.front());
  const std::string format = first.is_object() ? first.value("format", std::string{}) : std::string{};
  if (format == "prismaquant.stats") {
    std::vector<pq::stats::model_stats> parts;
    for (const auto& f : inputs) parts.push_back(pq::stats::read_stats(f));
    auto merged = pq::stats::merge_shards(std::move(parts));
    merged.validate(out);
    pq::stats::write_stats(out, merged, 64, !merged.shards.empty());
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
    pq::stats::write_costs(out, merged);
    std::printf("merge: %zu costs files, %zu linears -> %s\n", inputs.size(), merged.linears.size(), out.c_str());
    return 0;
  }
  throw pq::error(inputs.front(), "not a prismaquant stats or costs file (\"format\" is \"" + format + "\")");
}

const pq::tool::registration reg{
    "merge", "Join the parts of a sharded probe (stats files) or cost pass (costs files)", [](CLI::App& sub) {
      auto in = std::make_shared<std::vector<std::string>>();
      auto out = std::make_shared<std::string>();
      sub.add_option("inputs", *in, "stats or costs files of the shards")->required();
      sub.add_option("--out", *out, "merged file to write")->required();
      return [=] { return run_merge(*in, *out); };
    }};

}  // namespace
