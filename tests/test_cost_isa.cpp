// The fused cost pass gives the same bits on every instruction set. Every xsimd architecture of
// this build that the CPU runs (cost/simd_arch.hpp: SSE2, SSE4.2, AVX2, AVX-512, NEON — as many
// as the build's -march enables) is checked against the scalar definition of the pass
// (cost/row_scalar.hpp), bit for bit: every format, every dtype, every statistic, full chunks
// and row tails; the arch-tagged helpers against their generic twins; and the costs file of the
// shipped model, written per architecture with the costs-file writer, byte for byte.
// With PQ_COST_ISA_OUT=DIR the costs files are also written to DIR/costs-<arch>.json, so that
// builds for other ISAs (the CI's x86-64-v2/v3/v4 and aarch64 stages) can be compared with this
// one (scripts/test-isa.sh).
#include <prismaquant/cost/engine.hpp>
#include <prismaquant/formats/list.hpp>
#include <prismaquant/model/open.hpp>
#include <prismaquant/stats/costs_file.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__unix__)
#include <unistd.h>
#endif

namespace pq = prismaquant;
namespace fm = prismaquant::formats;
namespace cost = prismaquant::cost;
namespace simd = prismaquant::cost::simd;
namespace fs = std::filesystem;

namespace {

// f.template operator()<A>() for every SIMD architecture of the build that this CPU runs
// (not scalar); returns their names.
template <class Fn>
std::vector<std::string> for_each_simd_arch(Fn&& f) {
  std::vector<std::string> ran;
  simd::level_archs([&]<class A>() {
    if constexpr (!std::is_same_v<A, simd::scalar>) {
      if (simd::cpu_has<A>()) {
        f.template operator()<A>();
        ran.emplace_back(simd::level_name<A>());
      } else {
        WARN(simd::level_name<A>() << " is compiled in but this CPU does not run it: not checked");
      }
    }
  });
  return ran;
}

// A fixed pseudo-random sequence (splitmix64), the same on every platform and standard library.
struct sequence {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * 0x1p-24f; }  // [0, 1)
  int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
};

struct weight_store {
  pq::dtype type;
  std::int64_t rows, cols;
  std::vector<std::uint16_t> u16;
  std::vector<float> f32, scale_inv;
  std::vector<std::uint8_t> u8;
  std::string name;
  fm::weight_view view() const {
    switch (type) {
      case pq::dtype::BF16:
      case pq::dtype::F16: return fm::weight_view::from_bytes(u16.data(), type, rows, cols, name);
      case pq::dtype::F8_E4M3: return fm::weight_view::from_bytes(u8.data(), type, rows, cols, name, scale_inv.data());
      default: return fm::weight_view::from_bytes(f32.data(), type, rows, cols, name);
    }
  }
};

// Realistic weights (a bell of width ~0.02 with a heavy tail) or adversarial ones (zero and
// constant rows, zero 16-blocks, lone outliers, tiny and float32-subnormal values, values on
// the fp4 grid), stored in one dtype.
weight_store make_weight(pq::dtype type, std::int64_t rows, std::int64_t cols, bool adversarial, std::uint64_t seed) {
  sequence g{seed};
  std::vector<float> v(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      float x = (g.uniform() + g.uniform() + g.uniform() - 1.5f) * 0.03f;
      const int k = g.below(100);
      if (adversarial) {
        if (i % 7 == 3) x = 0.0f;
        else if (i % 7 == 5) x = 0.125f;
        else if ((j / 16) % 5 == 2) x = 0.0f;
        else if (k < 3) x *= 3000.0f;
        else if (k < 8) x *= 1e-30f;
        else if (k < 10) x = (k & 1 ? -1.0f : 1.0f) * 0x1p-9f * static_cast<float>(g.below(16));
      } else if (k == 0) {
        x *= 20.0f;
      }
      v[static_cast<std::size_t>(i * cols + j)] = x;
    }
  weight_store w{type, rows, cols, {}, {}, {}, {}, "w(" + std::string(pq::dtype_name(type)) + ")"};
  switch (type) {
    case pq::dtype::BF16:
      for (float x : v) w.u16.push_back(static_cast<std::uint16_t>(pq::bf16::from_float(x).bits()));
      break;
    case pq::dtype::F16:
      for (float x : v) w.u16.push_back(static_cast<std::uint16_t>(pq::fp16::from_float(x).bits()));
      break;
    case pq::dtype::F8_E4M3: {
      const std::int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
      w.scale_inv.assign(static_cast<std::size_t>(sr * sc), 0.0f);
      for (std::int64_t bi = 0; bi < sr; ++bi)
        for (std::int64_t bj = 0; bj < sc; ++bj) {
          float amax = 0.0f;
          for (std::int64_t i = bi * 128; i < std::min(rows, bi * 128 + 128); ++i)
            for (std::int64_t j = bj * 128; j < std::min(cols, bj * 128 + 128); ++j)
              amax = std::max(amax, std::fabs(v[static_cast<std::size_t>(i * cols + j)]));
          w.scale_inv[static_cast<std::size_t>(bi * sc + bj)] = amax > 0 ? amax / 448.0f : 1.0f;
        }
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j)
          w.u8.push_back(static_cast<std::uint8_t>(
              pq::fp8_e4m3::from_float(v[static_cast<std::size_t>(i * cols + j)] /
                                       w.scale_inv[static_cast<std::size_t>((i / 128) * sc + j / 128)])
                  .bits()));
      break;
    }
    default: w.f32 = v;
  }
  return w;
}

