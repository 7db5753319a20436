#pragma once
// Activations cached at layer boundaries, within a memory budget: blocks (one batch's hidden
// states, or its gradient) stay in memory while the resident total fits the budget and are
// written to a temporary folder beyond it, read back (and deleted) when taken. The folder is
// created on the first spill and removed with the store. Thread-safe.
#include <prismaquant/core/error.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

namespace prismaquant::engine {

class activation_store {
 public:
  activation_store(std::uint64_t budget_bytes, std::filesystem::path tmp_parent)
      : budget_(budget_bytes), parent_(std::move(tmp_parent)) {}
  activation_store(const activation_store&) = delete;
  activation_store& operator=(const activation_store&) = delete;
  ~activation_store() {
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  static std::int64_t key(int kind, int layer, int batch) {
    return (static_cast<std::int64_t>(kind) << 48) | (static_cast<std::int64_t>(layer + 1) << 24) | batch;
  }

  void put(std::int64_t k, std::vector<float>&& v) {
    const std::uint64_t bytes = v.size() * sizeof(float);
    {
      std::lock_guard lock(mu_);
      if (resident_ + bytes <= budget_) {
        resident_ += bytes;
        peak_ = std::max(peak_, resident_);
        mem_[k] = std::move(v);
        return;
      }
      if (dir_.empty()) make_dir();
    }
    const auto file = path_of(k);
    FILE* f = std::fopen(file.c_str(), "wb");
    if (!f) throw error(file.string(), "cannot create a spill file for cached activations");
    const bool ok = std::fwrite(v.data(), sizeof(float), v.size(), f) == v.size();
    if (std::fclose(f) != 0 || !ok) throw error(file.string(), "write failed (disk full?) while spilling activations");
    std::lock_guard lock(mu_);
    disk_[k] = v.size();
    spilled_ += bytes;
  }

  std::vector<float> take(std::int64_t k) {
    std::size_t n = 0;
    {
      std::lock_guard lock(mu_);
      if (auto it = mem_.find(k); it != mem_.end()) {
        std::vector<float> v = std::move(it->second);
        resident_ -= v.size() * sizeof(float);
        mem_.erase(it);
        return v;
      }
      auto it = disk_.find(k);
      if (it == disk_.end()) throw error("activation store", "no cached block " + std::to_string(k));
      n = it->second;
      disk_.erase(it);
    }
    const auto file = path_of(k);
    std::vector<float> v(n);
    FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) throw error(file.string(), "cannot read back a spilled activation block");
    const bool ok = std::fread(v.data(), sizeof(float), n, f) == n;
    std::fclose(f);
    std::error_code ec;
    std::filesystem::remove(file, ec);
    if (!ok) throw error(file.string(), "short read of a spilled activation block");
    return v;
  }

  std::uint64_t peak_resident_bytes() const { std::lock_guard lock(mu_); return peak_; }
  std::uint64_t spilled_bytes() const { std::lock_guard lock(mu_); return spilled_; }
  const std::filesystem::path& spill_dir() const noexcept { return dir_; }

 private:
  void make_dir() {
    std::error_code ec;
    std::filesystem::path parent = parent_.empty() ? std::filesystem::temp_directory_path(ec) : parent_;
    std::string tmpl = (parent / "prismaquant-activations-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw error(parent.string(), "cannot create a temporary folder for spilled activations");
    dir_ = tmpl;
  }
  std::filesystem::path path_of(std::int64_t k) const { return dir_ / (std::to_string(k) + ".f32"); }

  std::uint64_t budget_;
  std::filesystem::path parent_, dir_;
  mutable std::mutex mu_;
  std::map<std::int64_t, std::vector<float>> mem_;
  std::map<std::int64_t, std::size_t> disk_;
  std::uint64_t resident_ = 0, peak_ = 0, spilled_ = 0;
};

}  // namespace prismaquant::engine
