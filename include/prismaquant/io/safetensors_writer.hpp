#pragma once
// Writing safetensors: one file in one call (write_safetensors), or a streaming writer of a
// whole HF-style checkpoint (checkpoint_writer) that never holds more than one tensor in
// memory and never leaves a partial checkpoint that looks complete.
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/io/safetensors_header.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include <unistd.h>

namespace prismaquant {

// A tensor to write: what it is and its bytes (already in safetensors storage order).
struct tensor_data {
  tensor_spec spec;
  std::span<const std::byte> bytes;
};

// One .safetensors file, written atomically, tensors in the given order.
inline void write_safetensors(const std::filesystem::path& path, std::span<const tensor_data> tensors,
                              const std::map<std::string, std::string>& metadata = {{"format", "pt"}},
                              bool sync = true) {
  const std::string where = path.string();
  std::vector<tensor_entry> entries;
  entries.reserve(tensors.size());
  std::uint64_t cursor = 0;
  for (const auto& t : tensors) {
    std::uint64_t n = tensor_bytes(t.spec.type, t.spec.shape, where + ": tensor \"" + t.spec.name + "\"");
    if (n != t.bytes.size())
      throw error(where, "tensor \"" + t.spec.name + "\": " + std::string(dtype_name(t.spec.type)) + " " +
                             detail::shape_string(t.spec.shape) + " needs " + std::to_string(n) + " bytes, got " +
                             std::to_string(t.bytes.size()));
    entries.push_back({t.spec, cursor, cursor + n});
    cursor += n;
  }
  std::string header = serialize_safetensors_header(entries, metadata, where);
  atomic_file f(path, sync);
  f.write(header);
  for (const auto& t : tensors) f.write(t.bytes);
  f.commit();
}

struct checkpoint_writer_options {
  // A new shard starts when the next tensor would push the current one past this many data
  // bytes (a tensor larger than the limit gets a shard of its own). transformers' default.
  std::uint64_t max_shard_bytes = 5'000'000'000;
  std::map<std::string, std::string> metadata{{"format", "pt"}};  // __metadata__ of every shard
  std::string prefix = "model";  // model.safetensors / model-00001-of-0000N.safetensors
  // Write exactly the output path as one file (no shards, no index).
  bool single_file = false;
  // Optional: every tensor, in the order add() will be called. With a plan each shard's
  // header is written first and data streams straight behind it; without one, each shard's
  // data is spooled to a temporary file and copied behind the header when the shard closes.
  std::vector<tensor_spec> plan;
  bool sync = true;  // fsync files and directory before renames
};

// Streaming writer of a checkpoint folder (or one file). Usage:
//   checkpoint_writer w(dir);            // or (dir, options)
//   w.add(spec, bytes); ...               // or begin_tensor / write / end_tensor in pieces
//   w.finish();                           // shards renamed into place, index written last
// Destroying it before finish() (e.g. after an exception) removes every temporary file.
class checkpoint_writer {
 public:
  explicit checkpoint_writer(std::filesystem::path out, checkpoint_writer_options opt = {})
      : out_(std::move(out)), opt_(std::move(opt)) {
    where_ = out_.string();
    if (opt_.single_file) opt_.max_shard_bytes = ~std::uint64_t{0};
    if (opt_.max_shard_bytes == 0) throw error(where_, "max_shard_bytes must be positive");
    dir_ = opt_.single_file ? out_.parent_path() : out_;
    if (!opt_.single_file) {
      std::error_code ec;
      std::filesystem::create_directories(dir_, ec);
      if (ec) throw error(where_, "cannot create directory: " + ec.message());
    }
    if (!opt_.plan.empty()) plan_shards();
  }
  checkpoint_writer(const checkpoint_writer&) = delete;
  checkpoint_writer& operator=(const checkpoint_writer&) = delete;
  ~checkpoint_writer() { abort(); }

  void add(const tensor_spec& spec, std::span<const std::byte> bytes) {
    begin_tensor(spec);
    write(bytes);
    end_tensor();
  }
  void add(const tensor_data& t) { add(t.spec, t.bytes); }