std::vector<float> make_act(std::int64_t cols, std::uint64_t seed) {
  sequence g{seed};
  std::vector<float> a(static_cast<std::size_t>(cols));
  for (auto& x : a) x = 4.0f * g.uniform() * g.uniform();
  return a;
}

template <class T>
bool same_bits(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Bit-identical statistics; returns the number of differences (and reports the first ones).
std::int64_t differences(const cost::tensor_cost& got, const cost::tensor_cost& ref, const std::string& what) {
  std::int64_t bad = 0;
  REQUIRE(got.formats.size() == ref.formats.size());
  for (std::size_t i = 0; i < ref.formats.size(); ++i) {
    const auto &g = got.formats[i], &r = ref.formats[i];
    bool same = g.format == r.format && g.elements == r.elements && same_bits(g.sse, r.sse) &&
                same_bits(g.act_sse, r.act_sse) && same_bits(g.max_abs, r.max_abs) && g.row_sse.size() == r.row_sse.size();
    for (std::size_t k = 0; same && k < r.row_sse.size(); ++k) same = same_bits(g.row_sse[k], r.row_sse[k]);
    if (!same && ++bad <= 3)
      WARN(what << " " << r.format << ": sse " << g.sse << " vs " << r.sse << ", act_sse " << g.act_sse << " vs "
                << r.act_sse << ", max_abs " << g.max_abs << " vs " << r.max_abs);
  }
  return bad;
}

struct shape {
  std::int64_t rows, cols;
};
// Under an emulator (PQ_EMULATED=1, set by cmake/aarch64-linux-gnu.cmake for QEMU, whose
// floating point is ~100x slower than the hardware's) the largest shapes are left out; every
// format, dtype and row tail is still checked.
bool emulated() {
  const char* e = std::getenv("PQ_EMULATED");
  return e && std::string(e) == "1";
}
constexpr std::int64_t emulated_max_elements = 16384;
const pq::dtype dtypes[] = {pq::dtype::BF16, pq::dtype::F16, pq::dtype::F32, pq::dtype::F8_E4M3};

// Every SIMD architecture against the scalar definition, for one format list on some shapes.
template <class L>
void check_list(std::initializer_list<shape> shapes, const char* list_name) {
  std::int64_t cases = 0, bad = 0;
  std::uint64_t seed = 100;
  std::vector<std::string> ran;
  for (auto sh : shapes) {
    if (emulated() && sh.rows * sh.cols > emulated_max_elements) continue;
    for (auto dt : dtypes)
      for (bool adv : {false, true}) {
        const weight_store w = make_weight(dt, sh.rows, sh.cols, adv, ++seed);
        const auto act = make_act(sh.cols, seed);
        const auto ref = cost::evaluate<L, cost::all_stats, simd::scalar>(w.view(), act.data());
        const std::string what = std::string(list_name) + " " + w.name + " " + std::to_string(sh.rows) + "x" +
                                 std::to_string(sh.cols) + (adv ? " adversarial" : " realistic");
        ran = for_each_simd_arch([&]<class A>() {
          bad += differences(cost::evaluate<L, cost::all_stats, A>(w.view(), act.data()), ref,
                             what + " at " + simd::level_name<A>());
          ++cases;
        });
      }
  }
  std::string names;
  for (const auto& n : ran) names += (names.empty() ? "" : ", ") + n;
  INFO(list_name << ": " << cases << " cases at " << names);
  CHECK(bad == 0);
#if defined(__x86_64__) || defined(__aarch64__)
  CHECK(!ran.empty());  // these targets always have a SIMD architecture
#endif
}

}  // namespace

