// `prismaquant`: one executable, a subcommand per pipeline stage: the library's commands
// (include/prismaquant/cli/) and the ones registered here (tools/prismaquant/cmd_*.cpp).
#include "cost_dispatch.hpp"

#include <prismaquant/cli/run.hpp>

int main(int argc, char** argv) { return prismaquant::cli::run(argc, argv, prismaquant::tool::toolset()); }
