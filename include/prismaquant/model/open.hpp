#pragma once
// Open a checkpoint folder as a model: config.json + safetensors (sharded or not) + the
// profile's description of it. Host-only.
#include <prismaquant/io/checkpoint.hpp>
#include <prismaquant/io/json.hpp>
#include <prismaquant/model/describe.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace prismaquant::model {

struct opened_model {
  std::filesystem::path dir;
  nlohmann::json config;                      // empty object when the folder has no config.json
  std::unique_ptr<prismaquant::checkpoint> weights;
  std::vector<tensor_info> tensors;           // every tensor of every shard, in shard order
  model_description description;
};

inline nlohmann::json read_config(const std::filesystem::path& file) {
  auto j = strict_json::read_file(file);
  if (!j.is_object()) throw error(file.string(), "is not a JSON object");
  return j;
}

// Maps every shard's header (not its data), checks the index against the shards, and
// describes the model with the matching profile.
inline opened_model open_model(const std::filesystem::path& dir) {
  opened_model m;
  m.dir = dir;
  std::error_code ec;
  const auto cfg = std::filesystem::is_directory(dir, ec) ? dir / "config.json" : dir.parent_path() / "config.json";
  m.config = std::filesystem::exists(cfg, ec) ? read_config(cfg) : nlohmann::json::object();
  m.weights = std::make_unique<prismaquant::checkpoint>(dir);
  m.weights->validate();
  for (const auto& f : m.weights->files())
    for (const auto& e : m.weights->file(f).header().tensors) {
      tensor_info t;
      t.name = e.spec.name;
      t.type = e.spec.type;
      for (auto s : e.spec.shape) t.shape.push_back(static_cast<std::int64_t>(s));
      m.tensors.push_back(std::move(t));
    }
  m.description = describe_model(m.config, m.tensors);
  return m;
}

}  // namespace prismaquant::model
