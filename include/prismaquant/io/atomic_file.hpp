#pragma once
// Files that appear complete or not at all: write under a temporary name in the same
// directory, fsync, then rename over the final name (rename is atomic on POSIX). Host only.
#include <prismaquant/core/error.hpp>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace prismaquant {
namespace detail {

inline std::string errno_text(int e) { return std::strerror(e); }

// "<dir>/.<name>.tmp-<pid>-<n>": hidden, unique per process and call, same filesystem.
inline std::filesystem::path temp_name_for(const std::filesystem::path& final_path) {
  static std::atomic<unsigned> counter{0};
  auto dir = final_path.parent_path();
  std::string name = "." + final_path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter.fetch_add(1));
  return dir.empty() ? std::filesystem::path(name) : dir / name;
}

inline void fsync_dir(const std::filesystem::path& dir) noexcept {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// An owned, write-only file descriptor with full-write semantics and errors that name the file.
class output_fd {
 public:
  output_fd() = default;
  output_fd(const std::filesystem::path& path, std::string where) : where_(std::move(where)) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) throw error(where_, "cannot create " + path.string() + ": " + errno_text(errno));
  }
  output_fd(const output_fd&) = delete;
  output_fd& operator=(const output_fd&) = delete;
  output_fd(output_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)), where_(std::move(o.where_)) {}
  output_fd& operator=(output_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
      where_ = std::move(o.where_);
    }
    return *this;
  }
  ~output_fd() { reset(); }

  int fd() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  void write(std::span<const std::byte> b) {
    const std::byte* p = b.data();
    std::size_t left = b.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw error(where_, "write failed: " + errno_text(errno));
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void write(std::string_view s) { write(std::as_bytes(std::span<const char>(s.data(), s.size()))); }
  void sync() {
    if (::fsync(fd_) != 0) throw error(where_, "fsync failed: " + errno_text(errno));
  }
  void close() {
    int fd = std::exchange(fd_, -1);
    if (fd >= 0 && ::close(fd) != 0) throw error(where_, "close failed: " + errno_text(errno));
  }

 private:
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  std::string where_;
};

// A file being built under a temporary name (the caller renames it into place).
struct atomic_stream {
  output_fd fd;
  void sync_if(bool sync) {
    if (sync && fd.is_open()) fd.sync();
  }
  void close() { fd.close(); }
};

// Append the first `bytes` bytes of file `src` to `out` (kernel-side copy when possible).
inline void append_file(output_fd& out, const std::filesystem::path& src, std::uint64_t bytes, const std::string& where) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw error(where, "cannot reopen " + src.string() + ": " + errno_text(errno));
  std::uint64_t left = bytes;
  bool kernel_copy = true;
  std::vector<char> buf;
  while (left > 0) {
    ssize_t n;
    if (kernel_copy) {
      n = ::copy_file_range(in, nullptr, out.fd(), nullptr, static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30)), 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        kernel_copy = false;  // e.g. across filesystems: fall back to read/write
        continue;
      }
    } else {
      buf.resize(1u << 22);
      n = ::read(in, buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size())));
      if (n > 0) out.write(std::as_bytes(std::span<const char>(buf.data(), static_cast<std::size_t>(n))));
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(in);
      throw error(where, "copying " + src.string() + " failed: " + errno_text(e));
    }
    if (n == 0) {
      ::close(in);
      throw error(where, src.string() + " is shorter than expected");
    }
    left -= static_cast<std::uint64_t>(n);
  }
  ::close(in);
}

}  // namespace detail

// Write a file atomically: create, write through fd(), then commit(). Destroying it
// uncommitted (e.g. on an exception) removes the temporary file, leaving `final_path` untouched.
class atomic_file {
 public:
  explicit atomic_file(std::filesystem::path final_path, bool sync = true)
      : final_(std::move(final_path)), temp_(detail::temp_name_for(final_)), sync_(sync), out_(temp_, final_.string()) {}
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() {
    if (!committed_) {
      out_ = detail::output_fd{};
      std::error_code ec;
      std::filesystem::remove(temp_, ec);
    }
  }
  detail::output_fd& fd() noexcept { return out_; }
  void write(std::span<const std::byte> b) { out_.write(b); }
  void write(std::string_view s) { out_.write(s); }
  const std::filesystem::path& temp_path() const noexcept { return temp_; }
  const std::filesystem::path& final_path() const noexcept { return final_; }
  void commit() {
    if (sync_) out_.sync();
    out_.close();
    if (::rename(temp_.c_str(), final_.c_str()) != 0)
      throw error(final_.string(), "cannot rename " + temp_.string() + " into place: " + detail::errno_text(errno));
    committed_ = true;
    if (sync_) detail::fsync_dir(final_.parent_path());
  }

 private:
  std::filesystem::path final_, temp_;
  bool sync_;
  detail::output_fd out_;
  bool committed_ = false;
};

// Whole-file convenience: `content` lands at `path` atomically.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view content, bool sync = true) {
  atomic_file f(path, sync);
  f.write(content);
  f.commit();
}

}  // namespace prismaquant
