#pragma once
// Runs the library's command line in-process, with a user's extra policies:
// `example::cli<my_solver>({"allocate", "--solver", "mine", ...})` is what a user's own
// `prismaquant` executable does with `prismaquant::cli::run<my_solver>(argc, argv)`.
#include <prismaquant/cli/run.hpp>

#include <string>
#include <vector>

namespace example {

template <class... Extra>
int cli(std::vector<std::string> args) {
  args.insert(args.begin(), "prismaquant");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return prismaquant::cli::run<Extra...>(static_cast<int>(argv.size()), argv.data());
}

}  // namespace example
