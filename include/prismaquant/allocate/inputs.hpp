#pragma once
// What an allocation asks of its stats and costs files, checked before any work: every format
// named in the costs file is one the library knows (a misspelt "NVFP5" is not silently
// ignored), and every format the run considers is measured for every Linear that can store it
// (a costs file lacking MXFP4 for `--formats NVFP4,MXFP4` is an error naming the Linear, not an
// allocation that quietly never uses MXFP4). Host only.
#include <prismaquant/allocate/candidates.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <set>
#include <string>
#include <vector>

namespace prismaquant::allocate {

// The formats a run considers: `requested` (checked: known, no repeats) or, when empty,
// every format named in the costs file (checked: known).
inline std::vector<std::string> formats_considered(const stats::model_costs& co, const std::string& costs_path,
                                                   const std::vector<std::string>& requested,
                                                   const std::string& option = "--formats") {
  for (const auto& [name, l] : co.linears)
    for (const auto& [fmt, c] : l.formats)
      formats::find(fmt, costs_path + ": linears[\"" + name + "\"]: formats");
  if (requested.empty()) {
    std::set<std::string> all;
    for (const auto& [name, l] : co.linears)
      for (const auto& [fmt, c] : l.formats) all.insert(fmt);
    return {all.begin(), all.end()};
  }
  std::set<std::string> seen;
  for (const auto& f : requested) {
    formats::find(f, option);
    if (!seen.insert(f).second) throw error(option, "\"" + f + "\" is listed twice");
  }
  return requested;
}

// Every considered format that is legal for a Linear (shape, FP8 source) must be in its costs.
inline void require_costs_for(const stats::model_stats& st, const stats::model_costs& co, const std::string& costs_path,
                              const std::vector<std::string>& considered) {
  for (const auto& [name, s] : st.linears) {
    auto it = co.linears.find(name);
    if (it == co.linears.end()) throw error(costs_path, "no costs for Linear \"" + name + "\" (in the stats file)");
    for (const auto& f : considered)
      if (format_illegal_reason(s, f).empty() && !it->second.formats.count(f))
        throw error(costs_path + ": linears[\"" + name + "\"]",
                    "no costs for format " + f + ", which the run considers (measure it with `prismaquant cost "
                    "--formats ...`, or leave it out of --formats)");
  }
}

}  // namespace prismaquant::allocate
