#pragma once
// A command's output files, published all together or not at all.
//
// Files are written into a staging folder on the target's filesystem; nothing in the target
// changes until publish(), which runs only after every file is complete. Destroying an
// unpublished set (an error, an exception) removes the staging folder and leaves the target
// exactly as it was. Host only.
//
//   prismaquant::output_set out(dir);                 // checks the target, creates the staging folder
//   out.owns("costs.safetensors");                    // a name this command may leave stale
//   write_something(out.path("costs.json"));          // any writer, into the staging folder
//   out.write("pareto.csv", text);                    // or whole files
//   out.publish();                                    // the new set replaces the old one
//
// publish() for publish_mode::replace_files (cost, allocate, probe):
//   * target missing: the staging folder is renamed to the target (one atomic rename);
//   * target exists: every staged file replaces the file of the same name (each by one
//     atomic rename, the old one kept as a hard link until the end); names given to owns()
//     that this run did not write are removed (a stale side file); other files in the target
//     are not touched. If any step fails, every file is put back as it was.
// publish() for publish_mode::replace_folder (a checkpoint folder):
//   * the target becomes exactly the staged tree: renameat2(RENAME_EXCHANGE) swaps the two
//     folders in one step (two renames where the filesystem lacks it), then the old tree is
//     removed. An existing target is accepted only if it is empty or every entry in it passes
//     the `replaceable` predicate (so a mistyped --out never deletes someone's files).
// Only a kill between the renames of replace_files can leave a mix of old and new files;
// the renames are the last thing a command does, after all work and every fsync.
#include <prismaquant/core/error.hpp>
#include <prismaquant/io/atomic_file.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

namespace prismaquant {

enum class publish_mode { replace_files, replace_folder };

class output_set {
 public:
  using replaceable_fn = std::function<bool(const std::filesystem::path& entry)>;

  // `target`: the folder the outputs belong in. Errors name `where` (default: the target).
  explicit output_set(std::filesystem::path target, publish_mode mode = publish_mode::replace_files,
                      replaceable_fn replaceable = {}, std::string where = {})
      : target_(std::move(target)), mode_(mode), replaceable_(std::move(replaceable)), where_(std::move(where)) {
    namespace fs = std::filesystem;
    if (target_.empty()) throw error(where_.empty() ? std::string("output") : where_, "empty output path");
    if (target_.filename().empty()) target_ = target_.parent_path();  // "dir/" -> "dir"
    if (where_.empty()) where_ = target_.string();
    std::error_code ec;
    const auto st = fs::status(target_, ec);
    target_existed_ = fs::exists(st);
    if (target_existed_ && !fs::is_directory(st)) throw error(where_, "exists and is not a folder");
    if (target_existed_ && mode_ == publish_mode::replace_folder) check_replaceable();
    // Staging: inside an existing target (replace_files: renames stay in one folder), else
    // beside it (the whole folder is renamed into place).
    const bool inside = target_existed_ && mode_ == publish_mode::replace_files;
    fs::path home = inside ? target_ : target_.parent_path();
    if (home.empty()) home = ".";
    if (!fs::exists(home, ec)) {
      // Remember the first folder we create, to remove the chain again if nothing is published.
      fs::path p = home;
      while (!p.empty() && !fs::exists(p.parent_path().empty() ? fs::path(".") : p.parent_path(), ec)) p = p.parent_path();
      created_root_ = p;
      fs::create_directories(home, ec);
      if (ec) throw error(where_, "cannot create folder " + home.string() + ": " + ec.message());
    } else if (!fs::is_directory(home, ec)) {
      throw error(where_, home.string() + " is not a folder");
    }
    staging_ = home / ("." + target_.filename().string() + ".staging-" + std::to_string(::getpid()) + "-" +
                       std::to_string(counter().fetch_add(1)));
    fs::create_directory(staging_, ec);
    if (ec) {
      cleanup_created();
      throw error(where_, "cannot create a staging folder in " + home.string() + ": " + ec.message());
    }
  }
  output_set(const output_set&) = delete;
  output_set& operator=(const output_set&) = delete;
  ~output_set() { abandon(); }

  const std::filesystem::path& target() const noexcept { return target_; }
  // The staging folder (replace_folder: write the whole tree under it).
  const std::filesystem::path& staging() const noexcept { return staging_; }
  // Where output file `name` (a plain file name) is written before publish().
  std::filesystem::path path(const std::string& name) const {
    check_name(name);
    return staging_ / name;
  }
  // Writes a whole file into the staging folder (fsynced).
  void write(const std::string& name, std::string_view content) const { write_file_atomic(path(name), content); }
  // A name this command writes on some runs only: removed from the target on publish when
  // this run did not write it, so the published set never mixes runs.
  void owns(const std::string& name) {
    check_name(name);
    owned_.insert(name);
  }
  bool published() const noexcept { return published_; }

  void publish() {
    if (published_) throw error(where_, "output set published twice");
    if (mode_ == publish_mode::replace_folder) publish_folder();
    else publish_files();
    published_ = true;
  }

