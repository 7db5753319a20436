#pragma once
// Run the built `prismaquant` binary with arguments; capture its exit code and stdout+stderr.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace pq_test {

struct cli_result {
  int code;
  std::string out;
};

inline cli_result run_cli(const std::string& args) {
  const std::string cmd = std::string(PQ_BUILD_DIR) + "/prismaquant " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

}  // namespace pq_test
