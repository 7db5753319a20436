// Parity with compressed-tensors: prismaquant's encoders must write byte-identical tensors
// (name, dtype, shape, bytes) to what the real CT 0.19 / llm-compressor 0.14 wrote for the
// same bf16 weights. The goldens (tests/golden/ct, made by python/golden/make_ct_golden.py,
// which records versions and which reference path made each file) hold random weights of
// several shapes with real-model names (so q/k/v, gate/up and w1/w3 share NVFP4 global
// scales) and adversarial ones: exact fp4/fp8 ties, zero blocks/rows/tensors, tiny, subnormal
// and huge magnitudes, outliers, negatives rounding to zero, -0.0. The recipe behind them is
// papers/ct-recipe.md. Also: NaN/Inf weights are rejected with an error naming the tensor.
#include <catch2/catch.hpp>

#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
namespace pf = prismaquant::formats;
using prismaquant::dtype;

namespace {

// PQ_CT_GOLDEN overrides the directory (e.g. to check that a corrupted copy fails).
const fs::path golden_root = std::getenv("PQ_CT_GOLDEN") ? fs::path(std::getenv("PQ_CT_GOLDEN"))
                                                          : fs::path(PQ_SOURCE_DIR) / "tests" / "golden" / "ct";

// CT scheme (golden directory name) -> prismaquant canonical format name.
// MX uses the CT scale rule variant; the default MX rule is OCP FLOOR, which CT does not use.
const std::map<std::string, std::string> scheme_to_format = {
    {"NVFP4A16", "NVFP4A16"},       {"NVFP4", "NVFP4"},
    {"MXFP4", "MXFP4_CT"},          {"MXFP8", "MXFP8_E4M3_CT"},
    {"FP8_DYNAMIC", "FP8_E4M3"},    {"FP8_TENSOR", "FP8_E4M3_TENSOR"},
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// CT quantizes 2-D `<m>.weight` tensors except modules whose name ends in "norm"
// (compressed_tensors.utils.match_quantizable_tensors); everything else is copied.
bool ct_quantizes(const prismaquant::tensor_view& t) {
  if (t.rank() != 2 || !ends_with(t.name, ".weight")) return false;
  const std::string_view module = t.name.substr(0, t.name.size() - 7);
  return !ends_with(module, "norm");
}

std::string module_of(std::string_view weight_name) { return std::string(weight_name.substr(0, weight_name.size() - 7)); }

pf::weight_view view_of(const prismaquant::tensor_view& t) {
  return pf::weight_view::from_bytes(t.bytes.data(), t.type, static_cast<std::int64_t>(t.shape[0]),
                                     static_cast<std::int64_t>(t.shape[1]), t.name);
}

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) r += ',';
    r += std::to_string(s[i]);
  }
  return r + "]";
}

// max |x| of a BF16 tensor (the activations a W4A4 module was calibrated on).
float bf16_amax(const prismaquant::tensor_view& t) {
  REQUIRE(t.type == dtype::BF16);
  const auto v = t.to_vector<std::uint16_t>();
  float a = 0.0f;
  for (auto b : v) a = std::max(a, std::fabs(prismaquant::bf16::from_bits(b).to_float()));
  return a;
}

// Tensors where CT's output is a defect we deliberately do not reproduce
// (papers/ct-recipe.md §2.3): an MX block whose amax rounds up past 2^127 (the largest bf16
// values) gets scale 2^128 = inf, every element becomes 0, and int32(inf) stores byte 0x7F —
// the weight is silently lost. For these the test requires instead that (a) the golden still
// shows exactly that defect (so a fixed CT release is noticed) and (b) prismaquant's encoding
// decodes without NaN and keeps the block's magnitude.
const std::set<std::pair<std::string, std::string>> known_ct_defects = {
    {"MXFP4", "model.layers.2.mlp.down_proj"},
    {"MXFP8", "model.layers.2.mlp.down_proj"},
};

struct compare_result {
  std::size_t tensors = 0, bytes = 0;
  std::vector<std::string> problems;
};

