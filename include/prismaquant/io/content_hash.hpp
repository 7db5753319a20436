#pragma once
// A 64-bit hash of file contents: what decides whether a pipeline stage's inputs changed
// (tools/prismaquant/cmd_pipeline.cpp). Not cryptographic; the same bytes give the same value
// on every machine (words are read little-endian, the one byte order the library targets).
//
//   content_hasher h;
//   h.add("probe");                   // any text: option values, names
//   h.add_file("calib_tokens.bin");   // every byte of a file (and its size)
//   h.add_folder("models/m");         // every regular file below, by sorted relative path
//   std::string key = h.hex();        // 16 hex digits
//
// Rounds: four 64-bit lanes, each word multiplied, added, rotated and multiplied again (the
// multiply-rotate construction of the xxHash family), then the lanes folded and avalanched.
// Reads files in 4 MiB pieces (several GB/s on one core: a 230 GB checkpoint takes about a
// minute, small next to its probe). Host only.
#include <prismaquant/core/error.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant {

class content_hasher {
 public:
  // Text, length-prefixed (so "ab"+"c" differs from "a"+"bc").
  void add(std::string_view s) {
    add_u64(s.size());
    feed(reinterpret_cast<const unsigned char*>(s.data()), s.size());
  }
  void add_u64(std::uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    feed(b, 8);
  }
  // Every byte of the file, after its size.
  void add_file(const std::filesystem::path& p) {
    std::FILE* f = std::fopen(p.c_str(), "rb");
    if (!f) throw error(p.string(), "cannot be read");
    std::error_code ec;
    const auto size = std::filesystem::file_size(p, ec);
    add_u64(ec ? 0 : size);
    std::vector<unsigned char> buf(4u << 20);
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) feed(buf.data(), n);
    const bool bad = std::ferror(f) != 0;
    std::fclose(f);
    if (bad) throw error(p.string(), "read error");
  }
  // Every regular file below `dir` (links followed), in sorted order of relative path; each
  // name hashed with its contents, so a renamed file changes the value.
  void add_folder(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
         !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(fs::relative(it->path(), dir, ec));
    if (ec) throw error(dir.string(), "cannot be listed: " + ec.message());
    std::sort(files.begin(), files.end());
    add_u64(files.size());
    for (const auto& f : files) {
      add(f.generic_string());
      add_file(dir / f);
    }
  }

  std::uint64_t value() const {
    content_hasher c = *this;  // finishing leaves this hasher usable
    return c.finish();
  }
  std::string hex() const {
    char s[17];
    std::snprintf(s, sizeof s, "%016llx", static_cast<unsigned long long>(value()));
    return s;
  }

 private:
  static constexpr std::uint64_t p1 = 0x9E3779B185EBCA87ull, p2 = 0xC2B2AE3D27D4EB4Full, p3 = 0x165667B19E3779F9ull,
                                 p4 = 0x85EBCA77C2B2AE63ull, p5 = 0x27D4EB2F165667C5ull;
  static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static std::uint64_t round(std::uint64_t acc, std::uint64_t w) { return rotl(acc + w * p2, 31) * p1; }
  static std::uint64_t load(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];  // little-endian whatever the host
    return v;
  }
  void feed(const unsigned char* p, std::size_t n) {
    total_ += n;
    while (n > 0) {
      const std::size_t take = std::min(n, sizeof(pending_) - fill_);
      std::memcpy(pending_ + fill_, p, take);
      fill_ += take;
      p += take;
      n -= take;
      if (fill_ == sizeof(pending_)) {
        for (int l = 0; l < 4; ++l) lanes_[l] = round(lanes_[l], load(pending_ + 8 * l));
        fill_ = 0;
      }
    }
  }
  std::uint64_t finish() {
    std::uint64_t h = rotl(lanes_[0], 1) + rotl(lanes_[1], 7) + rotl(lanes_[2], 12) + rotl(lanes_[3], 18);
    for (int l = 0; l < 4; ++l) h = (h ^ round(0, lanes_[l])) * p1 + p4;
    h += total_;
    std::size_t i = 0;
    for (; i + 8 <= fill_; i += 8) h = rotl(h ^ round(0, load(pending_ + i)), 27) * p1 + p4;
    for (; i < fill_; ++i) h = rotl(h ^ (pending_[i] * p5), 11) * p1;
    h ^= h >> 33;
    h *= p2;
    h ^= h >> 29;
    h *= p3;
    h ^= h >> 32;
    return h;
  }

  std::array<std::uint64_t, 4> lanes_{p1 + p2, p2, 0, 0 - p1};
  unsigned char pending_[32]{};
  std::size_t fill_ = 0;
  std::uint64_t total_ = 0;
};

}  // namespace prismaquant
