// `prismaquant inspect` and `prismaquant synthesize` end to end, including broken checkpoints.
#include <prismaquant/model/synthetic.hpp>

#include "cli_run.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
namespace pq = prismaquant;

namespace {

using pq_test::run_cli;

pq::model::synthetic_minimax_options tiny() {
  pq::model::synthetic_minimax_options o;
  o.hidden = 256, o.layers = 2, o.heads = 4, o.kv_heads = 2, o.head_dim = 64, o.experts = 8, o.top_k = 2;
  o.intermediate = 128, o.vocab = 300, o.max_shard_bytes = 300'000;
  return o;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("pq_inspect_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

}  // namespace

TEST_CASE("inspect summarises a synthetic MiniMax-M2 checkpoint") {
  const auto dir = fresh_dir("ok");
  pq::model::write_synthetic_minimax(dir, tiny());
  const auto r = run_cli("inspect --json --model " + dir.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["profile"] == "minimax_m2");
  CHECK(j["moe_layers"] == 2);
  CHECK(j["top_k"] == 2);
  CHECK(j["experts_per_layer"] == nlohmann::json::array({8, 8}));
  CHECK(j["linears"]["count"] == 2 * (4 + 3 * 8));
  // q 256x256, k/v 128x256, o 256x256; experts 3 x 128x256
  const std::int64_t linear_params = 2 * (256 * 256 * 2 + 128 * 256 * 2 + 8 * 3 * 128 * 256);
  CHECK(j["linears"]["params"] == linear_params);
  CHECK(j["source_formats"]["FP8_BLOCK128"]["params"] == linear_params);
  CHECK(j["linear_kinds"]["expert_gate"]["count"] == 16);
  CHECK(j["files"].get<int>() > 1);  // sharded, read through the index
  const auto text = run_cli("inspect --model " + dir.string());
  CHECK(text.code == 0);
  CHECK_THAT(text.out, Catch::Contains("8 experts per layer, top-k 2"));
  fs::remove_all(dir);
}

TEST_CASE("inspect: broken checkpoints give one clear line and a non-zero exit") {
  const auto dir = fresh_dir("bad");
  pq::model::write_synthetic_minimax(dir, tiny());
  auto expect_error = [&](const std::string& fragment) {
    const auto r = run_cli("inspect --model " + dir.string());
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Catch::StartsWith("prismaquant: error:") && Catch::Contains(fragment));
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  };
  const auto shard = dir / "model-00002-of-00009.safetensors";
  REQUIRE(fs::exists(shard));
  SECTION("truncated shard") {
    fs::resize_file(shard, fs::file_size(shard) - 10);
    expect_error("model-00002-of-00009.safetensors");
  }
  SECTION("missing shard") {
    fs::remove(shard);
    expect_error("missing");
  }
  SECTION("config that is not JSON") {
    std::ofstream(dir / "config.json") << "{ not json";
    expect_error("config.json");
  }
  SECTION("config promising more experts than stored") {
    auto o = tiny();
    o.experts = 9;
    std::ofstream(dir / "config.json") << pq::model::synthetic_minimax_config(o).dump();
    expect_error("num_local_experts");  // the router is checked before the experts
  }
  SECTION("no such folder") {
    fs::remove_all(dir);
    expect_error("no such file");
  }
  fs::remove_all(dir);
}
