// io/output_set.hpp: a command's files appear together or not at all, and a failed run leaves
// the previous outputs exactly as they were.
#include <prismaquant/io/output_set.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;
namespace pq = prismaquant;

namespace {

fs::path fresh(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("pq_output_set_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
void put(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }
// Every entry of a folder, hidden ones included (a leftover staging folder is one).
std::vector<std::string> entries(const fs::path& d) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(d)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("output_set: a new folder appears with every file, nothing beside it") {
  const fs::path t = fresh("new") / "deeper" / "out";
  {
    pq::output_set s(t);
    s.write("a.json", "A");
    put(s.path("b.csv"), "B");
    CHECK_FALSE(fs::exists(t));  // nothing before publish
    s.publish();
  }
  CHECK(entries(t) == std::vector<std::string>{"a.json", "b.csv"});
  CHECK(slurp(t / "a.json") == "A");
  CHECK(entries(t.parent_path()) == std::vector<std::string>{"out"});  // no staging left
}

TEST_CASE("output_set: a failed run leaves no folder, not even the parents it created") {
  const fs::path root = fresh("fail_new");
  fs::create_directories(root);
  const fs::path t = root / "a" / "b" / "out";
  try {
    pq::output_set s(t);
    s.write("a.json", "A");
    throw std::runtime_error("the command failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(entries(root).empty());
}

TEST_CASE("output_set: replacing an older set; a failure keeps it untouched") {
  const fs::path t = fresh("replace");
  fs::create_directories(t);
  put(t / "costs.json", "old json");
  put(t / "costs.safetensors", "old side");
  put(t / "notes.txt", "the user's");
  {  // failure after writing both files: the old pair stays as it was
    pq::output_set s(t);
    s.owns("costs.safetensors");
    s.write("costs.json", "new json");
    s.write("costs.safetensors", "new side");
  }
  CHECK(entries(t) == std::vector<std::string>{"costs.json", "costs.safetensors", "notes.txt"});
  CHECK(slurp(t / "costs.json") == "old json");
  CHECK(slurp(t / "costs.safetensors") == "old side");
  {  // success without a side file: the stale one goes, the user's file stays
    pq::output_set s(t);
    s.owns("costs.safetensors");
    s.write("costs.json", "new json");
    s.publish();
  }
  CHECK(entries(t) == std::vector<std::string>{"costs.json", "notes.txt"});
  CHECK(slurp(t / "costs.json") == "new json");
  CHECK(slurp(t / "notes.txt") == "the user's");
}

TEST_CASE("output_set: a name taken by a folder fails before anything moves") {
  const fs::path t = fresh("collide");
  fs::create_directories(t / "pareto.csv");
  put(t / "layer_config.json", "old");
  pq::output_set s(t);
  s.write("layer_config.json", "new");
  s.write("pareto.csv", "x");
  REQUIRE_THROWS_WITH(s.publish(), Catch::Contains("pareto.csv") && Catch::Contains("is a folder"));
  CHECK(slurp(t / "layer_config.json") == "old");
}

TEST_CASE("output_set: the target must be a folder; names must be plain") {
  const fs::path t = fresh("file");
  put(t, "I am a file");
  REQUIRE_THROWS_WITH(pq::output_set(t), Catch::Contains("exists and is not a folder"));
  const fs::path d = fresh("names");
  pq::output_set s(d);
  REQUIRE_THROWS_WITH(s.path("../escape"), Catch::Contains("not a plain file name"));
  REQUIRE_THROWS_WITH(s.owns(""), Catch::Contains("not a plain file name"));
}

TEST_CASE("output_set: replace_folder swaps a whole tree, and guards foreign folders") {
  const fs::path t = fresh("folder") / "ckpt";
  auto ours = [](const fs::path& p) {
    return p.extension() == ".safetensors" || p.filename() == "config.json" || p.filename() == "sub";
  };
  {
    pq::output_set s(t, pq::publish_mode::replace_folder, ours);
    fs::create_directories(s.staging() / "sub");
    put(s.staging() / "config.json", "v1");
    put(s.staging() / "model-00001-of-00002.safetensors", "1");
    put(s.staging() / "model-00002-of-00002.safetensors", "2");
    s.publish();
  }
  CHECK(entries(t) == std::vector<std::string>{"config.json", "model-00001-of-00002.safetensors",
                                               "model-00002-of-00002.safetensors", "sub"});
  {  // a smaller checkpoint replaces it: no stale shard survives
    pq::output_set s(t, pq::publish_mode::replace_folder, ours);
    put(s.staging() / "config.json", "v2");
    put(s.staging() / "model.safetensors", "1");
    s.publish();
  }
  CHECK(entries(t) == std::vector<std::string>{"config.json", "model.safetensors"});
  CHECK(slurp(t / "config.json") == "v2");
  CHECK(entries(t.parent_path()) == std::vector<std::string>{"ckpt"});
  put(t / "README.md", "someone's");
  REQUIRE_THROWS_WITH(pq::output_set(t, pq::publish_mode::replace_folder, ours),
                      Catch::Contains("README.md") && Catch::Contains("did not write"));
}
