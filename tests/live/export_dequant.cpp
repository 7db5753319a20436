// export_dequant EXPORT_DIR OUT.safetensors
// prismaquant's own dequantization of every Linear of an export (formats::decode of the
// tensors it wrote, the format taken from export_report.json): F32 `<module>.weight`.
// python/export/check_export.py compares these with what compressed-tensors decompresses.
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

namespace pq = prismaquant;
namespace pf = prismaquant::formats;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: export_dequant EXPORT_DIR OUT.safetensors\n");
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::ifstream in(dir / "export_report.json");
    const auto rep = nlohmann::json::parse(in);
    pq::checkpoint ck(dir);
    std::vector<std::vector<float>> keep;
    std::vector<pq::tensor_data> out;
    std::vector<std::string> names;
    for (const auto& [module, e] : rep["linears"].items()) {
      const pf::format_entry& f = pf::find(e["format"].get<std::string>());
      pf::encoded_weight w;
      for (const auto& spec : f.layout(1, 1)) {
        const auto t = ck.tensor(module + "." + spec.suffix);
        pf::encoded_tensor et{spec.suffix, t.type, {t.shape.begin(), t.shape.end()}, {}};
        et.bytes.resize(t.bytes.size());
        std::memcpy(et.bytes.data(), t.bytes.data(), t.bytes.size());
        w.tensors.push_back(std::move(et));
      }
      const auto& first = ck.tensor(module + "." + w.tensors[0].suffix);
      w.rows = static_cast<std::int64_t>(first.shape[0]);
      // packed layouts: columns from the scale / packed shape
      if (w.tensors[0].suffix == "weight_packed") w.cols = static_cast<std::int64_t>(first.shape[1]) * 2;
      else w.cols = static_cast<std::int64_t>(first.shape[1]);
      keep.push_back(f.decode(w, module));
      names.push_back(module + ".weight");
    }
    for (std::size_t i = 0; i < keep.size(); ++i) {
      const auto& t = ck.tensor(names[i].substr(0, names[i].size() - 7) + "." +
                                (ck.contains(names[i].substr(0, names[i].size() - 7) + ".weight_packed") ? "weight_packed" : "weight"));
      const std::uint64_t rows = t.shape[0];
      const std::uint64_t cols = keep[i].size() / rows;
      out.push_back({pq::tensor_spec{names[i], pq::dtype::F32, {rows, cols}}, std::as_bytes(std::span(keep[i]))});
    }
    pq::write_safetensors(argv[2], out);
    std::printf("%zu weights\n", out.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "export_dequant: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