TEST_CASE("every SIMD width gives the scalar definition's bits: all formats", "[cost][isa]") {
  check_list<fm::all_formats>({{37, 256}, {130, 384}, {3, 128}}, "all formats");
}

TEST_CASE("every SIMD width gives the scalar definition's bits: MX rule variants", "[cost][isa]") {
  check_list<fm::mx_rule_variants>({{37, 256}, {9, 96}}, "MX rule variants");
}

TEST_CASE("every SIMD width gives the scalar definition's bits: row tails", "[cost][isa]") {
  // partial last chunks (any width: per-channel and per-tensor scales; 16-wide blocks)
  check_list<fm::format_list<fm::fp8_e4m3_channel, fm::fp8_e4m3_tensor, fm::int8_w8a16, fm::int8_w8a16_asym,
                             fm::bf16_passthrough>>({{9, 8}, {5, 40}, {3, 200}, {17, 333}}, "any-width formats");
  check_list<fm::format_list<fm::nvfp4, fm::int3_g16, fm::int2_asym_g16>>({{7, 48}, {4, 208}, {2, 16}},
                                                                           "16-block formats");
}

// ---- the arch-tagged helpers against their generic twins ----------------------------------
namespace {

template <class A>
void check_helpers() {
  using vf = simd::vf<A>;
  constexpr int W = simd::width_of<A>;
  INFO(simd::level_name<A>());
  sequence g{7};
  auto random_lanes = [&](float* t, int n) {
    for (int k = 0; k < n; ++k) {
      const int kind = g.below(10);
      t[k] = kind == 0 ? 0.0f : kind == 1 ? -0.0f : (g.uniform() - 0.5f) * std::ldexp(1.0f, g.below(40) - 20);
    }
  };
  std::int64_t bad = 0;
  for (int it = 0; it < 2000; ++it) {
    alignas(64) float t[32], u[32];
    random_lanes(t, 32);
    const vf x = vf::load_aligned(t);
    simd::fence(x).store_aligned(u);
    bad += std::memcmp(t, u, sizeof(float) * W) != 0;
    simd::generic::fence(x).store_aligned(u);
    bad += std::memcmp(t, u, sizeof(float) * W) != 0;
    {  // division: a random dividend and divisor, and exact or tie-prone quotients
      alignas(64) float d[32], q[32], gq[32];
      random_lanes(d, 32);
      for (int k = 0; k < W; ++k)
        if (d[k] == 0.0f || it % 3 == 0) d[k] = it % 2 ? 3.0f : 448.0f / static_cast<float>(1 + g.below(64));
      simd::divide(x, vf::load_aligned(d)).store_aligned(q);
      simd::generic::divide(x, vf::load_aligned(d)).store_aligned(gq);
      for (int k = 0; k < W; ++k) bad += !(same_bits(q[k], gq[k]) || (std::isnan(q[k]) && std::isnan(gq[k])));
    }
    const float mx = simd::hmax(x), gmx = simd::generic::hmax(x), mn = simd::hmin(x), gmn = simd::generic::hmin(x);
    bad += !(mx == gmx) + !(mn == gmn);  // numerically: lanes may hold both zeros
    double acc[16], gacc[16];
    for (int k = 0; k < 16; ++k) acc[k] = gacc[k] = static_cast<double>(g.uniform());
    simd::add_widened(acc, x);
    simd::generic::add_widened(gacc, x);
    bad += std::memcmp(acc, gacc, sizeof(double) * W) != 0;
    vf p[32 / W];
    for (int v = 0; v < 32 / W; ++v) {
      for (int k = 0; k < W; ++k) u[k] = std::fabs(t[(v * W + k + it) % 32]) * g.uniform();
      p[v] = vf::load_aligned(u);
    }
    double l8[8], g8[8];
    float q8[8];
    for (int k = 0; k < 8; ++k) l8[k] = g8[k] = static_cast<double>(k);
    simd::add_lanes8<A>(l8, p);
    simd::generic::lanes8<A>(p, q8);
    for (int k = 0; k < 8; ++k) g8[k] += static_cast<double>(q8[k]);
    bad += std::memcmp(l8, g8, sizeof l8) != 0;
  }
  // block ranges: n blocks of 16 (not a multiple of the fold's 4 or 8), zeros of both signs
  for (std::int64_t n : {1, 3, 4, 8, 13, 24, 37}) {
    std::vector<float> x(static_cast<std::size_t>(n * 16));
    random_lanes(x.data(), static_cast<int>(x.size()));
    for (std::int64_t b = 0; b < n; b += 3)
      for (int k = 0; k < 16; ++k) x[static_cast<std::size_t>(b * 16 + k)] = g.below(2) ? 0.0f : -0.0f;
    std::vector<float> lo(static_cast<std::size_t>(n)), hi(lo.size()), glo(lo.size()), ghi(lo.size());
    simd::block_ranges16<A>(x.data(), n, lo.data(), hi.data());
    simd::generic::block_ranges16<A>(x.data(), n, glo.data(), ghi.data());
    bad += std::memcmp(lo.data(), glo.data(), lo.size() * 4) != 0 || std::memcmp(hi.data(), ghi.data(), hi.size() * 4) != 0;
    for (std::size_t b = 0; b < lo.size(); ++b) {
      fm::block_range r{};  // the definition: from {0, 0}, +0 for a zero
      for (int k = 0; k < 16; ++k) r.add(x[b * 16 + static_cast<std::size_t>(k)]);
      const float rmin = r.min == 0.0f ? 0.0f : r.min, rmax = r.max == 0.0f ? 0.0f : r.max;
      bad += !same_bits(lo[b], rmin) || !same_bits(hi[b], rmax);
    }
  }
  // f16 widening: every bit pattern (NaNs compared as NaNs), in rows of several lengths
  std::vector<std::uint16_t> h(65536 + 5);
  for (std::size_t k = 0; k < h.size(); ++k) h[k] = static_cast<std::uint16_t>(k * 40503u);
  std::vector<float> a(h.size()), b(h.size());
  simd::widen_f16<A>(h.data(), static_cast<std::int64_t>(h.size()), a.data());
  simd::generic::widen_f16(h.data(), static_cast<std::int64_t>(h.size()), b.data());
  for (std::size_t k = 0; k < h.size(); ++k) bad += !(same_bits(a[k], b[k]) || (std::isnan(a[k]) && std::isnan(b[k])));
  CHECK(bad == 0);
}

}  // namespace


