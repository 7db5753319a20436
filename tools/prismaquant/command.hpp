#pragma once
// Subcommand registration of the `prismaquant` tool: each tools/prismaquant/cmd_*.cpp defines
// one subcommand and registers it with a static `pq::tool::registration` (the library's
// cli::registration, include/prismaquant/cli/command.hpp), so adding a stage to the tool
// touches no other file. The library commands cost, allocate and solve live in
// include/prismaquant/cli/ and are added by cli::run.
#include <prismaquant/cli/command.hpp>

namespace prismaquant::tool {

using cli::registration;

}  // namespace prismaquant::tool
