#pragma once
// Subcommand registry of the `prismaquant` tool. Each tools/prismaquant/cmd_*.cpp defines
// one subcommand and registers it with a static `pq::tool::registration`, so adding a
// stage to the tool touches no other file.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace prismaquant::tool {

// setup(app) adds the subcommand's options to `sub` and returns the function that runs it
// (an exit code). Errors are thrown as prismaquant::error and printed by main as one line.
using setup_fn = std::function<std::function<int()>(CLI::App& sub)>;

struct command {
  std::string name;
  std::string help;
  setup_fn setup;
};

inline std::vector<command>& registry() {
  static std::vector<command> r;
  return r;
}

struct registration {
  registration(std::string name, std::string help, setup_fn setup) {
    registry().push_back({std::move(name), std::move(help), std::move(setup)});
  }
};

}  // namespace prismaquant::tool