// Encodes every quantizable tensor of `set`/input.safetensors with `format` and compares all
// tensors with `set`/`scheme`/output.safetensors.
compare_result compare_scheme(const fs::path& set_dir, const std::string& scheme, const nlohmann::json& manifest_set) {
  compare_result res;
  const pf::format_entry& fmt = pf::find(scheme_to_format.at(scheme));
  prismaquant::safetensors_file in(set_dir / "input.safetensors");
  prismaquant::safetensors_file ref(set_dir / scheme / "output.safetensors");
  std::unique_ptr<prismaquant::safetensors_file> acts;
  if (scheme == "NVFP4") acts = std::make_unique<prismaquant::safetensors_file>(set_dir / scheme / "activations.safetensors");

  // fused siblings, as llm-compressor's get_fused_names matched them (recorded in the manifest)
  std::map<std::string, std::vector<std::string>> group_of;
  for (const auto& g : manifest_set.at("fused_groups")) {
    std::vector<std::string> names = g.get<std::vector<std::string>>();
    for (const auto& n : names) group_of[n] = names;
  }
  const bool shares_global_scale = scheme == "NVFP4" || scheme == "NVFP4A16";

  std::set<std::string> produced;
  for (const auto& t : in.tensors()) {
    const std::string name(t.name);
    if (!ct_quantizes(t)) {  // copied through unchanged
      produced.insert(name);
      const auto r = ref.find(name);
      if (!r) {
        res.problems.push_back(name + ": CT copied it, but it is missing from the golden output");
        continue;
      }
      ++res.tensors;
      res.bytes += t.bytes.size();
      if (r->type != t.type || !std::equal(r->bytes.begin(), r->bytes.end(), t.bytes.begin(), t.bytes.end()))
        res.problems.push_back(name + ": pass-through tensor differs");
      continue;
    }
    const pf::weight_view w = view_of(t);
    pf::tensor_stats stats;
    if (shares_global_scale && group_of.count(name)) {
      std::vector<pf::weight_view> members;
      for (const auto& m : group_of.at(name)) members.push_back(view_of(in.at(m)));
      stats = pf::measure_group(std::span<const pf::weight_view>(members));
    } else {
      stats = pf::measure(w);
    }
    const std::string module = module_of(t.name);
    if (acts) stats.input_amax = bf16_amax(acts->at(module + ".input"));

    pf::encoded_weight e;
    try {
      e = fmt.encode(w, stats);
    } catch (const std::exception& ex) {
      res.problems.push_back(name + ": encode threw: " + ex.what());
      continue;
    }
    if (known_ct_defects.count({scheme, module})) {
      const std::string data = module + (scheme == "MXFP4" ? ".weight_packed" : ".weight");
      const auto rs = ref.at(module + ".weight_scale");
      const auto rd = ref.at(data);
      const bool scale_7f = std::all_of(rs.bytes.begin(), rs.bytes.end(), [](std::byte b) { return b == std::byte{0x7F}; });
      const bool zeros = std::all_of(rd.bytes.begin(), rd.bytes.end(),
                                     [](std::byte b) { return (static_cast<unsigned>(b) & 0x77u) == 0; });
      if (!scale_7f || !zeros) res.problems.push_back(module + ": golden no longer shows CT's MX overflow defect; "
                                                                "remove it from known_ct_defects");
      const std::vector<float> back = fmt.decode(e, name);
      float in_amax = 0.0f, out_amax = 0.0f;
      for (std::int64_t i = 0; i < w.rows; ++i)
        for (std::int64_t j = 0; j < w.cols; ++j) {
          in_amax = std::max(in_amax, std::fabs(w.at(i, j)));
          const float y = back[static_cast<std::size_t>(i * w.cols + j)];
          // (+-inf is possible: 3.39e38 rounds up to 2^128 in MXFP8, past float32's range)
          if (std::isnan(y)) res.problems.push_back(module + ": decodes to NaN");
          out_amax = std::max(out_amax, std::fabs(y));
        }
      if (!(out_amax >= 0.5f * in_amax)) res.problems.push_back(module + ": encoding loses the block's magnitude");
      for (const auto& et : e.tensors) produced.insert(module + "." + et.suffix);
      ++res.tensors;
      continue;
    }
    for (const auto& et : e.tensors) {
      const std::string full = module + "." + et.suffix;
      produced.insert(full);
      const auto r = ref.find(full);
      if (!r) {
        res.problems.push_back(full + ": prismaquant writes it, CT does not");
        continue;
      }
      ++res.tensors;
      res.bytes += et.bytes.size();
      std::vector<std::int64_t> rshape(r->shape.begin(), r->shape.end());
      if (r->type != et.type || rshape != et.shape) {
        res.problems.push_back(full + ": CT " + std::string(prismaquant::dtype_name(r->type)) + shape_str(rshape) +
                               ", prismaquant " + std::string(prismaquant::dtype_name(et.type)) + shape_str(et.shape));
        continue;
      }
      if (r->bytes.size() != et.bytes.size()) {
        res.problems.push_back(full + ": byte counts differ");
        continue;
      }
      std::size_t ndiff = 0, first = 0;
      for (std::size_t k = 0; k < et.bytes.size(); ++k)
        if (static_cast<std::uint8_t>(r->bytes[k]) != et.bytes[k] && ndiff++ == 0) first = k;
      if (ndiff) {
        char buf[160];
        std::snprintf(buf, sizeof buf, ": %zu of %zu bytes differ; first at byte %zu (CT 0x%02X, prismaquant 0x%02X)",
                      ndiff, et.bytes.size(), first, static_cast<unsigned>(static_cast<std::uint8_t>(r->bytes[first])),
                      static_cast<unsigned>(et.bytes[first]));
        res.problems.push_back(full + buf);
      }
    }
  }
  for (const auto& n : ref.names())
    if (!produced.count(n)) res.problems.push_back(n + ": CT writes it, prismaquant does not");
  return res;
}