TEST_CASE("the arch-tagged helpers equal their generic twins", "[cost][isa]") {
  const auto ran = for_each_simd_arch([]<class A>() { check_helpers<A>(); });
#if defined(__x86_64__) || defined(__aarch64__)
  CHECK(!ran.empty());
#endif
}

// ---- the shipped model's costs file --------------------------------------------------------
namespace {

// The costs file of every Linear of the model in the seed formats (what scripts/run.sh
// measures; every format is compared bit for bit above), all statistics (act_sse with a fixed
// per-column vector), written with the costs-file writer to path; fused siblings share their
// tensor stats (job groups), as `prismaquant cost` does.
using seed_formats = fm::format_list<fm::nvfp4, fm::mxfp8_e4m3, fm::fp8_source, fm::bf16_passthrough>;
template <class A>
void write_model_costs(const pq::model::opened_model& m, const fs::path& path) {
  const auto& d = m.description;
  std::vector<std::vector<float>> scales(d.linears.size()), acts(d.linears.size());
  std::vector<cost::job> jobs;
  std::vector<int> group(d.linears.size(), -1);
  for (std::size_t g = 0; g < d.fused_groups.size(); ++g)
    for (int i : d.fused_groups[g]) group[static_cast<std::size_t>(i)] = static_cast<int>(g);
  std::vector<std::string> names(d.linears.size());
  for (std::size_t i = 0; i < d.linears.size(); ++i) {
    const auto& l = d.linears[i];
    names[i] = l.name + ".weight";
    const auto t = m.weights->tensor(names[i]);
    REQUIRE(t.type == pq::dtype::F8_E4M3);  // the shipped model stores FP8 with 128x128 scales
    scales[i] = m.weights->tensor(l.name + ".weight_scale_inv").to_vector<float>();
    const float* s = scales[i].data();
    acts[i] = make_act(l.in_features, 1000 + i);
    jobs.push_back({fm::weight_view::from_bytes(t.bytes.data(), t.type, l.out_features, l.in_features, names[i], s, 128),
                    acts[i].data(), std::nullopt, group[i]});
  }
  const auto res = cost::evaluate<seed_formats, cost::all_stats, A>(std::span<const cost::job>(jobs));
  pq::stats::model_costs costs;
  for (std::size_t i = 0; i < d.linears.size(); ++i) {
    const auto& l = d.linears[i];
    pq::stats::linear_costs lc;
    lc.name = l.name;
    lc.out_features = l.out_features;
    lc.in_features = l.in_features;
    std::size_t k = 0;
    seed_formats::for_each([&]<class F>() {
      const auto& r = res[i].formats[k++];
      pq::stats::format_cost fc;
      fc.bytes = static_cast<std::int64_t>(F::storage_bytes(l.out_features, l.in_features));
      fc.n = r.elements;
      fc.sse = r.sse;
      fc.max_abs_err = r.max_abs;
      fc.sse_row = r.row_sse;
      fc.act_sse = r.act_sse;
      lc.formats.emplace(std::string(F::name), std::move(fc));
    });
    costs.linears.emplace(l.name, std::move(lc));
  }
  pq::stats::write_costs(path, costs);
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("the shipped model's costs file is the same on every instruction set", "[cost][isa]") {
  const auto m = pq::model::open_model(fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny");
  REQUIRE(!m.description.linears.empty());
#if defined(__unix__)
  const std::string tag = std::to_string(static_cast<long>(::getpid()));
#else
  const std::string tag = "0";
#endif
  const fs::path dir = fs::temp_directory_path() / ("pq_cost_isa_" + tag);
  const char* out = std::getenv("PQ_COST_ISA_OUT");
  // One folder per architecture, the same file name in each (the JSON names its side file).
  auto folder = [](const char* level) {
    std::string n = level;
    for (char& c : n)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    return n;
  };
  auto write = [&]<class A>() {
    const fs::path p = dir / folder(simd::level_name<A>()) / "costs.json";
    fs::create_directories(p.parent_path());
    write_model_costs<A>(m, p);
    if (out) {
      const fs::path o = fs::path(out) / folder(simd::level_name<A>());
      fs::create_directories(o);
      fs::copy(p.parent_path(), o, fs::copy_options::overwrite_existing | fs::copy_options::recursive);
    }
    // the whole costs file: the JSON and its side tensors
    return bytes_of(p) + bytes_of(fs::path(p).replace_extension(".safetensors"));
  };
  const std::string ref = write.template operator()<simd::scalar>();
  REQUIRE(ref.size() > 1000);
  const auto ran = for_each_simd_arch([&]<class A>() {
    const std::string got = write.template operator()<A>();
    std::size_t at = 0;  // the first differing byte, and the text around it
    while (at < got.size() && at < ref.size() && got[at] == ref[at]) ++at;
    INFO(simd::level_name<A>() << ": " << got.size() << " bytes vs " << ref.size() << "; first difference at byte "
                               << at << ": \"" << got.substr(at > 80 ? at - 80 : 0, 120) << "\"");
    CHECK((got.size() == ref.size() && at == ref.size()));
  });
  fs::remove_all(dir);
#if defined(__x86_64__) || defined(__aarch64__)
  CHECK(!ran.empty());
#endif
}
