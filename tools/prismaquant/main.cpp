// `prismaquant`: one executable, a subcommand per pipeline stage (see command.hpp).
#include "command.hpp"

#include <prismaquant/core/error.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>

int main(int argc, char** argv) {
  namespace tool = prismaquant::tool;
  CLI::App app{"prismaquant: mixed-precision quantization allocation with joint MoE expert pruning"};
  app.require_subcommand(1);
  auto& cmds = tool::registry();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& c : cmds) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    runners[sub] = c.setup(*sub);
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
