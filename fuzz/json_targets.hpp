#pragma once
// The JSON readers' fuzz targets (fuzz/fuzz_<reader>.cpp wrap them for libFuzzer; the corpus
// test tests/test_fuzz_json_corpus.cpp replays the committed seeds through them in every build).
//
// An input is the file's bytes; a stats or costs input may carry a side file after a line
// "#SIDE#" (written as side.safetensors beside the JSON, the name its "tensors" field uses).
// Every input must be rejected with prismaquant::error, or accepted; an accepted file must
// survive its writer: written, read again and written again, the two texts are identical.
// Anything else (a crash, a sanitizer report, another exception escaping) is a bug.
#include <prismaquant/allocate/layer_config.hpp>
#include <prismaquant/solvers/json.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/stats/stats_file.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <unistd.h>

namespace pq_fuzz {

namespace fs = std::filesystem;

inline fs::path work_dir() {
  static const fs::path d = [] {
    const fs::path shm = "/dev/shm";
    const fs::path base = fs::is_directory(shm) ? shm : fs::temp_directory_path();
    const fs::path p = base / ("pq_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

inline void put(const fs::path& p, std::string_view bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
inline std::string get(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Writes the input as <name> (and side.safetensors), returns the JSON's path.
inline fs::path stage(const std::uint8_t* data, std::size_t size, const char* name) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const fs::path dir = work_dir();
  std::error_code ec;
  fs::remove(dir / "side.safetensors", ec);
  const auto cut = in.find("\n#SIDE#\n");
  if (cut != std::string_view::npos) {
    put(dir / "side.safetensors", in.substr(cut + 8));
    in = in.substr(0, cut);
  }
  put(dir / name, in);
  return dir / name;
}

[[noreturn]] inline void bug(const char* what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

template <class Read, class Write>
int run(const std::uint8_t* data, std::size_t size, const char* name, Read read, Write write) {
  const fs::path p = stage(data, size, name);
  decltype(read(p)) v;
  try {
    v = read(p);
  } catch (const prismaquant::error&) {
    return 0;  // rejected cleanly
  }
  // Accepted: the writer's text reads back to the same text.
  const fs::path a = work_dir() / "again_a.json", b = work_dir() / "again_b.json";
  write(a, v);
  write(b, read(a));
  if (get(a) != get(b)) bug("write(read(write(x))) differs from write(x)");
  return 0;
}

inline int stats(const std::uint8_t* d, std::size_t n) {
  return run(d, n, "stats.json", [](const fs::path& p) { return prismaquant::stats::read_stats(p); },
             [](const fs::path& p, const auto& v) { prismaquant::stats::write_stats(p, v); });
}
inline int costs(const std::uint8_t* d, std::size_t n) {
  return run(d, n, "costs.json", [](const fs::path& p) { return prismaquant::stats::read_costs(p); },
             [](const fs::path& p, const auto& v) { prismaquant::stats::write_costs(p, v); });
}
inline int problem(const std::uint8_t* d, std::size_t n) {
  return run(d, n, "problem.json", [](const fs::path& p) { return prismaquant::solvers::read_problem(p); },
             [](const fs::path& p, const auto& v) { put(p, prismaquant::solvers::problem_to_json(v).dump(1)); });
}
inline int layer_config(const std::uint8_t* d, std::size_t n) {
  namespace pa = prismaquant::allocate;
  return run(d, n, "layer_config.json", [](const fs::path& p) { return pa::read_layer_config(p); },
             [](const fs::path& p, const pa::layer_config& v) {
               std::map<std::string, std::string> m;
               for (const auto& [k, f] : v.linears) m[k] = f.fmt;
               put(p, pa::layer_config_text(m));
             });
}
inline int prune_manifest(const std::uint8_t* d, std::size_t n) {
  namespace pa = prismaquant::allocate;
  return run(d, n, "layer_config.json.prune.json", [](const fs::path& p) { return pa::read_prune_manifest(p); },
             [](const fs::path& p, const pa::prune_manifest& v) {
               std::map<std::string, std::pair<int, std::vector<int>>> m;
               for (const auto& [k, r] : v.routers) m[k] = {r.num_experts_orig, r.pruned};
               put(p, pa::prune_manifest_text(m));
             });
}

}  // namespace pq_fuzz
