#pragma once
// Work split across processes started by an existing launcher (no cluster code of our own):
// `--shard I/N` by hand, or `--shard auto` from the launcher's environment —
//   Open MPI            OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE
//   MPICH / Intel (PMI) PMI_RANK / PMI_SIZE
//   SLURM tasks (srun)  SLURM_PROCID / SLURM_NTASKS
//   SLURM job arrays    SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN / SLURM_ARRAY_TASK_COUNT
//                       (combined with srun tasks inside each array task when both are set)
// Items (the probe's batches, the cost pass's tensors) are dealt round-robin: item i belongs to
// shard i mod N. A shard writes its own file (shard_output); `prismaquant merge` joins them.
#include <prismaquant/core/error.hpp>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace prismaquant::engine {

struct shard_spec {
  std::int64_t index = 0, count = 1;
  std::string source = "single process";  // where index/count came from (for messages)

  bool owns(std::int64_t item) const noexcept { return item % count == index; }
  std::string name() const { return std::to_string(index) + "/" + std::to_string(count); }
};

namespace detail {
inline std::optional<std::int64_t> parse_int(const std::string& s) {
  std::int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}
}  // namespace detail

using env_lookup = std::function<const char*(const char*)>;

inline shard_spec check_shard(shard_spec s, const std::string& where) {
  if (s.count < 1 || s.index < 0 || s.index >= s.count)
    throw error(where, "shard " + std::to_string(s.index) + "/" + std::to_string(s.count) +
                           " is out of range (need 0 <= I < N)");
  return s;
}

// "I/N" or "auto" (environment through `env`, std::getenv by default).
inline shard_spec parse_shard(const std::string& spec, const env_lookup& env = [](const char* k) { return std::getenv(k); }) {
  if (spec.empty() || spec == "0/1") return {};
  if (spec != "auto") {
    const auto slash = spec.find('/');
    const auto i = slash == std::string::npos ? std::nullopt : detail::parse_int(spec.substr(0, slash));
    const auto n = slash == std::string::npos ? std::nullopt : detail::parse_int(spec.substr(slash + 1));
    if (!i || !n) throw error("--shard", "\"" + spec + "\" is not I/N or auto");
    return check_shard({*i, *n, "--shard " + spec}, "--shard");
  }
  auto get = [&](const char* rank, const char* size) -> std::optional<shard_spec> {
    const char* r = env(rank);
    const char* n = env(size);
    if (!r || !n) return std::nullopt;
    const auto ri = detail::parse_int(r), ni = detail::parse_int(n);
    const std::string src = std::string(rank) + "=" + r + ", " + size + "=" + n;
    if (!ri || !ni) throw error("--shard auto", src + ": not integers");
    return check_shard({*ri, *ni, src}, "--shard auto (" + src + ")");
  };
  if (auto s = get("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")) return *s;
  if (auto s = get("PMI_RANK", "PMI_SIZE")) return *s;
  std::optional<shard_spec> array;
  if (const char* id = env("SLURM_ARRAY_TASK_ID")) {
    const char* cnt = env("SLURM_ARRAY_TASK_COUNT");
    const char* mn = env("SLURM_ARRAY_TASK_MIN");
    const auto i = detail::parse_int(id);
    const auto n = cnt ? detail::parse_int(cnt) : std::nullopt;
    const auto m = mn ? detail::parse_int(mn) : std::optional<std::int64_t>(0);
    const std::string src = std::string("SLURM_ARRAY_TASK_ID=") + id + ", SLURM_ARRAY_TASK_COUNT=" + (cnt ? cnt : "(unset)") +
                            ", SLURM_ARRAY_TASK_MIN=" + (mn ? mn : "(unset)");
    if (!i || !n || !m) throw error("--shard auto", src + ": need integer SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT");
    array = check_shard({*i - *m, *n, src}, "--shard auto (" + src + "; arrays must be contiguous, e.g. --array=0-N)");
  }
  std::optional<shard_spec> tasks = get("SLURM_PROCID", "SLURM_NTASKS");
  if (array && tasks && tasks->count > 1)
    return {array->index * tasks->count + tasks->index, array->count * tasks->count, array->source + ", " + tasks->source};
  if (array) return *array;
  if (tasks) return *tasks;
  return {0, 1, "--shard auto: no launcher environment (OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID, SLURM_ARRAY_TASK_ID)"};
}

// This shard's items of a list (item i when i mod N == I), in order.
template <class T>
std::vector<T> deal(const std::vector<T>& items, const shard_spec& s) {
  std::vector<T> mine;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (s.owns(static_cast<std::int64_t>(i))) mine.push_back(items[i]);
  return mine;
}

// The file a shard writes for `--out path`: the path itself for a single process; else
// "{shard}" in it replaced by I-of-N, or ".shard-I-of-N" inserted before the extension.
inline std::filesystem::path shard_output(const std::filesystem::path& out, const shard_spec& s) {
  if (s.count == 1) return out;
  const std::string tag = std::to_string(s.index) + "-of-" + std::to_string(s.count);
  std::string p = out.string();
  if (const auto k = p.find("{shard}"); k != std::string::npos) return p.replace(k, 7, tag);
  auto r = out;
  r.replace_filename(out.stem().string() + ".shard-" + tag + out.extension().string());
  return r;
}

}  // namespace prismaquant::engine
