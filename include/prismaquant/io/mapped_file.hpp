#pragma once
// A read-only POSIX memory map of a whole file (host only). Views into a safetensors
// file point straight into this mapping, so a 228B-parameter checkpoint is never copied.
#include <prismaquant/core/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace prismaquant {

class mapped_file {
 public:
  mapped_file() = default;
  explicit mapped_file(const std::filesystem::path& path) : path_(path) {
    const std::string where = path.string();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw error(where, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw error(where, std::string("cannot stat: ") + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw error(where, "not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {  // mmap of length 0 is an error; an empty file is just an empty span
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int e = errno;
        ::close(fd);
        throw error(where, std::string("cannot mmap: ") + std::strerror(e));
      }
      data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);  // the mapping keeps the file alive
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept
      : path_(std::move(o.path_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      unmap();
      path_ = std::move(o.path_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~mapped_file() { unmap(); }

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Hint that [offset, offset+len) will be read front to back (streaming cost passes).
  void advise_sequential(std::size_t offset = 0, std::size_t len = static_cast<std::size_t>(-1)) const noexcept {
    advise(offset, len, MADV_SEQUENTIAL);
  }
  // Drop the resident pages of a range once it has been consumed (keeps RSS flat while
  // streaming over shards far larger than RAM). The view stays valid: pages fault back in.
  void advise_dontneed(std::size_t offset = 0, std::size_t len = static_cast<std::size_t>(-1)) const noexcept {
    advise(offset, len, MADV_DONTNEED);
  }

 private:
  void advise(std::size_t offset, std::size_t len, int how) const noexcept {
    if (!data_ || offset >= size_) return;
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::size_t begin = offset / page * page;  // madvise wants a page-aligned start
    std::size_t end = len > size_ - offset ? size_ : offset + len;
    ::madvise(const_cast<std::byte*>(data_) + begin, end - begin, how);
  }
  void unmap() noexcept {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace prismaquant