nlohmann::json load_manifest() {
  std::ifstream f(golden_root / "manifest.json");
  REQUIRE(f.good());
  return nlohmann::json::parse(f);
}

}  // namespace

TEST_CASE("golden files are present and name their reference", "[ct][parity]") {
  const auto m = load_manifest();
  REQUIRE(m.at("versions").contains("compressed-tensors"));
  REQUIRE(m.at("sets").size() >= 3);
  std::size_t outputs = 0;
  for (const auto& [set, entry] : m.at("sets").items()) {
    for (const auto& [scheme, out] : entry.at("outputs").items()) {
      INFO(set << "/" << scheme);
      CHECK(scheme_to_format.count(scheme) == 1);
      CHECK(fs::exists(golden_root / set / scheme / "output.safetensors"));
      CHECK(fs::exists(golden_root / set / scheme / "config.json"));
      CHECK(!out.at("reference_path").get<std::string>().empty());
      ++outputs;
    }
  }
  CHECK(outputs >= 14);
}

TEST_CASE("encoded tensors equal compressed-tensors' bytes", "[ct][parity]") {
  const auto m = load_manifest();
  for (const auto& [set, entry] : m.at("sets").items()) {
    for (const auto& [scheme, out] : entry.at("outputs").items()) {
      DYNAMIC_SECTION(set << "/" << scheme << " -> " << scheme_to_format.at(scheme)) {
        const compare_result r = compare_scheme(golden_root / set, scheme, entry);
        std::string all;
        for (const auto& p : r.problems) all += "\n  " + p;
        INFO(set << "/" << scheme << " (" << out.at("reference_path").get<std::string>() << "): "
                 << r.problems.size() << " problem(s)" << all);
        CHECK(r.problems.empty());
        CHECK(r.tensors > 0);
        std::cout << "ct parity " << set << "/" << scheme << ": " << r.tensors << " tensors, " << r.bytes
                  << " bytes compared, " << r.problems.size() << " problem(s)\n";
      }
    }
  }
}

TEST_CASE("NaN and Inf weights are rejected with an error naming the tensor", "[ct][nonfinite]") {
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity()};
  for (const auto& [scheme, name] : scheme_to_format) {
    const pf::format_entry& fmt = pf::find(name);
    for (float bad : bad_values) {
      for (bool bf16_source : {true, false}) {
        DYNAMIC_SECTION(name << " value " << bad << (bf16_source ? " bf16" : " f32")) {
          constexpr std::int64_t rows = 4, cols = 64;
          std::vector<float> wf(rows * cols);
          for (std::size_t k = 0; k < wf.size(); ++k) wf[k] = std::sin(0.37f * static_cast<float>(k));
          const pf::tensor_stats clean_stats = pf::measure(pf::weight_view(wf.data(), rows, cols, "clean"));
          wf[2 * cols + 37] = bad;
          std::vector<prismaquant::bf16> wb;
          for (float x : wf) wb.push_back(prismaquant::bf16::from_float_nonsaturating(x));
          const pf::weight_view w = bf16_source ? pf::weight_view(wb.data(), rows, cols, "model.layers.7.mlp.up_proj.weight")
                                                : pf::weight_view(wf.data(), rows, cols, "model.layers.7.mlp.up_proj.weight");
          const char* what = std::isnan(bad) ? "NaN" : "Inf";
          // the tensor pre-pass rejects it ...
          REQUIRE_THROWS_AS(pf::measure(w), prismaquant::error);
          REQUIRE_THROWS_WITH(pf::measure(w), Catch::Contains("model.layers.7.mlp.up_proj.weight") && Catch::Contains(what));
          // ... and so does encoding with stats taken elsewhere (a fused sibling's)
          REQUIRE_THROWS_AS(fmt.encode(w, clean_stats), prismaquant::error);
          REQUIRE_THROWS_WITH(fmt.encode(w, clean_stats),
                              Catch::Contains("model.layers.7.mlp.up_proj.weight") && Catch::Contains(what));
          REQUIRE_THROWS_AS(fmt.round_trip(w, clean_stats), prismaquant::error);
        }
      }
    }
  }
}

