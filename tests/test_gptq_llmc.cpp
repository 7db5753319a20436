// GPTQ against llm-compressor's own `quantize_weight` (tests/golden/gptq, made by
// python/golden/make_gptq_golden.py with llm-compressor 0.14 / compressed-tensors 0.19):
// same weight, same normalized Hessian, scales from llm-compressor's observer.
//
//   float64 (llm-compressor run with GPTQ_PRECISION = float64, ours with T = double):
//     every element's quantized value equal up to the float32 vs float64 evaluation of
//     scale/global (relative 1e-6) — i.e. the same code everywhere. Rounding noise in the
//     Cholesky, inverse and GEMMs is ~1e-16 relative there, far from flipping a code.
//   float32 (both sides' working precision): the two compute H⁻¹'s factor by different
//     routes (llm-compressor: chol → cholesky_inverse → chol; ours: J·chol(J H J)⁻¹·J) and
//     different BLAS, so ~1e-6 relative differences in the propagated weights can move an
//     element across a rounding boundary. Tolerance: ≥ 99% of elements on the same code, and
//     the output error tr(ΔW H ΔWᵀ) within 1% of llm-compressor's.
// In every case the scales (block scales, global scale) are bit-identical to llm-compressor's
// observer — the codes are chosen under the scales the file stores.
#include <catch2/catch.hpp>

#include <prismaquant/formats/list.hpp>
#include <prismaquant/io/safetensors.hpp>
#include <prismaquant/rounding/gptq.hpp>
#include <prismaquant/rounding/output_error.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
namespace pf = prismaquant::formats;
namespace pr = prismaquant::rounding;

namespace {

const fs::path root = fs::path(PQ_SOURCE_DIR) / "tests" / "golden" / "gptq";

nlohmann::json manifest() {
  std::ifstream in(root / "manifest.json");
  return nlohmann::json::parse(in);
}

pr::weight_matrix load_weight(const prismaquant::safetensors_file& f, const std::string& name, pf::tensor_stats& st) {
  const auto t = f.at(name + ".weight");
  const auto rows = static_cast<std::int64_t>(t.shape[0]), cols = static_cast<std::int64_t>(t.shape[1]);
  const auto v = pf::weight_view::from_bytes(t.bytes.data(), t.type, rows, cols, "golden.weight");
  st = pf::measure(v);
  return pr::weight_matrix::from_view(v);
}

template <class F>
void check_case(const prismaquant::safetensors_file& f, const std::string& name, const nlohmann::json& m) {
  INFO("case " << name << " (" << F::name << ")");
  pf::tensor_stats st;
  const pr::weight_matrix w = load_weight(f, name, st);
  const auto h = f.at(name + ".hessian").to_vector<float>();
  const auto q32 = f.at(name + ".q32").to_vector<float>();
  const auto q64 = f.at(name + ".q64").to_vector<double>();
  const pr::calibration c{h.data(), w.cols};
  REQUIRE(static_cast<std::int64_t>(q32.size()) == w.rows * w.cols);

  pr::gptq_options o;
  o.act_order = !m["actorder"].is_null();
  o.block = m["block"].get<int>();
  if constexpr (requires(typename F::tensor_params t) { t.global_scale; }) {
    REQUIRE(m["global_scale"].is_number());
    CHECK(pr::plan_scales<F>(w, st).tp.global_scale == m["global_scale"].get<float>());
  }

  {  // float64: the same code everywhere
    pr::gptq_t<double> g{o};
    const auto q = g.quantize<F>(w, st, c);
    const auto d = q.dequantize();
    std::size_t bad = 0;
    for (std::size_t k = 0; k < d.size(); ++k)
      if (!(std::abs(d[k] - q64[k]) <= 1e-6 * std::abs(q64[k]))) ++bad;
    CHECK(bad == 0);
  }
  {  // float32: llm-compressor's precision
    pr::gptq_t<float> g{o};
    const auto q = g.quantize<F>(w, st, c);
    const auto d = q.dequantize();
    std::size_t same = 0;
    for (std::size_t k = 0; k < d.size(); ++k)
      if (std::abs(d[k] - q32[k]) <= 1e-6f * std::abs(q32[k])) ++same;
    const double frac = static_cast<double>(same) / static_cast<double>(d.size());
    INFO("same code: " << frac);
    CHECK(frac >= 0.99);
    const double ours = pr::output_error(w.values.data(), d.data(), w.rows, w.cols, h.data());
    const double theirs = pr::output_error(w.values.data(), q32.data(), w.rows, w.cols, h.data());
    INFO("tr(dW H dW^T): ours " << ours << ", llm-compressor " << theirs);
    CHECK(std::abs(ours - theirs) <= 0.01 * theirs);
  }
}

}  // namespace

TEST_CASE("GPTQ matches llm-compressor's quantize_weight", "[rounding][gptq]") {
  const auto man = manifest();
  prismaquant::safetensors_file f(root / "cases.safetensors");
  REQUIRE(man["cases"].size() == 6);
  for (const auto& [name, m] : man["cases"].items()) {
    const std::string preset = m["preset"];
    if (preset == "NVFP4A16") check_case<pf::nvfp4a16>(f, name, m);
    else if (preset == "MXFP4A16") check_case<pf::mx_format<prismaquant::fp4_e2m1, pf::mx_scale_rule::ct>>(f, name, m);
    else if (preset == "FP8_DYNAMIC") check_case<pf::fp8_e4m3_channel>(f, name, m);
    else FAIL("unknown preset " << preset);
  }
}

TEST_CASE("GPTQ golden: a corrupted expectation fails the comparison", "[rounding][gptq]") {
  // The checks above can fail: moving one golden value by one grid step is detected.
  const auto man = manifest();
  prismaquant::safetensors_file f(root / "cases.safetensors");
  pf::tensor_stats st;
  const pr::weight_matrix w = load_weight(f, "nvfp4_static", st);
  const auto h = f.at("nvfp4_static.hessian").to_vector<float>();
  auto q64 = f.at("nvfp4_static.q64").to_vector<double>();
  q64[17] += 0.5 * std::abs(q64[17]) + 1e-3;
  const auto d = pr::gptq_t<double>{}.quantize<pf::nvfp4a16>(w, st, pr::calibration{h.data(), w.cols}).dequantize();
  std::size_t bad = 0;
  for (std::size_t k = 0; k < d.size(); ++k)
    if (!(std::abs(d[k] - q64[k]) <= 1e-6 * std::abs(q64[k]))) ++bad;
  CHECK(bad == 1);
}
