// 06: write your own quantization format and run the whole pipeline with it — your own
// `prismaquant` executable is one line: prismaquant::cli::run<ternary_g64>(argc, argv).
//
// TERNARY_g64 (examples/ternary_g64.hpp, the user's own header): blocks of 64 along `in`; codes
// {-1, 0, +1} as 2-bit fields; one F16 scale per block = amax_b rounded to fp16; |x| ≥ scale/2
// → ±scale. Besides its math and storage the format states the facts the allocator and the
// output files read (formats/format.hpp, section 3): element_bits, data_type
// (layer_config.json); it accepts every source.
//
// End to end through the library's commands: `cost` measures it in the same fused pass as the
// seed formats (the executable compiles that pass for NVFP4, MXFP8_E4M3, FP8_SOURCE, BF16 and
// TERNARY_g64), `allocate` chooses it where the budget is tight, layer_config.json describes
// it. Checked against direct computations: the costs file's squared error of a Linear equals
// a scalar round trip of the dequantized weight written out here, and the layer_config
// entries carry the format's facts and satisfy vLLM's grouping rules.
#include "example_cli.hpp"
#include "example_support.hpp"
#include "ternary_g64.hpp"

#include <prismaquant/allocate/loader_rules.hpp>
#include <prismaquant/io/checkpoint.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;

using user::ternary_g64;
static_assert(fm::check_format<ternary_g64>());

static nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

int main() {
  example::workspace ws("pq_example_06");
  const auto model = example::tiny_minimax(ws.dir);
  const auto description = pq::model::open_model(model).description;
  pq::stats::write_stats(ws / "stats.json", example::synthetic_stats(description));
  const std::string m = model.string(), costs = (ws / "costs.json").string();

  int rc = example::cli<ternary_g64>(
      {"cost", "--quiet", "--model", m, "--formats", "NVFP4,TERNARY_g64,FP8_SOURCE,BF16", "--out", costs});
  rc |= example::cli<ternary_g64>({"allocate", "--stats", (ws / "stats.json").string(), "--costs", costs, "--model", m,
                                   "--sweep", "2.5,3,4,5,6,8", "--prune-ratios", "0,0.25", "--out", (ws / "sweep").string()});
  rc |= example::cli<ternary_g64>({"allocate", "--stats", (ws / "stats.json").string(), "--costs", costs, "--model", m,
                                   "--target-bits", "2.5", "--out", (ws / "tight").string()});
  if (rc != 0) return 1;

  // The costs file against a scalar round trip of one Linear's dequantized FP8 weight.
  const std::string lin = "model.layers.1.block_sparse_moe.experts.3.w2";
  const pq::checkpoint ck(model);
  const auto codes = ck.tensor(lin + ".weight").to_vector<std::uint8_t>();
  const auto scale_inv = ck.tensor(lin + ".weight_scale_inv").to_vector<float>();
  const auto& info = *description.find(lin);
  const std::int64_t rows = info.out_features, cols = info.in_features, sc = (cols + 127) / 128;
  double sse = 0.0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t b = 0; b < cols / 64; ++b) {
      float w[64], amax = 0.0f;
      for (int j = 0; j < 64; ++j) {
        const std::int64_t c = b * 64 + j;
        w[j] = pq::fp8_e4m3::from_bits(codes[static_cast<std::size_t>(r * cols + c)]).to_float() *
               scale_inv[static_cast<std::size_t>((r / 128) * sc + c / 128)];
        amax = std::max(amax, std::fabs(w[j]));
      }
      const float s = pq::fp16::from_float(amax).to_float();
      for (float x : w) {
        const float q = s == 0.0f ? 0.0f : x >= s / 2 ? s : x <= -s / 2 ? -s : 0.0f;
        const float e = x - q;  // float32 error, squared and summed in double
        sse += static_cast<double>(e) * e;
      }
    }
  const auto& measured = pq::stats::read_costs(costs).linears.at(lin).formats.at("TERNARY_g64");
  std::printf("%s in TERNARY_g64: costs file SSE %.9g, direct round trip %.9g, %lld bytes\n", lin.c_str(), measured.sse,
              sse, static_cast<long long>(measured.bytes));
  bool ok = std::fabs(measured.sse - sse) <= 1e-6 * sse &&
            measured.bytes == static_cast<std::int64_t>(ternary_g64::storage_bytes(rows, cols));

  // The tight budget needs it; its layer_config entries carry its facts and vLLM's rules hold.
  const auto lc = read_json(ws / "tight" / "layer_config.json");
  std::map<std::string, std::string> formats;
  int ternary = 0;
  for (const auto& [module, e] : lc.items()) {
    formats[module] = e["fmt"];
    if (e["fmt"] != "TERNARY_g64") continue;
    ++ternary;
    ok = ok && e["bits"] == 2 && e["group_size"] == 64 && e["data_type"] == "ternary";
  }
  pq::allocate::loader_rules::vllm().validate(description, formats, "layer_config.json");
  const auto sweep = read_json(ws / "sweep" / "allocation.json");
  std::printf("at 2.5 bits: %d of %zu Linears in TERNARY_g64; sweep knee at %.3f bits (%s)\n", ternary, lc.size(),
              sweep["chosen"]["achieved_bits"].get<double>(), sweep["chosen_by"].get<std::string>().c_str());
  return ok && ternary > 0 ? 0 : 1;
}
