// `prismaquant quantize` end to end: runs the built binary on small safetensors files and
// checks every output tensor against the library's own encoder (whose bytes are checked
// against compressed-tensors in test_ct_parity), copies, groups, and the error cases.
#include <catch2/catch.hpp>

#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/safetensors.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace pq = prismaquant;
namespace pf = prismaquant::formats;
namespace fs = std::filesystem;

namespace {

const std::string cli = std::string(PQ_BUILD_DIR) + "/prismaquant";

struct result {
  int code;
  std::string output;
};
result run(const std::string& args) {
  std::string cmd = cli + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::path(PQ_BUILD_DIR) / "test_tmp" / ("cli-quantize-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& s) const { return (path / s).string(); }
};

std::vector<std::uint16_t> bf16_weights(std::size_t n, float scale, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = static_cast<std::uint16_t>(pq::bf16::from_float(d(g)).bits());
  return v;
}
template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

// A small model file: q/k/v with different magnitudes, an MLP weight, a norm, an int buffer,
// and an FP8-block source weight with its weight_scale_inv.
struct model_file {
  std::vector<std::uint16_t> q = bf16_weights(32 * 64, 0.02f, 1), k = bf16_weights(16 * 64, 0.5f, 2),
                             v = bf16_weights(16 * 64, 3.0f, 3);
  std::vector<float> up = [] {
    std::vector<float> x(48 * 64);
    std::mt19937 g(4);
    std::uniform_real_distribution<float> d(-1, 1);
    for (auto& e : x) e = d(g);
    return x;
  }();
  std::vector<float> norm = std::vector<float>(64, 1.0f);
  std::vector<std::int32_t> ids = {1, 2, 3, 4};
  std::vector<std::uint8_t> fp8 = [] {
    std::vector<std::uint8_t> x(32 * 64);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::uint8_t>((i * 37) % 0x7e);  // finite codes
    return x;
  }();
  std::vector<float> fp8_scale = {0.25f};
  std::vector<pq::tensor_data> tensors() const {
    return {{{"model.layers.0.self_attn.q_proj.weight", pq::dtype::BF16, {32, 64}}, bytes_of(q)},
            {{"model.layers.0.self_attn.k_proj.weight", pq::dtype::BF16, {16, 64}}, bytes_of(k)},
            {{"model.layers.0.self_attn.v_proj.weight", pq::dtype::BF16, {16, 64}}, bytes_of(v)},
            {{"model.layers.0.mlp.up_proj.weight", pq::dtype::F32, {48, 64}}, bytes_of(up)},
            {{"model.layers.0.input_layernorm.weight", pq::dtype::F32, {64}}, bytes_of(norm)},
            {{"model.buffer_ids", pq::dtype::I32, {4}}, bytes_of(ids)},
            {{"model.layers.0.mlp.experts.0.w1.weight", pq::dtype::F8_E4M3, {32, 64}}, bytes_of(fp8)},
            {{"model.layers.0.mlp.experts.0.w1.weight_scale_inv", pq::dtype::F32, {1, 1}}, bytes_of(fp8_scale)}};
  }
};

pf::weight_view view_of(const pq::tensor_view& t, const std::vector<float>* scale_inv = nullptr) {
  return pf::weight_view::from_bytes(t.bytes.data(), t.type, static_cast<std::int64_t>(t.shape[0]),
                                     static_cast<std::int64_t>(t.shape[1]), t.name, scale_inv ? scale_inv->data() : nullptr);
}

void check_encoded(const pq::safetensors_file& out, const std::string& module, const pf::encoded_weight& want) {
  for (const auto& t : want.tensors) {
    INFO(module << "." << t.suffix);
    auto v = out.find(module + "." + t.suffix);
    REQUIRE(v.has_value());
    CHECK(v->type == t.type);
    CHECK(std::vector<std::int64_t>(v->shape.begin(), v->shape.end()) == t.shape);
    CHECK(std::equal(v->bytes.begin(), v->bytes.end(), reinterpret_cast<const std::byte*>(t.bytes.data()),
                     reinterpret_cast<const std::byte*>(t.bytes.data() + t.bytes.size())));
  }
}

std::size_t dir_entries(const fs::path& p) {
  auto it = fs::directory_iterator(p);
  return static_cast<std::size_t>(std::distance(it, fs::directory_iterator{}));
}

}  // namespace

TEST_CASE("quantize encodes every 2-D float weight, copies the rest, shares a group's global scale") {
  temp_dir d;
  model_file m;
  auto in_tensors = m.tensors();
  pq::write_safetensors(d / "w.safetensors", in_tensors);
  const std::string attn = "model.layers.0.self_attn.";

  for (std::string format : {"NVFP4", "MXFP4", "FP8_E4M3", "INT4_W4A16_g128", "MXFP8_E4M3"}) {
    INFO(format);
    const auto& fmt = pf::find(format);
    std::string out = d / ("q_" + format + ".safetensors");
    auto r = run("quantize --format " + format + " --in " + d / "w.safetensors" + " --out " + out + " --group " + attn +
                 "q_proj," + attn + "k_proj.weight," + attn + "v_proj");
    INFO(r.output);
    REQUIRE(r.code == 0);
    pq::safetensors_file in(d / "w.safetensors"), q(out);

    // grouped q/k/v: encoded with the union's stats
    std::vector<pf::weight_view> group;
    for (auto n : {"q_proj", "k_proj", "v_proj"}) group.push_back(view_of(in.at(attn + n + ".weight")));
    const pf::tensor_stats gs = pf::measure_group(group);
    for (auto n : {"q_proj", "k_proj", "v_proj"}) {
      auto wv = view_of(in.at(attn + n + ".weight"));
      check_encoded(q, attn + n, fmt.encode(wv, gs));
      CHECK_FALSE(q.contains(attn + n + ".weight_scale_inv"));
    }
    // ungrouped weights: their own stats
    check_encoded(q, "model.layers.0.mlp.up_proj", fmt.encode(view_of(in.at("model.layers.0.mlp.up_proj.weight")), pf::measure(view_of(in.at("model.layers.0.mlp.up_proj.weight")))));
    // the FP8-block source is read through its weight_scale_inv, which is consumed
    auto fp8v = view_of(in.at("model.layers.0.mlp.experts.0.w1.weight"), &m.fp8_scale);
    check_encoded(q, "model.layers.0.mlp.experts.0.w1", fmt.encode(fp8v, pf::measure(fp8v)));
    CHECK_FALSE(q.contains("model.layers.0.mlp.experts.0.w1.weight_scale_inv"));
    // copied unchanged
    for (auto n : {"model.layers.0.input_layernorm.weight", "model.buffer_ids"}) {
      auto a = in.at(n), b = q.at(n);
      CHECK(a.type == b.type);
      CHECK(std::equal(a.bytes.begin(), a.bytes.end(), b.bytes.begin(), b.bytes.end()));
    }
    if (format == "NVFP4") {  // the point of --group: one global scale for q/k/v
      auto gq = q.at(attn + "q_proj.weight_global_scale").to_vector<float>();
      CHECK(gq == q.at(attn + "k_proj.weight_global_scale").to_vector<float>());
      CHECK(gq == q.at(attn + "v_proj.weight_global_scale").to_vector<float>());
      // ...and it differs from q's own (its weights are 150x smaller than v's)
      auto own = fmt.encode(group[0], pf::measure(group[0]));
      CHECK(own.at("weight_global_scale").get<float>(0) != gq[0]);
    }
    // encoded + copied = everything except the consumed scale_inv
    std::size_t expect = 2;
    for (int i = 0; i < 5; ++i) expect += fmt.layout(16, 64).size();
    CHECK(q.size() == expect);
  }
  // deterministic
  run("quantize --format NVFP4 --in " + d / "w.safetensors" + " --out " + d / "again.safetensors");
  run("quantize --format NVFP4 --in " + d / "w.safetensors" + " --out " + d / "again2.safetensors");
  std::ifstream a(d / "again.safetensors", std::ios::binary), b(d / "again2.safetensors", std::ios::binary);
  std::stringstream sa, sb;
  sa << a.rdbuf();
  sb << b.rdbuf();
  CHECK(sa.str() == sb.str());
  CHECK(sa.str().size() > 1000);
}

TEST_CASE("quantize: bad input is a clear error, non-zero exit, and no output") {
  temp_dir d;
  model_file m;
  auto ts = m.tensors();
  pq::write_safetensors(d / "w.safetensors", ts);
  const std::string in = d / "w.safetensors", out = d / "q.safetensors";

  auto expect_error = [&](const std::string& args, const std::string& fragment) {
    INFO(args);
    std::size_t before = dir_entries(d.path);
    auto r = run(args);
    INFO(r.output);
    CHECK(r.code != 0);
    CHECK(r.output.find(fragment) != std::string::npos);
    CHECK_FALSE(fs::exists(out));
    CHECK(dir_entries(d.path) == before);  // no temporaries left behind
  };
  expect_error("quantize --format NVFP5 --in " + in + " --out " + out, "unknown value \"NVFP5\"");
  expect_error("quantize --format NVFP4 --in " + d / "missing.safetensors" + " --out " + out, "missing.safetensors: no such file");
  expect_error("quantize --format NVFP4 --in " + in + " --out " + out + " --group model.layers.0.self_attn.q_proj,nope",
               "\"nope\" is not a 2-D floating-point weight");
  expect_error("quantize --format NVFP4 --in " + in + " --out " + out +
                   " --group model.layers.0.self_attn.q_proj --group model.layers.0.self_attn.q_proj.weight",
               "is in two groups");
  expect_error("quantize --format NVFP4 --in " + in, "--out: is required");

  {  // truncated file
    std::ifstream f(in, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    std::ofstream(d / "trunc.safetensors", std::ios::binary) << s.substr(0, s.size() - 100);
    expect_error("quantize --format NVFP4 --in " + d / "trunc.safetensors" + " --out " + out,
                 "trunc.safetensors: tensor");
    std::ofstream(d / "trunc2.safetensors", std::ios::binary) << s.substr(0, 20);
    expect_error("quantize --format NVFP4 --in " + d / "trunc2.safetensors" + " --out " + out, "runs past the end of the file");
  }
  {  // NaN in the last weight: the error names it, and the (partly streamed) output is gone
    auto q = m.q;
    q.back() = 0x7fc0;  // bf16 NaN
    auto bad = m.tensors();
    bad[0].bytes = bytes_of(q);
    std::swap(bad[0], bad[3]);  // encoded after other weights were already streamed out
    pq::write_safetensors(d / "nan.safetensors", bad);
    expect_error("quantize --format NVFP4 --in " + d / "nan.safetensors" + " --out " + out,
                 "nan.safetensors: model.layers.0.self_attn.q_proj.weight: NaN at [31, 63]");
  }
  {  // FP8 weight without its scales
    auto bad = m.tensors();
    bad.pop_back();
    pq::write_safetensors(d / "noscale.safetensors", bad);
    expect_error("quantize --format NVFP4 --in " + d / "noscale.safetensors" + " --out " + out,
                 "F8_E4M3 weight without \"model.layers.0.mlp.experts.0.w1.weight_scale_inv\"");
  }
  {  // a failed run leaves an existing output untouched
    std::ofstream(out) << "previous";
    auto r = run("quantize --format NVFP4 --in " + d / "nan.safetensors" + " --out " + out);
    CHECK(r.code == 1);
    std::ifstream f(out);
    std::string s;
    f >> s;
    CHECK(s == "previous");
  }
}