// End to end: the `prismaquant quantize` CLI on each golden input writes a file whose tensors
// (names, dtypes, shapes, bytes) are exactly CT's. Fused groups are passed with --group, as
// llm-compressor fused them (NVFP4 only: CT shares global scales only for tensor_group
// schemes). W4A4 (NVFP4) is left out: its input_global_scale needs activations, which the CLI
// does not take; its weight tensors are checked in the test case above.
TEST_CASE("prismaquant quantize writes compressed-tensors' tensors", "[ct][parity][cli]") {
  const fs::path cli = fs::path(PQ_BUILD_DIR) / "prismaquant";
  REQUIRE(fs::exists(cli));
  const fs::path tmp = fs::path(PQ_BUILD_DIR) / "test_tmp" / ("ct-parity-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  struct cleanup {
    fs::path p;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup_tmp{tmp};

  const auto m = load_manifest();
  for (const auto& [set, entry] : m.at("sets").items()) {
    for (const auto& [scheme, out] : entry.at("outputs").items()) {
      if (scheme == "NVFP4") continue;
      DYNAMIC_SECTION("cli " << set << "/" << scheme) {
        const fs::path q = tmp / (set + "-" + scheme + ".safetensors");
        std::string cmd = cli.string() + " quantize --format " + scheme_to_format.at(scheme) + " --in " +
                          (golden_root / set / "input.safetensors").string() + " --out " + q.string();
        if (scheme == "NVFP4A16")
          for (const auto& g : entry.at("fused_groups")) {
            std::string list;
            for (const auto& n : g) {
              if (!list.empty()) list += ',';
              list += n.get<std::string>();
            }
            cmd += " --group " + list;
          }
        cmd += " > " + (tmp / "log.txt").string() + " 2>&1";
        const int st = std::system(cmd.c_str());
        std::ifstream logf(tmp / "log.txt");
        const std::string log((std::istreambuf_iterator<char>(logf)), std::istreambuf_iterator<char>());
        INFO(cmd << "\n" << log);
        REQUIRE((WIFEXITED(st) && WEXITSTATUS(st) == 0));

        prismaquant::safetensors_file mine(q);
        prismaquant::safetensors_file ref(golden_root / set / scheme / "output.safetensors");
        std::vector<std::string> problems;
        std::size_t compared = 0;
        auto defect = [&](const std::string& n) {
          for (const auto& [s, mod] : known_ct_defects)
            if (s == scheme && n.rfind(mod + ".", 0) == 0) return true;
          return false;
        };
        for (const auto& n : ref.names())
          if (!mine.contains(n)) problems.push_back(n + ": missing from the CLI's output");
        for (const auto& t : mine.tensors()) {
          const std::string n(t.name);
          const auto r = ref.find(n);
          if (!r) {
            problems.push_back(n + ": written by the CLI, not by CT");
            continue;
          }
          if (defect(n)) continue;  // checked in "encoded tensors equal compressed-tensors' bytes"
          ++compared;
          const bool same = r->type == t.type && std::equal(r->shape.begin(), r->shape.end(), t.shape.begin(), t.shape.end()) &&
                            std::equal(r->bytes.begin(), r->bytes.end(), t.bytes.begin(), t.bytes.end());
          if (!same) problems.push_back(n + ": differs from CT (dtype, shape or bytes)");
        }
        std::string all;
        for (const auto& p : problems) all += "\n  " + p;
        INFO(problems.size() << " problem(s)" << all);
        CHECK(problems.empty());
        CHECK(compared > 0);
      }
    }
  }
}
