// expect: cli::run<extra...>: an extra policy must be a format
// Something that is none of the four policies cannot join the command line's registries.
#include <prismaquant/cli/run.hpp>

struct not_a_policy {
  int x = 0;
};

int main(int argc, char** argv) { return prismaquant::cli::run<not_a_policy>(argc, argv); }
