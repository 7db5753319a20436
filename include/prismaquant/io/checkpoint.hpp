#pragma once
// Reading a checkpoint as HF publishes it: a folder with model.safetensors.index.json and
// shards, a folder with one model.safetensors, or a single .safetensors file. Shards are
// opened (mapped and validated) lazily, the first time one of their tensors is asked for.
#include <prismaquant/io/json.hpp>
#include <prismaquant/io/safetensors_file.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant {

class checkpoint {
 public:
  // `path`: a checkpoint folder, an index .json, or a .safetensors file.
  // A folder uses <name>.safetensors.index.json if there is exactly one, else model.safetensors,
  // else its only *.safetensors file. Throws prismaquant::error naming the file and the problem.
  explicit checkpoint(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      dir_ = path;
      std::vector<fs::path> indexes, files;
      for (auto& de : fs::directory_iterator(path, ec)) {
        auto name = de.path().filename().string();
        if (name.starts_with(".")) continue;  // temporaries of an unfinished writer
        if (name.ends_with(".safetensors.index.json")) indexes.push_back(de.path());
        else if (name.ends_with(".safetensors")) files.push_back(de.path());
      }
      if (ec) throw error(path.string(), "cannot list directory: " + ec.message());
      std::sort(indexes.begin(), indexes.end());
      std::sort(files.begin(), files.end());
      if (indexes.size() > 1) throw error(path.string(), "more than one *.safetensors.index.json; open one of them directly");
      if (indexes.size() == 1) load_index(indexes[0]);
      else if (fs::exists(path / "model.safetensors")) load_single(path / "model.safetensors");
      else if (files.size() == 1) load_single(files[0]);
      else if (files.empty()) throw error(path.string(), "no model.safetensors.index.json and no .safetensors file");
      else throw error(path.string(), "several .safetensors files but no model.safetensors.index.json");
    } else if (!fs::exists(path, ec)) {
      throw error(path.string(), "no such file or directory");
    } else if (path.string().ends_with(".json")) {
      dir_ = path.parent_path();
      load_index(path);
    } else {
      dir_ = path.parent_path();
      load_single(path);
    }
  }
  checkpoint(const checkpoint&) = delete;
  checkpoint& operator=(const checkpoint&) = delete;

  // Every tensor name, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    v.reserve(where_.size());
    for (auto& [n, _] : where_) v.push_back(n);
    return v;
  }
  std::size_t size() const noexcept { return where_.size(); }
  bool contains(std::string_view name) const { return where_.find(name) != where_.end(); }
  // The shard that holds `name` (no I/O).
  const std::filesystem::path& file_of(std::string_view name) const {
    auto it = where_.find(name);
    if (it == where_.end()) throw error(source_, "no tensor named \"" + std::string(name) + "\"");
    return shards_[it->second].path;
  }
  // Shard files in index order (model-00001-of-N first).
  std::vector<std::filesystem::path> files() const {
    std::vector<std::filesystem::path> v;
    for (auto& s : shards_) v.push_back(s.path);
    return v;
  }
  // The index's metadata (e.g. total_size), empty for a single file.
  const nlohmann::json& index_metadata() const noexcept { return index_metadata_; }
  // The file that defined the tensor list (index json or the single .safetensors).
  const std::string& source() const noexcept { return source_; }
  const std::filesystem::path& directory() const noexcept { return dir_; }

  // The tensor called `name`; maps its shard on first use. Thread-safe.
  tensor_view tensor(std::string_view name) const {
    auto it = where_.find(name);
    if (it == where_.end()) throw error(source_, "no tensor named \"" + std::string(name) + "\"");
    const safetensors_file& f = shard_file(it->second);
    auto v = f.find(name);
    if (!v) throw error(f.path(), "tensor \"" + std::string(name) + "\" is listed in " + source_ + " but not in this shard");
    return *v;
  }
  // The mapped, validated file holding `name` (or any shard path from files()).
  const safetensors_file& file(const std::filesystem::path& shard_path) const {
    for (std::size_t i = 0; i < shards_.size(); ++i)
      if (shards_[i].path == shard_path) return shard_file(i);
    throw error(source_, shard_path.string() + " is not a shard of this checkpoint");
  }

  // Open every shard and check the index against the shards both ways: every listed tensor is
  // in its shard, and every tensor in a shard is listed (for that shard).
  void validate() const {
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      const safetensors_file& f = shard_file(i);
      for (const auto& e : f.header().tensors) {
        auto it = where_.find(e.spec.name);
        if (it == where_.end()) throw error(f.path(), "tensor \"" + e.spec.name + "\" is not listed in " + source_);
        if (it->second != i)
          throw error(f.path(), "tensor \"" + e.spec.name + "\" is listed in " + source_ + " under " +
                                    shards_[it->second].path.filename().string());
      }
    }
  }

  // Unmap a shard (views into it become invalid). For streaming passes over checkpoints
  // larger than the address space one wants to keep resident.
  void release(const std::filesystem::path& shard_path) {
    std::lock_guard lock(mu_);
    for (auto& s : shards_)
      if (s.path == shard_path) s.file.reset();
  }

 private:
  struct shard {
    std::filesystem::path path;
    mutable std::unique_ptr<safetensors_file> file;
  };

  const safetensors_file& shard_file(std::size_t i) const {
    std::lock_guard lock(mu_);
    auto& s = shards_[i];
    if (!s.file) s.file = std::make_unique<safetensors_file>(s.path);
    return *s.file;
  }

  void load_single(const std::filesystem::path& p) {
    source_ = p.string();
    shards_.push_back({p, std::make_unique<safetensors_file>(p)});  // one file: open now
    for (const auto& e : shards_[0].file->header().tensors) where_.emplace(e.spec.name, 0);
  }

  void load_index(const std::filesystem::path& p) {
    namespace fs = std::filesystem;
    source_ = p.string();
    const nlohmann::json j = strict_json::read_file(p);
    if (!j.is_object()) throw error(source_, "index is not a JSON object");
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw error(source_, "index has no \"weight_map\" object");
    if (j.contains("metadata")) {
      if (!j["metadata"].is_object()) throw error(source_, "index \"metadata\" is not an object");
      index_metadata_ = j["metadata"];
    }
    std::map<std::string, std::size_t> shard_no;
    for (auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) throw error(source_, "weight_map entry for \"" + name + "\" is not a file name");
      std::string f = file.get<std::string>();
      // Shards live next to the index; a name that climbs out of the folder is refused.
      fs::path rel(f);
      if (f.empty() || rel.is_absolute() || rel.has_parent_path())
        throw error(source_, "weight_map entry for \"" + name + "\" names \"" + f + "\", not a file in this folder");
      auto [it, inserted] = shard_no.emplace(f, shards_.size());
      if (inserted) {
        fs::path sp = p.parent_path() / rel;
        std::error_code ec;
        if (!fs::is_regular_file(sp, ec))
          throw error(source_, "shard \"" + f + "\" (holding \"" + name + "\") is missing");
        shards_.push_back({sp, nullptr});
      }
      where_.emplace(name, it->second);
    }
    // Index order: by file name, so model-00001 comes first.
    std::vector<std::size_t> order(shards_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return shards_[a].path < shards_[b].path; });
    std::vector<std::size_t> rank(order.size());
    std::vector<shard> sorted;
    for (std::size_t k = 0; k < order.size(); ++k) {
      rank[order[k]] = k;
      sorted.push_back(std::move(shards_[order[k]]));
    }
    shards_ = std::move(sorted);
    for (auto& [_, s] : where_) s = rank[s];
  }

  std::filesystem::path dir_;
  std::string source_;
  nlohmann::json index_metadata_ = nlohmann::json::object();
  std::vector<shard> shards_;
  std::map<std::string, std::size_t, std::less<>> where_;
  mutable std::mutex mu_;
};

}  // namespace prismaquant