  // Stream one tensor in pieces (for tensors too large to hold, or produced row by row).
  void begin_tensor(const tensor_spec& spec) {
    check_open();
    if (in_tensor_) throw error(where_, "begin_tensor(\"" + spec.name + "\") while \"" + cur_.spec.name + "\" is unfinished");
    if (spec.name == "__metadata__") throw error(where_, "\"__metadata__\" cannot be a tensor name");
    if (names_.count(spec.name)) throw error(where_, "duplicate tensor \"" + spec.name + "\"");
    const std::uint64_t n = tensor_bytes(spec.type, spec.shape, where_ + ": tensor \"" + spec.name + "\"");
    if (planned()) {
      if (next_ >= opt_.plan.size()) throw error(where_, "tensor \"" + spec.name + "\" is not in the plan (plan has " + std::to_string(opt_.plan.size()) + " tensors)");
      if (!(opt_.plan[next_] == spec))
        throw error(where_, "tensor \"" + spec.name + "\" does not match the plan, which expects \"" +
                                opt_.plan[next_].name + "\" " + std::string(dtype_name(opt_.plan[next_].type)) + " " +
                                detail::shape_string(opt_.plan[next_].shape) + " next");
      std::size_t s = plan_shard_[next_];
      if (shards_.empty() || shards_.size() - 1 != s) open_planned_shard(s);
      ++next_;
    } else {
      if (shards_.empty() || (!shards_.back().entries.empty() && shards_.back().bytes + n > opt_.max_shard_bytes)) {
        if (!shards_.empty()) guarded([&] { close_spooled_shard(); });
        open_spooled_shard();
      }
    }
    names_.insert(spec.name);  // only once the spec is accepted
    shard& sh = shards_.back();
    cur_ = tensor_entry{spec, sh.bytes, sh.bytes + n};
    if (!planned()) sh.entries.push_back(cur_);
    in_tensor_ = true;
    written_ = 0;
  }
  void write(std::span<const std::byte> bytes) {
    check_open();
    if (!in_tensor_) throw error(where_, "write() outside begin_tensor/end_tensor");
    if (bytes.size() > cur_.size() - written_)
      throw error(where_, "tensor \"" + cur_.spec.name + "\": more bytes written than its " +
                              std::to_string(cur_.size()) + "-byte size");
    guarded([&] { data_fd().write(bytes); });
    written_ += bytes.size();
  }
  void end_tensor() {
    check_open();
    if (!in_tensor_) throw error(where_, "end_tensor() without begin_tensor()");
    if (written_ != cur_.size())
      throw error(where_, "tensor \"" + cur_.spec.name + "\": " + std::to_string(written_) + " bytes written, " +
                              std::to_string(cur_.size()) + " expected");
    shards_.back().bytes = cur_.end;
    total_bytes_ += cur_.size();
    in_tensor_ = false;
  }

  // Close the last shard, rename every shard into place, then write the index (so a reader
  // never sees an index whose shards are missing). Returns the files written.
  std::vector<std::filesystem::path> finish() {
    check_open();
    if (in_tensor_) throw error(where_, "finish() while tensor \"" + cur_.spec.name + "\" is unfinished");
    if (planned() && next_ != opt_.plan.size())
      throw error(where_, "finish() after " + std::to_string(next_) + " of the " + std::to_string(opt_.plan.size()) +
                              " planned tensors (next: \"" + opt_.plan[next_].name + "\")");
    if (shards_.empty()) {  // no tensors: still a valid (empty) checkpoint
      if (planned()) open_planned_shard(0);
      else open_spooled_shard();
    }
    guarded([&] {
      if (planned()) shards_.back().file.sync_if(opt_.sync);
      else close_spooled_shard();
    });
    const std::size_t count = shards_.size();
    std::vector<std::filesystem::path> finals;
    for (std::size_t i = 0; i < count; ++i) finals.push_back(final_shard_path(i, count));
    std::vector<std::filesystem::path> written;
    guarded([&] {
      auto index = dir_ / (opt_.prefix + ".safetensors.index.json");
      if (!opt_.single_file && count == 1) {  // a stale index would shadow the new single file
        std::error_code ec;
        std::filesystem::remove(index, ec);
      }
      for (std::size_t i = 0; i < count; ++i) {
        shards_[i].file.close();
        if (::rename(shards_[i].temp.c_str(), finals[i].c_str()) != 0)
          throw error(finals[i].string(), "cannot rename temporary shard into place: " + detail::errno_text(errno));
        shards_[i].renamed = true;
        written.push_back(finals[i]);
      }
      if (opt_.sync) detail::fsync_dir(dir_);
      if (!opt_.single_file && count > 1) {
        nlohmann::json j;
        j["metadata"]["total_size"] = total_bytes_;
        auto& wm = j["weight_map"] = nlohmann::json::object();
        for (std::size_t i = 0; i < count; ++i)
          for (const auto& e : shards_[i].entries) wm[e.spec.name] = finals[i].filename().string();
        write_file_atomic(index, j.dump(2) + "\n", opt_.sync);
        written.push_back(index);
      }
    });
    finished_ = true;
    return written;
  }

  // Remove all temporary files and give up (also what the destructor does before finish()).
  void abort() noexcept {
    if (finished_) return;
    finished_ = true;
    for (auto& s : shards_) {
      s.file = detail::atomic_stream{};
      s.spool = detail::output_fd{};
      std::error_code ec;
      if (!s.renamed) std::filesystem::remove(s.temp, ec);
      if (!s.spool_path.empty()) std::filesystem::remove(s.spool_path, ec);
    }
  }

