// `prismaquant solve` end to end: the exact JSON formats of docs/solvers.md, the budget of
// --target-bits, agreement with brute force, strict validation errors, atomic output.
#include <prismaquant/solvers/json.hpp>
#include <prismaquant/solvers/registry.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;
namespace pqs = prismaquant::solvers;

namespace {

struct sandbox {
  fs::path dir = fs::temp_directory_path() / ("pq_cli_solve_" + std::to_string(::getpid()));
  sandbox() { fs::create_directories(dir); }
  ~sandbox() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path file(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
};

struct result {
  int rc;
  std::string err;
};

result run(const sandbox& sb, const std::string& args) {
  const auto err = sb.dir / "stderr.txt";
  const std::string cmd = (std::string(PQ_BUILD_DIR) + "/prismaquant solve ") + args + " >/dev/null 2>" + err.string();
  const int st = std::system(cmd.c_str());
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, ss.str()};
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

pqs::problem random_problem(std::mt19937_64& rng, int n) {
  pqs::problem p;
  for (int i = 0; i < n; ++i) {
    pqs::item it{"model.layers." + std::to_string(i) + ".mlp", 4096 + std::int64_t(rng() % 4096), {}};
    const char* fmts[] = {"NVFP4", "MXFP8_E4M3", "BF16"};
    for (int c = 0; c < 3; ++c)
      it.candidates.push_back({fmts[c], it.n_params * (c == 0 ? 9 : c == 1 ? 17 : 32) / 16,
                               c == 2 ? 0.0 : std::exp(std::uniform_real_distribution<double>(-6, 2)(rng)) / (1 + 30 * c),
                               c == 0 && i % 3 == 0 ? std::vector<int>{1, 5} : std::vector<int>{}});
    p.items.push_back(std::move(it));
  }
  return p;
}

}  // namespace

TEST_CASE("prismaquant solve: formats, budgets and agreement with brute force") {
  sandbox sb;
  std::mt19937_64 rng(11);
  for (int t = 0; t < 4; ++t) {
    const auto p = random_problem(rng, 8);
    const auto f = pqs::flatten(p);
    const auto path = sb.file("p.json", pqs::problem_to_json(p).dump());
    const double bits = 5.0 + t * 0.7;
    const auto budget = static_cast<std::int64_t>(std::floor(bits * double(f.total_params()) / 8.0));
    const auto bf = pqs::solve<pqs::brute_force>(p, budget);
    for (auto name : pqs::solver_names()) {
      const auto out = sb.dir / "s.json";
      std::ostringstream args;
      args << "--problem " << path << " --target-bits " << bits << " --solver " << name << " --out " << out;
      auto r = run(sb, args.str());
      INFO(name << ": " << r.err);
      REQUIRE(r.rc == 0);
      const auto s = read_json(out);
      std::set<std::string> keys;
      for (auto it = s.begin(); it != s.end(); ++it) keys.insert(it.key());
      REQUIRE(keys == std::set<std::string>{"status", "total_bytes", "achieved_bits", "dloss", "lower_bound", "gap",
                                            "choices"});
      REQUIRE(s["choices"].size() == p.items.size());
      std::int64_t bytes = 0;
      double dloss = 0;
      for (std::size_t i = 0; i < p.items.size(); ++i) {
        const auto& c = s["choices"][i];
        REQUIRE(c.size() == 3);
        REQUIRE(c["name"] == p.items[i].name);
        const int idx = c["index"];
        REQUIRE(c["fmt"] == p.items[i].candidates[idx].fmt);
        bytes += p.items[i].candidates[idx].memory_bytes;
        dloss += p.items[i].candidates[idx].dloss;
      }
      REQUIRE(s["total_bytes"].get<std::int64_t>() == bytes);
      REQUIRE(bytes <= budget);  // budget = floor(B·Σn_params/8)
      REQUIRE(s["achieved_bits"].get<double>() == Approx(8.0 * double(bytes) / double(f.total_params())));
      REQUIRE(s["dloss"].get<double>() == Approx(dloss).epsilon(1e-12));
      REQUIRE(s["lower_bound"].get<double>() <= bf.dloss * (1 + 1e-12));
      // a rerun writes the same bytes (no timing in the file)
      const auto again = sb.dir / "again.json";
      REQUIRE(run(sb, "--problem " + path.string() + " --target-bits " + std::to_string(bits) + " --solver " +
                          std::string(name) + " --out " + again.string())
                  .rc == 0);
      REQUIRE(read_json(again) == s);
      if (name == "exact" || name == "brute_force") {
        REQUIRE(s["status"] == "optimal");
        REQUIRE(s["dloss"].get<double>() == Approx(bf.dloss).epsilon(1e-12));
        REQUIRE(s["gap"].get<double>() == 0.0);
      }
    }
    // --target-bytes gives the same answer at the same budget
    const auto out = sb.dir / "s2.json";
    std::ostringstream args;
    args << "--problem " << path << " --target-bytes " << budget << " --out " << out;
    REQUIRE(run(sb, args.str()).rc == 0);
    REQUIRE(read_json(out)["dloss"].get<double>() == Approx(bf.dloss).epsilon(1e-12));
    {  // an exact integer written with an exponent reads the same (the option rewrites it)
      std::ostringstream e;
      e << "--problem " << path << " --target-bytes " << budget << "e0 --out " << out;
      INFO(e.str());
      REQUIRE(run(sb, e.str()).rc == 0);
      REQUIRE(read_json(out)["dloss"].get<double>() == Approx(bf.dloss).epsilon(1e-12));
    }
  }
}

TEST_CASE("prismaquant solve: strict validation with clear errors, and no partial output") {
  sandbox sb;
  const auto out = sb.dir / "s.json";
  auto expect_error = [&](const std::string& problem_text, const std::string& extra, const std::string& message) {
    std::ofstream(out) << "old";
    const auto path = sb.file("bad.json", problem_text);
    auto r = run(sb, "--problem " + path.string() + " " + extra + " --out " + out.string());
    INFO(problem_text << "\n" << r.err);
    REQUIRE(r.rc != 0);
    REQUIRE_THAT(r.err, Catch::Contains(message));
    std::ifstream in(out);
    std::string content;
    in >> content;
    REQUIRE(content == "old");  // untouched
  };
  const std::string ok_item = R"({"name":"a","n_params":8,"candidates":[{"fmt":"X","memory_bytes":5,"dloss":1.0}]})";
  expect_error(R"({"items":[{"name":"a","n_params":8,"candidates":[{"fmt":"X","memory_bytes":5}]}]})", "--target-bytes 9",
               "missing field \"dloss\"");
  expect_error(R"({"items":[{"name":"a","n_params":8,"candidates":[{"fmt":"X","memory_bytes":-5,"dloss":1}]}]})",
               "--target-bytes 9", "memory_bytes is negative");
  expect_error(R"({"items":[{"name":"a","n_params":8,"candidates":[{"fmt":"X","memory_bytes":5,"dloss":NaN}]}]})",
               "--target-bytes 9", "non-finite number NaN");
  expect_error(R"({"items":[{"name":"a","n_params":8,"candidates":[]}]})", "--target-bytes 9", "empty candidate list");
  expect_error("{\"items\":[" + ok_item + "," + ok_item + "]}", "--target-bytes 90", "duplicate item name \"a\"");
  expect_error(R"({"items":[{"name":"a","n_params":8,"candidates":[{"fmt":"X","memory_bytes":5,"dlos":1}]}]})",
               "--target-bytes 9", "unknown field \"dlos\"");
  expect_error(R"({"items":[{"name":"a","n_params":8,"candidates":[{"fmt":"X","memory_bytes":5.5,"dloss":1}]}]})",
               "--target-bytes 9", "field \"memory_bytes\" must be an integer");
  expect_error(R"({"items":[{"name":"a","n_params":0,"candidates":[{"fmt":"X","memory_bytes":5,"dloss":1}]}]})",
               "--target-bytes 9", "n_params must be positive");
  expect_error(R"({"items":[)", "--target-bytes 9", "malformed JSON");
  expect_error("{\"items\":[" + ok_item + "]}", "--target-bytes 4", "smallest feasible size 5 bytes (5.000000 bits/param");
  expect_error("{\"items\":[" + ok_item + "]}", "--target-bits 4.9", "smallest feasible size 5 bytes");
  expect_error("{\"items\":[" + ok_item + "]}", "--target-bytes 9 --solver nope", "--solver: unknown value \"nope\"");
  expect_error("{\"items\":[" + ok_item + "]}", "", "exactly one of --target-bits and --target-bytes");
  expect_error("{\"items\":[" + ok_item + "]}", "--target-bytes 9 --target-bits 5", "cannot be given together");
  // nothing but the answer and our sentinel is left in the directory (no temporary files)
  for (auto& e : fs::directory_iterator(sb.dir)) {
    const auto name = e.path().filename().string();
    REQUIRE((name == "s.json" || name == "bad.json" || name == "stderr.txt"));
  }
}
