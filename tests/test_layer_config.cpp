// allocate/layer_config.hpp: what `prismaquant allocate` writes reads back exactly, entries the
// reference writes (no "fmt") read as its canonicalize_format reads them, and every malformed
// file is one error naming the file, the entry and the field.
#include <prismaquant/allocate/layer_config.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;
namespace pa = prismaquant::allocate;

namespace {

fs::path file(const std::string& name, const std::string& text) {
  const fs::path d = fs::temp_directory_path() / ("pq_layer_config_" + std::to_string(::getpid()));
  fs::create_directories(d);
  std::ofstream(d / name, std::ios::binary) << text;
  return d / name;
}

}  // namespace

TEST_CASE("layer_config: written text reads back, every registered format included") {
  std::map<std::string, std::string> fm;
  int i = 0;
  for (const auto& f : prismaquant::formats::registry()) fm["model.layers." + std::to_string(i++) + ".mlp"] = std::string(f.name);
  const auto lc = pa::read_layer_config(file("all.json", pa::layer_config_text(fm)));
  REQUIRE(lc.linears.size() == fm.size());
  for (const auto& [m, f] : fm) {
    INFO(m << " " << f);
    REQUIRE(lc.find(m));
    CHECK(lc.find(m)->fmt == f);
  }
  CHECK(lc.find("model.absent") == nullptr);
}

TEST_CASE("layer_config: entries without fmt read as the reference reads them") {
  const auto lc = pa::read_layer_config(file("ref.json", R"({
    "a": {"bits": 4, "group_size": 16, "data_type": "nv_fp"},
    "b": {"bits": 4, "group_size": 32, "data_type": "mx_fp"},
    "c": {"bits": 8, "group_size": 32, "data_type": "mx_fp"},
    "d": {"bits": 8, "group_size": 32, "data_type": "mx_fp", "weight_element_dtype": "fp8_e5m2"},
    "e": {"bits": 8, "group_size": 128, "data_type": "fp8_e4m3"},
    "f": {"bits": 8, "group_size": -1, "data_type": "fp8_e4m3"},
    "g": {"bits": 16, "group_size": -1, "data_type": "float"},
    "h": {"bits": 16, "group_size": -1, "data_type": "bfloat16"}})"));
  const std::map<std::string, std::string> want{{"a", "NVFP4"},      {"b", "MXFP4"},      {"c", "MXFP8_E4M3"},
                                                {"d", "MXFP8_E5M2"}, {"e", "FP8_SOURCE"}, {"f", "FP8_E4M3"},
                                                {"g", "BF16"},       {"h", "BF16"}};
  for (const auto& [m, f] : want) CHECK(lc.find(m)->fmt == f);
}

TEST_CASE("layer_config: malformed files are errors naming the entry and field") {
  const std::pair<const char*, const char*> cases[] = {
      {"[]", "top level must be a JSON object"},
      {"{\"a\": 4}", "\"a\": must be an object"},
      {"{\"a\": {\"group_size\": 16, \"data_type\": \"nv_fp\"}}", "missing field \"bits\""},
      {"{\"a\": {\"bits\": 4.5, \"group_size\": 16, \"data_type\": \"nv_fp\"}}", "\"bits\" must be an integer"},
      {"{\"a\": {\"bits\": 1e300, \"group_size\": 16, \"data_type\": \"nv_fp\"}}", "\"bits\" must be an integer"},
      {"{\"a\": {\"bits\": 18446744073709551615, \"group_size\": 16, \"data_type\": \"nv_fp\"}}", "out of range"},
      {"{\"a\": {\"bits\": 4, \"group_size\": -2, \"data_type\": \"nv_fp\"}}", "\"group_size\" is out of range"},
      {"{\"a\": {\"bits\": 4, \"group_size\": 16, \"data_type\": 3}}", "\"data_type\" must be a string"},
      {"{\"a\": {\"bits\": 4, \"group_size\": 16, \"data_type\": \"nv_fp\", \"fmt\": \"NVFP5\"}}", "unknown format \"NVFP5\""},
      {"{\"a\": {\"bits\": 8, \"group_size\": 16, \"data_type\": \"nv_fp\", \"fmt\": \"NVFP4\"}}", "is stored as bits 4"},
      {"{\"a\": {\"bits\": 3, \"group_size\": 16, \"data_type\": \"int\"}}", "no format this library knows"},
      {"{\"\": {\"bits\": 4, \"group_size\": 16, \"data_type\": \"nv_fp\"}}", "empty module name"},
      {"{\"a\": 1e309}", "malformed JSON"},
      {"{\"a\": ", "malformed JSON"},
  };
  for (const auto& [text, words] : cases) {
    INFO(text);
    const auto p = file("bad.json", text);
    REQUIRE_THROWS_WITH(pa::read_layer_config(p), Catch::StartsWith(p.string()) && Catch::Contains(words));
  }
  REQUIRE_THROWS_WITH(pa::read_layer_config(fs::temp_directory_path() / "pq_no_such_file.json"),
                      Catch::Contains("pq_no_such_file.json") && Catch::Contains("cannot open"));
}

