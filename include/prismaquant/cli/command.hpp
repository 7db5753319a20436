#pragma once
// The commands of a `prismaquant` executable. The library's own commands (cost, allocate,
// solve: cli/cost.hpp, cli/allocate.hpp, cli/solve.hpp) are added by cli::run; an executable
// adds its own with a static `cli::registration` (tools/prismaquant/cmd_*.cpp do), so adding
// a command touches no other file. Host only.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace prismaquant::cli {

struct toolset;

// setup(sub, tools) adds the command's options to `sub` and returns the function that runs it
// (an exit code). Errors are thrown (prismaquant::error) and printed by cli::run as one line.
using setup_fn = std::function<std::function<int()>(CLI::App& sub, const toolset& tools)>;

struct command {
  std::string name;
  std::string help;
  setup_fn setup;
};

// Commands registered by the executable (static registrations run before main).
inline std::vector<command>& registered_commands() {
  static std::vector<command> r;
  return r;
}

struct registration {
  registration(std::string name, std::string help, setup_fn setup) {
    registered_commands().push_back({std::move(name), std::move(help), std::move(setup)});
  }
  // A command that needs no policy registries.
  registration(std::string name, std::string help, std::function<std::function<int()>(CLI::App&)> setup)
      : registration(std::move(name), std::move(help),
                     setup_fn([s = std::move(setup)](CLI::App& sub, const toolset&) { return s(sub); })) {}
};

}  // namespace prismaquant::cli