 private:
  static std::atomic<unsigned>& counter() {
    static std::atomic<unsigned> c{0};
    return c;
  }
  void check_name(const std::string& name) const {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
      throw error(where_, "output name \"" + name + "\" is not a plain file name");
  }
  void check_replaceable() const {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(target_, ec))
      if (!replaceable_ || !replaceable_(e.path()))
        throw error(where_, "exists and holds " + e.path().filename().string() +
                                ", which this command did not write (choose an empty or new folder)");
    if (ec) throw error(where_, "cannot list: " + ec.message());
  }
  [[noreturn]] void fail(const std::string& what, int e) const {
    throw error(where_, what + ": " + detail::errno_text(e));
  }

  void publish_files() {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(staging_, ec)) {
      if (!e.is_regular_file()) throw error(where_, "staged output " + e.path().filename().string() + " is not a file");
      names.push_back(e.path().filename().string());
    }
    if (ec) fail("cannot list the staging folder", ec.value());
    std::sort(names.begin(), names.end());
    if (!fs::exists(target_, ec)) {  // a new folder: one rename
      if (::rename(staging_.c_str(), target_.c_str()) != 0) fail("cannot move the outputs into place", errno);
      staging_.clear();
      created_root_.clear();
      detail::fsync_dir(target_.parent_path());
      return;
    }
    std::set<std::string> all(names.begin(), names.end());
    all.insert(owned_.begin(), owned_.end());
    for (const auto& n : all)  // fail before touching anything
      if (fs::is_directory(fs::symlink_status(target_ / n, ec)))
        throw error((target_ / n).string(), "is a folder; the output of the same name cannot replace it");
    const fs::path old = staging_ / ".old";
    if (::mkdir(old.c_str(), 0777) != 0) fail("cannot create " + old.string(), errno);
    // Each step is recorded so a failure can put back exactly what was there.
    std::vector<std::string> kept, installed;
    auto written = [&](const std::string& n) { return std::binary_search(names.begin(), names.end(), n); };
    try {
      for (const auto& n : all) {
        const fs::path t = target_ / n, b = old / n;
        if (!fs::exists(fs::symlink_status(t, ec))) continue;
        // A file to replace stays in place (a second link keeps it) until the new one is
        // renamed over it; a stale owned file, or one on a filesystem without hard links,
        // is moved aside.
        if (!written(n) || ::link(t.c_str(), b.c_str()) != 0)
          if (::rename(t.c_str(), b.c_str()) != 0) fail("cannot move " + t.string() + " aside", errno);
        kept.push_back(n);
      }
      for (const auto& n : names) {
        if (::rename((staging_ / n).c_str(), (target_ / n).c_str()) != 0) fail("cannot move " + n + " into place", errno);
        installed.push_back(n);
      }
    } catch (...) {
      for (const auto& n : installed)  // back out: the old files (or none) where they were
        if (std::find(kept.begin(), kept.end(), n) == kept.end()) (void)::unlink((target_ / n).c_str());
      for (const auto& n : kept) (void)::rename((old / n).c_str(), (target_ / n).c_str());
      throw;
    }
    detail::fsync_dir(target_);
    fs::remove_all(staging_, ec);
    staging_.clear();
  }

  void publish_folder() {
    namespace fs = std::filesystem;
    std::error_code ec;
    detail::fsync_dir(staging_);
    if (!fs::exists(target_, ec)) {
      if (::rename(staging_.c_str(), target_.c_str()) != 0) fail("cannot move the output folder into place", errno);
      staging_.clear();
      created_root_.clear();
      detail::fsync_dir(target_.parent_path());
      return;
    }
    check_replaceable();
#ifdef RENAME_EXCHANGE
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) == 0) {
      detail::fsync_dir(target_.parent_path());
      fs::remove_all(staging_, ec);  // now the old tree
      staging_.clear();
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) fail("cannot swap in the output folder", errno);
#endif
    const fs::path old = fs::path(staging_.string() + ".old");
    if (::rename(target_.c_str(), old.c_str()) != 0) fail("cannot move the previous folder aside", errno);
    if (::rename(staging_.c_str(), target_.c_str()) != 0) {
      const int e = errno;
      (void)::rename(old.c_str(), target_.c_str());
      fail("cannot move the output folder into place", e);
    }
    detail::fsync_dir(target_.parent_path());
    staging_.clear();
    fs::remove_all(old, ec);
  }

  void abandon() noexcept {
    std::error_code ec;
    if (!staging_.empty()) std::filesystem::remove_all(staging_, ec);
    staging_.clear();
    cleanup_created();
  }
  // Folders created only to hold the staging folder: removed again (if still empty).
  void cleanup_created() noexcept {
    if (created_root_.empty()) return;
    std::error_code ec;
    const auto home = (target_existed_ && mode_ == publish_mode::replace_files) ? target_ : target_.parent_path();
    for (auto p = home; !p.empty(); p = p.parent_path()) {
      std::filesystem::remove(p, ec);  // fails (harmlessly) when not empty
      if (ec || p == created_root_) break;
    }
    created_root_.clear();
  }

  std::filesystem::path target_, staging_, created_root_;
  publish_mode mode_;
  replaceable_fn replaceable_;
  std::string where_;
  std::set<std::string> owned_;
  bool target_existed_ = false;
  bool published_ = false;
};

}  // namespace prismaquant
