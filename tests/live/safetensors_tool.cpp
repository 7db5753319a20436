// Helper for tests/live/test_safetensors_py.py (not a test itself): reads and writes
// safetensors with prismaquant so the Python reference package can check the other side.
//   safetensors_tool dump PATH                 -> JSON {"metadata":..., "tensors": {name: {dtype, shape, file, hex}}}
//   safetensors_tool write-all FILE            -> one file, a tensor per dtype, pattern bytes
//   safetensors_tool write-sharded DIR MAX     -> a sharded checkpoint with shards of <= MAX data bytes
// Errors: "error: <message>" on stderr, exit 1.
#include <prismaquant/io/safetensors.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace pq = prismaquant;

namespace {
// Byte k of tensor i; the Python side computes the same.
std::vector<std::byte> pattern(std::size_t i, std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t k = 0; k < n; ++k) v[k] = static_cast<std::byte>((i * 31 + k * 7 + 3) & 0xff);
  return v;
}
constexpr pq::dtype all[] = {pq::dtype::BOOL, pq::dtype::U8, pq::dtype::I8, pq::dtype::I16, pq::dtype::U16,
                             pq::dtype::I32, pq::dtype::U32, pq::dtype::I64, pq::dtype::U64, pq::dtype::F16,
                             pq::dtype::BF16, pq::dtype::F32, pq::dtype::F64, pq::dtype::F8_E4M3, pq::dtype::F8_E5M2,
                             pq::dtype::F8_E8M0, pq::dtype::F6_E2M3, pq::dtype::F6_E3M2, pq::dtype::F4};

std::string hex(std::span<const std::byte> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(2 * b.size());
  for (std::byte x : b) {
    auto u = std::to_integer<unsigned>(x);
    s += d[u >> 4];
    s += d[u & 15];
  }
  return s;
}
}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 2 && a[0] == "dump") {
    pq::checkpoint ck(a[1]);
    ck.validate();
    nlohmann::json out;
    out["metadata"] = nlohmann::json::object();
    out["tensors"] = nlohmann::json::object();
    for (const auto& name : ck.names()) {
      auto v = ck.tensor(name);
      auto& t = out["tensors"][name];
      t["dtype"] = std::string(pq::dtype_name(v.type));
      t["shape"] = std::vector<std::uint64_t>(v.shape.begin(), v.shape.end());
      t["file"] = ck.file_of(name).filename().string();
      t["hex"] = hex(v.bytes);
    }
    for (const auto& f : ck.files())
      for (auto& [k, v] : ck.file(f).metadata()) out["metadata"][k] = v;
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (a.size() == 2 && a[0] == "write-all") {
    std::vector<std::vector<std::byte>> store;
    std::vector<pq::tensor_data> ts;
    std::size_t i = 0;
    for (pq::dtype t : all) {
      std::vector<std::uint64_t> shape{2, 8};
      store.push_back(pattern(i++, pq::tensor_bytes(t, shape, "write-all")));
      ts.push_back({{"t." + std::string(pq::dtype_name(t)), t, shape}, store.back()});
    }
    pq::write_safetensors(a[1], ts, {{"format", "pt"}, {"writer", "prismaquant"}});
    return 0;
  }
  if (a.size() == 3 && a[0] == "write-sharded") {
    pq::checkpoint_writer_options o;
    o.max_shard_bytes = std::stoull(a[2]);
    pq::checkpoint_writer w(a[1], o);
    for (std::size_t i = 0; i < 12; ++i) {
      pq::dtype t = i % 3 == 0 ? pq::dtype::BF16 : i % 3 == 1 ? pq::dtype::F32 : pq::dtype::F8_E4M3;
      std::vector<std::uint64_t> shape{4 + i, 16};
      w.add({"model.layers." + std::to_string(i) + ".weight", t, shape}, pattern(i, pq::tensor_bytes(t, shape, "w")));
    }
    w.finish();
    return 0;
  }
  std::cerr << "usage: safetensors_tool dump PATH | write-all FILE | write-sharded DIR MAX_BYTES\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