  std::uint64_t total_bytes() const noexcept { return total_bytes_; }
  std::size_t shard_count() const noexcept { return shards_.size(); }

 private:
  struct shard {
    std::vector<tensor_entry> entries;  // offsets within this shard's data buffer
    std::uint64_t bytes = 0;            // data bytes so far
    std::filesystem::path temp;         // the shard being built (header + data)
    detail::atomic_stream file;
    std::filesystem::path spool_path;   // unplanned: data waits here until the header is known
    detail::output_fd spool;
    bool renamed = false;
  };

  bool planned() const noexcept { return !opt_.plan.empty(); }
  void check_open() const {
    if (finished_) throw error(where_, failed_ ? "writer failed earlier; nothing was written" : "writer already finished");
  }
  template <class F>
  void guarded(F&& f) {  // an I/O failure poisons the writer and cleans up
    try {
      f();
    } catch (...) {
      failed_ = true;
      abort();
      throw;
    }
  }
  detail::output_fd& data_fd() {
    shard& s = shards_.back();
    return planned() ? s.file.fd : s.spool;
  }
  std::filesystem::path final_shard_path(std::size_t i, std::size_t count) const {
    if (opt_.single_file) return out_;
    if (count == 1) return dir_ / (opt_.prefix + ".safetensors");
    char buf[64];
    std::snprintf(buf, sizeof buf, "-%05zu-of-%05zu.safetensors", i + 1, count);
    return dir_ / (opt_.prefix + buf);
  }
  std::filesystem::path temp_path(std::size_t i, const char* kind) const {
    std::string base = opt_.single_file ? out_.filename().string() : opt_.prefix + "-shard" + std::to_string(i + 1);
    return detail::temp_name_for(dir_ / (base + kind));
  }
  void new_shard_file(shard& s, std::size_t i) {
    s.temp = temp_path(i, ".safetensors");
    s.file.fd = detail::output_fd(s.temp, where_);
  }

  // Planned mode: assign tensors to shards with the same rule add() uses.
  void plan_shards() {
    std::uint64_t cur = 0;
    std::size_t shard_no = 0, in_shard = 0;
    std::unordered_set<std::string_view> seen;
    for (const auto& t : opt_.plan) {
      if (!seen.insert(t.name).second) throw error(where_, "plan lists tensor \"" + t.name + "\" twice");
      std::uint64_t n = tensor_bytes(t.type, t.shape, where_ + ": tensor \"" + t.name + "\"");
      if (in_shard > 0 && cur + n > opt_.max_shard_bytes) {
        ++shard_no;
        cur = 0;
        in_shard = 0;
      }
      plan_shard_.push_back(shard_no);
      plan_offset_.push_back(cur);
      cur += n;
      ++in_shard;
    }
  }
  void open_planned_shard(std::size_t s) {
    if (!shards_.empty()) guarded([&] {
        shards_.back().file.sync_if(opt_.sync);
        shards_.back().file.close();  // keep one descriptor open at a time
      });
    shard sh;
    for (std::size_t i = 0; i < opt_.plan.size(); ++i)
      if (plan_shard_[i] == s) {
        std::uint64_t n = tensor_bytes(opt_.plan[i].type, opt_.plan[i].shape, where_);
        sh.entries.push_back({opt_.plan[i], plan_offset_[i], plan_offset_[i] + n});
      }
    shards_.push_back(std::move(sh));
    guarded([&] {
      shard& b = shards_.back();
      new_shard_file(b, s);
      b.file.fd.write(serialize_safetensors_header(b.entries, opt_.metadata, where_));
    });
  }
  void open_spooled_shard() {
    shards_.emplace_back();
    guarded([&] {
      shard& b = shards_.back();
      b.spool_path = temp_path(shards_.size() - 1, ".data");
      b.spool = detail::output_fd(b.spool_path, where_);
    });
  }
  // Unplanned mode: header now known; header + spooled data become the shard file.
  void close_spooled_shard() {
    shard& s = shards_.back();
    s.spool.close();
    new_shard_file(s, shards_.size() - 1);
    s.file.fd.write(serialize_safetensors_header(s.entries, opt_.metadata, where_));
    detail::append_file(s.file.fd, s.spool_path, s.bytes, where_);
    std::error_code ec;
    std::filesystem::remove(s.spool_path, ec);
    s.spool_path.clear();
    s.file.sync_if(opt_.sync);
    s.file.close();
  }

  std::filesystem::path out_, dir_;
  std::string where_;
  checkpoint_writer_options opt_;
  std::vector<std::size_t> plan_shard_;
  std::vector<std::uint64_t> plan_offset_;
  std::size_t next_ = 0;
  std::vector<shard> shards_;
  std::unordered_set<std::string> names_;
  tensor_entry cur_;
  bool in_tensor_ = false;
  std::uint64_t written_ = 0, total_bytes_ = 0;
  bool finished_ = false, failed_ = false;
};

}  // namespace prismaquant
