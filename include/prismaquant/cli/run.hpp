#pragma once
// The command line of a `prismaquant` executable: the library commands (cost, allocate,
// solve) plus every command the executable registered (cli/command.hpp), with one error
// contract: bad input prints `prismaquant: error: <file, option or object>: <problem>` and
// exits 1.
//
//   int main(int argc, char** argv) { return prismaquant::cli::run(argc, argv, tools); }
#include <prismaquant/cli/allocate.hpp>
#include <prismaquant/cli/command.hpp>
#include <prismaquant/cli/cost.hpp>
#include <prismaquant/cli/solve.hpp>
#include <prismaquant/cli/toolset.hpp>
#include <prismaquant/core/error.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>

namespace prismaquant::cli {

// The commands the library implements.
inline std::vector<command> library_commands() {
  return {{"allocate", "Choose a format per Linear (and experts to drop) from stats + costs files", setup_allocate},
          {"cost", "Measure every Linear's round-trip error in each format (one read per weight); write the costs file",
           setup_cost},
          {"solve", "Solve one multiple-choice knapsack: a problem JSON and a byte or bit budget -> a solution JSON",
           setup_solve}};
}

inline int run(int argc, char** argv, const toolset& tools) {
  CLI::App app{"prismaquant: mixed-precision quantization allocation with joint MoE expert pruning"};
  app.require_subcommand(1);
  std::vector<command> cmds = library_commands();
  for (const auto& c : registered_commands()) cmds.push_back(c);
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& c : cmds) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    runners[sub] = c.setup(*sub, tools);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "prismaquant: error: %s\n", e.what());
    return 1;
  }
  return 2;
}

}  // namespace prismaquant::cli