TEST_CASE("prune manifest: written text reads back; ids renumber in order") {
  const auto p = file("m.json", pa::prune_manifest_text({{"model.layers.0.mlp.gate", {8, {6, 1, 3}}},
                                                         {"model.layers.1.mlp.gate", {4, {}}}}));
  CHECK(p.string().size() > 0);
  const auto m = pa::read_prune_manifest(p);
  const auto* r = m.find("model.layers.0.mlp.gate");
  REQUIRE(r);
  CHECK(r->num_experts_orig == 8);
  CHECK(r->pruned == std::vector<int>{1, 3, 6});
  CHECK(r->kept == std::vector<int>{0, 2, 4, 5, 7});
  CHECK(r->dropped(3));
  CHECK(r->new_id(3) == -1);
  CHECK(r->new_id(4) == 2);
  CHECK(m.find("model.layers.1.mlp.gate")->kept.size() == 4);
  CHECK(m.find("model.layers.2.mlp.gate") == nullptr);
  CHECK(pa::prune_manifest_path("out/layer_config.json") == fs::path("out/layer_config.json.prune.json"));
}

TEST_CASE("prune manifest: malformed files are errors naming the router and field") {
  const std::string ok_tail = R"("kept_expert_ids": [0, 2], "orig_to_new_eid": {"0": 0, "2": 1}})";
  const std::pair<std::string, const char*> cases[] = {
      {"[1]", "top level must be a JSON object"},
      {R"({"r": {"num_experts_kept": 2, "pruned_expert_ids": [1], )" + ok_tail + "}", "missing field \"num_experts_orig\""},
      {R"({"r": {"num_experts_orig": 0, "num_experts_kept": 2, "pruned_expert_ids": [1], )" + ok_tail + "}", "out of range"},
      {R"({"r": {"num_experts_orig": 3e9, "num_experts_kept": 2, "pruned_expert_ids": [1], )" + ok_tail + "}", "must be an integer"},
      {R"({"r": {"num_experts_orig": 3, "num_experts_kept": 2, "pruned_expert_ids": [3], )" + ok_tail + "}", "out of range"},
      {R"({"r": {"num_experts_orig": 3, "num_experts_kept": 2, "pruned_expert_ids": [-1], )" + ok_tail + "}", "out of range"},
      {R"({"r": {"num_experts_orig": 3, "num_experts_kept": 2, "pruned_expert_ids": [1, 1], )" + ok_tail + "}", "sorted without repeats"},
      {R"({"r": {"num_experts_orig": 3, "num_experts_kept": 3, "pruned_expert_ids": [1], )" + ok_tail + "}", "num_experts_kept is 3"},
      {R"({"r": {"num_experts_orig": 4, "num_experts_kept": 2, "pruned_expert_ids": [1], )" + ok_tail + "}", "do not add up"},
      {R"({"r": {"num_experts_orig": 3, "num_experts_kept": 2, "pruned_expert_ids": [2], )" + ok_tail + "}", "both pruned and kept"},
      {R"({"r": {"num_experts_orig": 3, "num_experts_kept": 2, "pruned_expert_ids": [1], "kept_expert_ids": [0, 2], "orig_to_new_eid": {"0": 1, "2": 0}}})",
       "kept experts keep their order"},
      {R"({"r": {"num_experts_orig": 3, "num_experts_kept": 2, "pruned_expert_ids": [1], "kept_expert_ids": [0, 2], "orig_to_new_eid": {"0": 0, "1": 1}}})",
       "lacks kept expert 2"},
      {R"({"r": {"num_experts_orig": 3, "num_experts_kept": 2, "pruned_expert_ids": "1", )" + ok_tail + "}", "must be an array"},
  };
  for (const auto& [text, words] : cases) {
    INFO(text);
    const auto p = file("bad.prune.json", text);
    REQUIRE_THROWS_WITH(pa::read_prune_manifest(p), Catch::StartsWith(p.string()) && Catch::Contains(words));
  }
}
