// A downstream user's program: the umbrella header, the codec types, the recipe's derived
// types, the command line's registries (CLI11 comes with the package), and the fused cost pass
// at the SIMD width of the compiler's default target.
#include <prismaquant/cli/command.hpp>
#include <prismaquant/cli/toolset.hpp>
#include <prismaquant/prismaquant.hpp>

#include <cstdio>

namespace pq = prismaquant;

static_assert(pq::fp8_e4m3::from_float(17.0f).bits() == 0x58);
static_assert(pq::fp4_e2m1::from_float(2.5f).to_float() == 2.0f);
static_assert(pq::e8m0::from_float(1.0f).bits() == 0x7F);
static_assert(pq::recipe<>::cost_request::sse && !pq::recipe<>::cost_request::row_sse);

int main() {
  // The cost pass compiles and runs with no instruction-set flags (SSE2 on x86-64).
  float w[4 * 32];
  for (int i = 0; i < 4 * 32; ++i) w[i] = static_cast<float>((i * 37) % 29 - 14) / 64.0f;
  const auto view = pq::formats::weight_view::from_bytes(w, pq::dtype::F32, 4, 32, "w");
  const double sse = pq::cost::evaluate<pq::formats::format_list<pq::formats::nvfp4>>(view).formats[0].sse;
  std::printf("cost pass at %s: NVFP4 sse %.9g\n", pq::cost::simd::level_name<pq::cost::simd::default_arch>(), sse);
  if (!(sse > 0.0)) return 1;
  const auto tools = pq::cli::builtin_toolset();
  if (tools.solver("exact").name() != "exact" || tools.formats.size() != pq::formats::registry().size()) return 1;
  const float x = 0.1f;
  std::printf("%s: e4m3 %02x e5m2 %02x e2m3 %02x e3m2 %02x e2m1 %x bf16 %04x fp16 %04x\n",
              pq::formats::find("NVFP4").name.data(), pq::fp8_e4m3::from_float(x).bits(),
              pq::fp8_e5m2::from_float(x).bits(), pq::fp6_e2m3::from_float(x).bits(),
              pq::fp6_e3m2::from_float(x).bits(), pq::fp4_e2m1::from_float(x).bits(), pq::bf16::from_float(x).bits(),
              pq::fp16::from_float(x).bits());
  return pq::fp8_e4m3::from_float(x).bits() == 0x1D ? 0 : 1;
}
