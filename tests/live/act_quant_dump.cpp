// act_quant_dump X.safetensors SCHEMES.json OUT.safetensors
// Live-reference helper for tests/live/test_act_quant_ct.py: the F32 tensor `x` [rows, cols]
// through engine::activation_quantizer for each scheme of SCHEMES.json
// ({name: {"input_activations": <CT QuantizationArgs JSON>, "input_global_scale": g}}),
// written as F32 tensors named after the schemes.
#include <prismaquant/engine/activation_quant.hpp>
#include <prismaquant/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace pq = prismaquant;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: act_quant_dump X.safetensors SCHEMES.json OUT.safetensors\n");
    return 2;
  }
  try {
    pq::checkpoint ck(argv[1]);
    const auto t = ck.tensor("x");
    const auto x = t.to_vector<float>();
    if (t.shape.size() != 2) throw std::runtime_error("x must be 2-D");
    const auto rows = static_cast<std::int64_t>(t.shape[0]), cols = static_cast<std::int64_t>(t.shape[1]);
    std::ifstream in(argv[2]);
    const auto schemes = nlohmann::json::parse(in);
    std::vector<std::vector<float>> keep;
    std::vector<std::string> names;
    for (const auto& [name, s] : schemes.items()) {
      const auto q = pq::engine::activation_quantizer(s.at("input_activations"), s.value("input_global_scale", 0.0f), name);
      auto y = x;
      q.apply(y.data(), rows, cols);
      keep.push_back(std::move(y));
      names.push_back(name);
    }
    std::vector<pq::tensor_data> out;
    for (std::size_t i = 0; i < keep.size(); ++i)
      out.push_back({pq::tensor_spec{names[i], pq::dtype::F32, {static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols)}},
                     std::as_bytes(std::span(keep[i]))});
    pq::write_safetensors(argv[3], out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "act_quant_dump: %s\n", e.what());
    return 1;
  }
}
