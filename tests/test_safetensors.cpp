// safetensors reader/writer: round trips of every dtype, every broken-file case (each with the
// message it must give), sharded checkpoints, the streaming writer's atomicity.
// The live cross-check against the Python safetensors package is tests/live/test_safetensors_py.py.
#include <catch2/catch.hpp>

#include <prismaquant/io/safetensors.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace pq = prismaquant;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& tag) {
    static int n = 0;
    path = fs::path(PQ_BUILD_DIR) / "test_tmp" / ("safetensors-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& s) const { return path / s; }
};

std::vector<std::byte> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(g() & 0xff);
  return v;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_raw(const fs::path& p, const std::string& header, std::size_t data_bytes, std::uint64_t declared_len) {
  std::ofstream out(p, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((declared_len >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\x5a');
}
void write_raw(const fs::path& p, const std::string& header, std::size_t data_bytes) {
  write_raw(p, header, data_bytes, header.size());
}

// Shapes whose byte size is whole for every dtype (F4 needs an even, F6 a multiple-of-4 count).
const std::vector<std::vector<std::uint64_t>> shapes = {{}, {0}, {4}, {3, 8}, {2, 0, 4}, {1, 2, 3, 4}, {16, 128}};

constexpr pq::dtype all_dtypes[] = {
    pq::dtype::BOOL, pq::dtype::U8,  pq::dtype::I8,  pq::dtype::I16,     pq::dtype::U16,     pq::dtype::I32,
    pq::dtype::U32,  pq::dtype::I64, pq::dtype::U64, pq::dtype::F16,     pq::dtype::BF16,    pq::dtype::F32,
    pq::dtype::F64,  pq::dtype::F8_E4M3, pq::dtype::F8_E5M2, pq::dtype::F8_E8M0, pq::dtype::F6_E2M3,
    pq::dtype::F6_E3M2, pq::dtype::F4};

}  // namespace

TEST_CASE("tensor_bytes follows safetensors 0.8 for whole and sub-byte dtypes") {
  using pq::dtype;
  std::vector<std::uint64_t> s4{4}, s3{3}, s23{2, 3}, s8{8}, s0{0}, none{};
  CHECK(pq::tensor_bytes(dtype::F32, s23, "x") == 24);
  CHECK(pq::tensor_bytes(dtype::F32, none, "x") == 4);  // a scalar has one element
  CHECK(pq::tensor_bytes(dtype::BF16, s0, "x") == 0);
  CHECK(pq::tensor_bytes(dtype::F4, s4, "x") == 2);     // two per byte
  CHECK(pq::tensor_bytes(dtype::F4, s23, "x") == 3);    // packing runs across rows
  CHECK(pq::tensor_bytes(dtype::F6_E2M3, s4, "x") == 3);  // four per three bytes
  CHECK(pq::tensor_bytes(dtype::F6_E3M2, s8, "x") == 6);
  CHECK_THROWS_WITH(pq::tensor_bytes(dtype::F4, s3, "t"), Catch::Contains("12 bits, not a whole number of bytes"));
  CHECK_THROWS_WITH(pq::tensor_bytes(dtype::F6_E2M3, s3, "t"), Catch::Contains("18 bits"));
  std::vector<std::uint64_t> big{1ull << 32, 1ull << 32};
  CHECK_THROWS_WITH(pq::tensor_bytes(dtype::U8, big, "t"), Catch::Contains("overflows 64 bits"));
  std::vector<std::uint64_t> big2{1ull << 62};
  CHECK_THROWS_WITH(pq::tensor_bytes(dtype::F32, big2, "t"), Catch::Contains("overflows 64 bits"));
}

TEST_CASE("round trip of every dtype and shape through write_safetensors and the mapped reader") {
  temp_dir d("rt");
  std::vector<std::vector<std::byte>> store;
  std::vector<pq::tensor_data> in;
  std::uint32_t seed = 1;
  for (pq::dtype t : all_dtypes)
    for (const auto& s : shapes) {
      if (s.empty() && pq::dtype_bits(t) < 8) continue;  // one F4/F6 scalar is not whole bytes
      std::string name = "layer." + std::string(pq::dtype_name(t)) + "." + pq::detail::shape_string(s);
      store.push_back(random_bytes(pq::tensor_bytes(t, s, name), seed++));
      in.push_back({{name, t, s}, store.back()});
    }
  std::map<std::string, std::string> meta{{"format", "pt"}, {"note", "ünïcode ✓"}};
  pq::write_safetensors(d / "all.safetensors", in, meta);

  pq::safetensors_file f(d / "all.safetensors");
  CHECK(f.metadata() == meta);
  REQUIRE(f.size() == in.size());
  CHECK(f.header().data_offset() % 8 == 0);  // header padded like safetensors' own writer
  for (const auto& t : in) {
    auto v = f.at(t.spec.name);
    CHECK(v.type == t.spec.type);
    CHECK(std::vector<std::uint64_t>(v.shape.begin(), v.shape.end()) == t.spec.shape);
    REQUIRE(v.bytes.size() == t.bytes.size());
    CHECK(std::equal(v.bytes.begin(), v.bytes.end(), t.bytes.begin()));
    // zero copy: the view points into the mapping
    CHECK(v.bytes.data() >= f.mapping().bytes().data());
    CHECK(v.bytes.data() + v.bytes.size() <= f.mapping().bytes().data() + f.mapping().size());
  }
  // file order is the order written
  auto views = f.tensors();
  for (std::size_t i = 0; i < in.size(); ++i) CHECK(views[i].name == in[i].spec.name);
  CHECK_FALSE(f.find("missing").has_value());
  CHECK_THROWS_WITH(f.at("missing"), Catch::Contains("all.safetensors: no tensor named \"missing\""));

  // typed access
  std::vector<float> xs{1.5f, -2.f, 3.25f, 0.f};
  pq::tensor_data one{{"x", pq::dtype::F32, {4}}, std::as_bytes(std::span<const float>(xs))};
  pq::write_safetensors(d / "f32.safetensors", std::span(&one, 1));
  pq::safetensors_file g(d / "f32.safetensors");
  CHECK(g.at("x").to_vector<float>() == xs);
  CHECK_THROWS_WITH(g.at("x").to_vector<double>(), Catch::Contains("not a 64-bit type"));

  // determinism: same input, same bytes
  pq::write_safetensors(d / "again.safetensors", in, meta);
  CHECK(read_all(d / "all.safetensors") == read_all(d / "again.safetensors"));
}

TEST_CASE("write_safetensors rejects bad tensors and leaves nothing behind") {
  temp_dir d("wbad");
  auto bytes = random_bytes(8, 3);
  std::vector<pq::tensor_data> t{{{"a", pq::dtype::F32, {3}}, bytes}};
  CHECK_THROWS_WITH(pq::write_safetensors(d / "x.safetensors", t), Catch::Contains("needs 12 bytes, got 8"));
  t = {{{"a", pq::dtype::F32, {2}}, bytes}, {{"a", pq::dtype::F32, {2}}, bytes}};
  CHECK_THROWS_WITH(pq::write_safetensors(d / "x.safetensors", t), Catch::Contains("duplicate tensor \"a\""));
  t = {{{"__metadata__", pq::dtype::F32, {2}}, bytes}};
  CHECK_THROWS_WITH(pq::write_safetensors(d / "x.safetensors", t), Catch::Contains("cannot be a tensor name"));
  t = {{{"bad\xff", pq::dtype::F32, {2}}, bytes}};
  CHECK_THROWS_WITH(pq::write_safetensors(d / "x.safetensors", t), Catch::Contains("cannot write header"));
  CHECK(fs::is_empty(d.path));
}

TEST_CASE("every broken file gives an error naming the file and the problem") {
  temp_dir d("broken");
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct bad_case {
    const char* what;
    std::string header;
    std::size_t data;
    std::string expect;
    std::int64_t declared = -1;  // header length field, when it lies
  };
  const std::vector<bad_case> cases = {
      {"header length beyond 100 MB", "{}", 0, "exceeds the 100 MB limit", 100'000'001},
      {"header length 2^64-1", "{}", 0, "exceeds the 100 MB limit", -2},
      {"header length below 2", "{}", 0, "is below 2", 1},
      {"header length 0", "{}", 0, "is below 2", 0},
      {"header runs past the end of the file", "{}", 0, "runs past the end of the file", 50},
      {"invalid JSON", "{\"a\":", 0, "header is not valid JSON"},
      {"not UTF-8", "{\"\xff\":1}", 0, "header is not valid JSON"},
      {"JSON array, not object", "[1,2]", 0, "header JSON is not an object"},
      {"JSON string", "\"hi\"", 0, "header JSON is not an object"},
      {"entry not an object", R"({"a":[1]})", 0, "tensor \"a\": entry is not an object"},
      {"missing dtype", R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, "tensor \"a\": missing \"dtype\""},
      {"missing shape", R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, "tensor \"a\": missing \"shape\""},
      {"missing data_offsets", R"({"a":{"dtype":"F32","shape":[2]}})", 8, "tensor \"a\": missing \"data_offsets\""},
      {"unknown field", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8, "unknown field \"x\""},
      {"unknown dtype", R"({"a":{"dtype":"F3","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype \"F3\""},
      {"dtype not a string", R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", 8, "\"dtype\" is not a string"},
      {"shape not an array", R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, "\"shape\" is not an array"},
      {"negative dim", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "shape entry -2 is not a non-negative integer"},
      {"fractional dim", R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8, "shape entry 2.5 is not a non-negative integer"},
      {"dim beyond u64", R"({"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}})", 8, "is not a non-negative integer"},
      {"shape product overflows", R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8, "overflows 64 bits"},
      {"byte size overflows", R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8, "overflows 64 bits"},
      {"offsets not a pair", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, "is not an array [begin, end]"},
      {"offsets negative", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8, "are not non-negative integers"},
      {"offsets reversed", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8, "end before they begin"},
      {"offsets past the buffer", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, "run past the end of the data buffer (8 bytes)"},
      {"offsets near 2^64", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,18446744073709551615]}})", 8, "run past the end of the data buffer"},
      {"dtype x shape != bytes", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "F32 [3] needs 12 bytes but data_offsets [0,8] span 8"},
      {"F4 odd count", R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2, "12 bits, not a whole number of bytes"},
      {"F4 wrong bytes", R"({"a":{"dtype":"F4","shape":[4],"data_offsets":[0,4]}})", 4, "F4 [4] needs 2 bytes"},
      {"F6 count not 4k", R"({"a":{"dtype":"F6_E2M3","shape":[2],"data_offsets":[0,2]}})", 2, "12 bits, not a whole number of bytes"},
      {"F6 wrong bytes", R"({"a":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,4]}})", 4, "F6_E3M2 [4] needs 3 bytes"},
      {"overlap", "{" + ok_entry + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "overlaps tensor"},
      {"empty tensor inside another", "{" + ok_entry + R"(,"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})", 8, "overlaps tensor \"a\""},
      {"hole between tensors", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12, "bytes [4,8) belong to no tensor"},
      {"hole at the start", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "bytes [0,4) belong to no tensor"},
      {"trailing bytes", "{" + ok_entry + "}", 12, "bytes [8,12) after the last tensor"},
      {"data but no tensors", "{}", 4, "bytes [0,4) after the last tensor"},
      {"duplicate tensor name", "{" + ok_entry + "," + ok_entry + "}", 8, "duplicate key \"a\" (tensor names must be unique)"},
      {"duplicate field", R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, "duplicate key \"dtype\""},
      {"metadata not an object", R"({"__metadata__":"pt"})", 0, "__metadata__ must be an object of string values"},
      {"metadata value not a string", R"({"__metadata__":{"format":1}})", 0, "__metadata__ value for key \"format\" is not a string"},
      {"metadata null", R"({"__metadata__":null})", 0, "__metadata__ must be an object"},
      {"nested too deep", R"({"a":{"dtype":"F32","shape":[[[2]]],"data_offsets":[0,8]}})", 8, "nested deeper"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    fs::path p = d / "bad.safetensors";
    std::uint64_t declared = c.declared == -1 ? c.header.size() : c.declared == -2 ? ~0ull : static_cast<std::uint64_t>(c.declared);
    write_raw(p, c.header, c.data, declared);
    CHECK_THROWS_WITH(pq::safetensors_file(p), Catch::StartsWith(p.string() + ": ") && Catch::Contains(c.expect));
    CHECK_THROWS_AS(pq::checkpoint(p), pq::error);
  }
  // files shorter than the length field
  for (std::size_t n : {0, 1, 7}) {
    fs::path p = d / "short.safetensors";
    { std::ofstream out(p, std::ios::binary); out << std::string(n, '\0'); }
    CHECK_THROWS_WITH(pq::safetensors_file(p), Catch::Contains("too short for the 8-byte header length"));
  }
  CHECK_THROWS_WITH(pq::safetensors_file(d / "nope.safetensors"), Catch::Contains("nope.safetensors: cannot open"));
  CHECK_THROWS_WITH(pq::safetensors_file(d.path), Catch::Contains("not a regular file"));
}

TEST_CASE("edge cases the reference reader accepts are accepted") {
  temp_dir d("edge");
  struct ok_case {
    const char* what;
    std::string header;
    std::size_t data;
    std::size_t tensors;
  };
  const std::vector<ok_case> cases = {
      {"empty header", "{}", 0, 0},
      {"padded header", "{}      ", 0, 0},
      {"leading whitespace", "  {}", 0, 0},
      {"metadata only", R"({"__metadata__":{"format":"pt"}})", 0, 0},
      {"scalar", R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})", 8, 1},
      {"empty tensors on boundaries", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"I8","shape":[0,5],"data_offsets":[8,8]}})", 8, 3},
      {"entries out of offset order", R"({"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2, 2},
      {"F4 and F6 packed", R"({"p":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]},"q":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[3,6]}})", 6, 2},
      {"empty name", R"({"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1, 1},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    fs::path p = d / "ok.safetensors";
    write_raw(p, c.header, c.data);
    pq::safetensors_file f(p);
    CHECK(f.size() == c.tensors);
  }
}

TEST_CASE("streaming checkpoint writer: sharded round trip, index, lazy reader") {
  temp_dir d("shard");
  // 10 tensors of 1000 bytes each, 3500-byte shards -> 3 per shard -> 4 shards
  std::vector<std::vector<std::byte>> data;
  std::vector<pq::tensor_spec> specs;
  for (int i = 0; i < 10; ++i) {
    specs.push_back({"model.layers." + std::to_string(i) + ".w", i % 2 ? pq::dtype::BF16 : pq::dtype::U8,
                     i % 2 ? std::vector<std::uint64_t>{20, 25} : std::vector<std::uint64_t>{1000}});
    data.push_back(random_bytes(1000, 100 + i));
  }
  for (bool planned : {false, true}) {
    INFO("planned " << planned);
    fs::path out = d / (planned ? "planned" : "spooled");
    pq::checkpoint_writer_options o;
    o.max_shard_bytes = 3500;
    o.sync = false;
    if (planned) o.plan = specs;
    std::vector<fs::path> files;
    {
      pq::checkpoint_writer w(out, o);
      for (int i = 0; i < 10; ++i) {
        if (i == 4) {  // stream one tensor in pieces
          w.begin_tensor(specs[i]);
          w.write(std::span(data[i]).first(300));
          w.write(std::span(data[i]).subspan(300));
          w.end_tensor();
        } else {
          w.add(specs[i], data[i]);
        }
      }
      // nothing looks complete before finish(): no index, no final shard names
      for (auto& e : fs::directory_iterator(out)) CHECK(e.path().filename().string().front() == '.');
      files = w.finish();
    }
    REQUIRE(files.size() == 5);
    CHECK(files[0].filename() == "model-00001-of-00004.safetensors");
    CHECK(files[3].filename() == "model-00004-of-00004.safetensors");
    CHECK(files[4].filename() == "model.safetensors.index.json");
    std::size_t entries = 0;
    for (auto& e : fs::directory_iterator(out)) {
      CHECK(e.path().filename().string().front() != '.');  // temporaries are gone
      ++entries;
    }
    CHECK(entries == 5);
    auto idx = nlohmann::json::parse(read_all(out / "model.safetensors.index.json"));
    CHECK(idx["metadata"]["total_size"] == 10000);
    CHECK(idx["weight_map"]["model.layers.2.w"] == "model-00001-of-00004.safetensors");
    CHECK(idx["weight_map"]["model.layers.3.w"] == "model-00002-of-00004.safetensors");
    CHECK(idx["weight_map"]["model.layers.9.w"] == "model-00004-of-00004.safetensors");

    pq::checkpoint ck(out);
    CHECK(ck.size() == 10);
    CHECK(ck.files().size() == 4);
    CHECK(ck.index_metadata()["total_size"] == 10000);
    CHECK(ck.file_of("model.layers.5.w").filename() == "model-00002-of-00004.safetensors");
    for (int i = 0; i < 10; ++i) {
      auto v = ck.tensor(specs[i].name);
      CHECK(v.type == specs[i].type);
      CHECK(std::equal(v.bytes.begin(), v.bytes.end(), data[i].begin(), data[i].end()));
    }
    ck.validate();
    CHECK_THROWS_WITH(ck.tensor("nope"), Catch::Contains("model.safetensors.index.json: no tensor named \"nope\""));
    // the index json opened directly works too
    pq::checkpoint ck2(out / "model.safetensors.index.json");
    CHECK(ck2.names() == ck.names());
  }
  // both modes give the same bytes
  for (int s = 1; s <= 4; ++s) {
    std::string n = "model-0000" + std::to_string(s) + "-of-00004.safetensors";
    CHECK(read_all(d / "planned" / n) == read_all(d / "spooled" / n));
  }
}

TEST_CASE("checkpoint writer: single shard, single file, empty, oversize tensor") {
  temp_dir d("single");
  auto b = random_bytes(64, 9);
  pq::checkpoint_writer_options o;
  o.sync = false;
  {
    pq::checkpoint_writer w(d / "one", o);
    w.add({"a", pq::dtype::F32, {16}}, b);
    auto files = w.finish();
    REQUIRE(files.size() == 1);
    CHECK(files[0] == d / "one" / "model.safetensors");
  }
  CHECK(pq::checkpoint(d / "one").tensor("a").bytes.size() == 64);
  {
    o.single_file = true;
    pq::checkpoint_writer w(d / "q.safetensors", o);
    w.add({"a", pq::dtype::F32, {16}}, b);
    w.add({"b", pq::dtype::U8, {64}}, b);
    w.finish();
    pq::safetensors_file f(d / "q.safetensors");
    CHECK(f.size() == 2);
    o.single_file = false;
  }
  {
    pq::checkpoint_writer w(d / "empty", o);
    w.finish();
    CHECK(pq::checkpoint(d / "empty").size() == 0);
  }
  {  // a tensor bigger than the limit gets its own shard
    o.max_shard_bytes = 32;
    pq::checkpoint_writer w(d / "big", o);
    w.add({"a", pq::dtype::U8, {8}}, std::span(b).first(8));
    w.add({"b", pq::dtype::U8, {64}}, b);
    w.add({"c", pq::dtype::U8, {8}}, std::span(b).first(8));
    CHECK(w.finish().size() == 4);  // 3 shards + index
  }
}

TEST_CASE("checkpoint writer: misuse errors, and an abandoned writer leaves nothing") {
  temp_dir d("abort");
  auto b = random_bytes(64, 10);
  pq::checkpoint_writer_options o;
  o.sync = false;
  o.max_shard_bytes = 16;
  {
    pq::checkpoint_writer w(d / "ck", o);
    w.add({"a", pq::dtype::U8, {16}}, std::span(b).first(16));
    w.add({"b", pq::dtype::U8, {16}}, std::span(b).first(16));  // second shard
    CHECK_THROWS_WITH(w.add({"a", pq::dtype::U8, {16}}, std::span(b).first(16)), Catch::Contains("duplicate tensor \"a\""));
    // a rejected spec does not reserve its name
    CHECK_THROWS_WITH(w.add({"d", pq::dtype::F4, {3}}, std::span(b).first(2)), Catch::Contains("not a whole number of bytes"));
    w.add({"d", pq::dtype::F4, {4}}, std::span(b).first(2));
    CHECK_THROWS_WITH(w.add({"c", pq::dtype::U8, {16}}, std::span(b).first(8)), Catch::Contains("8 bytes written, 16 expected"));
  }  // destroyed without finish()
  CHECK(fs::is_empty(d / "ck"));
  {
    pq::checkpoint_writer w(d / "ck2", o);
    w.begin_tensor({"a", pq::dtype::U8, {4}});
    CHECK_THROWS_WITH(w.write(std::span(b).first(5)), Catch::Contains("more bytes written than its 4-byte size"));
    CHECK_THROWS_WITH(w.finish(), Catch::Contains("is unfinished"));
  }
  CHECK(fs::is_empty(d / "ck2"));
  {
    o.plan = {{"a", pq::dtype::U8, {4}}, {"b", pq::dtype::U8, {4}}};
    pq::checkpoint_writer w(d / "ck3", o);
    CHECK_THROWS_WITH(w.add({"b", pq::dtype::U8, {4}}, std::span(b).first(4)), Catch::Contains("expects \"a\" U8 [4] next"));
    pq::checkpoint_writer w2(d / "ck4", o);
    w2.add({"a", pq::dtype::U8, {4}}, std::span(b).first(4));
    CHECK_THROWS_WITH(w2.finish(), Catch::Contains("after 1 of the 2 planned tensors"));
  }
  CHECK(fs::is_empty(d / "ck3"));
  CHECK(fs::is_empty(d / "ck4"));
  o.plan = {{"a", pq::dtype::U8, {4}}, {"a", pq::dtype::U8, {4}}};
  CHECK_THROWS_WITH(pq::checkpoint_writer(d / "ck5", o), Catch::Contains("plan lists tensor \"a\" twice"));
  o.plan = {{"a", pq::dtype::F4, {3}}};
  CHECK_THROWS_WITH(pq::checkpoint_writer(d / "ck6", o), Catch::Contains("not a whole number of bytes"));
}

TEST_CASE("broken sharded checkpoints give clear errors") {
  temp_dir d("ckbad");
  auto b = random_bytes(16, 11);
  pq::checkpoint_writer_options o;
  o.sync = false;
  o.max_shard_bytes = 8;
  {
    pq::checkpoint_writer w(d / "ck", o);
    w.add({"a", pq::dtype::U8, {8}}, std::span(b).first(8));     // shard 1
    w.add({"b", pq::dtype::U8, {4}}, std::span(b).subspan(8, 4));  // shard 2
    w.add({"c", pq::dtype::U8, {4}}, std::span(b).subspan(12));    // shard 2
    w.finish();
  }
  const fs::path idx = d / "ck" / "model.safetensors.index.json";
  const std::string good = read_all(idx);
  auto with_index = [&](const std::string& text) {
    std::ofstream(idx, std::ios::binary) << text;
  };
  with_index("{\"weight_map\": ");
  CHECK_THROWS_WITH(pq::checkpoint(d / "ck"), Catch::Contains("model.safetensors.index.json: malformed JSON"));
  with_index("[]");
  CHECK_THROWS_WITH(pq::checkpoint(d / "ck"), Catch::Contains("index is not a JSON object"));
  with_index("{\"metadata\": {}}");
  CHECK_THROWS_WITH(pq::checkpoint(d / "ck"), Catch::Contains("index has no \"weight_map\" object"));
  with_index(R"({"weight_map": {"a": 3}})");
  CHECK_THROWS_WITH(pq::checkpoint(d / "ck"), Catch::Contains("weight_map entry for \"a\" is not a file name"));
  with_index(R"({"weight_map": {"a": "../x.safetensors"}})");
  CHECK_THROWS_WITH(pq::checkpoint(d / "ck"), Catch::Contains("not a file in this folder"));
  with_index(R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "c": "model-00009-of-00009.safetensors"}})");
  CHECK_THROWS_WITH(pq::checkpoint(d / "ck"), Catch::Contains("shard \"model-00009-of-00009.safetensors\" (holding \"c\") is missing"));
  // listed in the index, absent from its shard: found when the shard is opened
  with_index(R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "z": "model-00001-of-00002.safetensors"}})");
  {
    pq::checkpoint ck(d / "ck");
    CHECK(ck.tensor("a").bytes.size() == 8);
    CHECK_THROWS_WITH(ck.tensor("z"), Catch::Contains("model-00001-of-00002.safetensors: tensor \"z\" is listed in") &&
                                          Catch::Contains("but not in this shard"));
  }
  // a tensor in a shard the index does not list (validate checks both ways)
  with_index(R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  CHECK_THROWS_WITH(pq::checkpoint(d / "ck").validate(), Catch::Contains("tensor \"c\" is not listed in"));
  with_index(R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}})");
  CHECK_THROWS_WITH(pq::checkpoint(d / "ck").validate(), Catch::Contains("model-00002-of-00002.safetensors: tensor \"b\" is listed in"));
  // a corrupt shard surfaces with the shard's name when first touched
  with_index(good);
  pq::checkpoint(d / "ck").validate();
  {
    std::ofstream(d / "ck" / "model-00002-of-00002.safetensors", std::ios::binary) << "garbage!";
    pq::checkpoint ck(d / "ck");
    CHECK(ck.tensor("a").bytes.size() == 8);
    CHECK_THROWS_WITH(ck.tensor("b"), Catch::Contains("model-00002-of-00002.safetensors: header length"));
  }
  CHECK_THROWS_WITH(pq::checkpoint(d / "nothing"), Catch::Contains("no such file or directory"));
  fs::create_directories(d / "emptydir");
  CHECK_THROWS_WITH(pq::checkpoint(d / "emptydir"), Catch::Contains("no model.safetensors.index.json and no .safetensors file"));
}

TEST_CASE("atomic_file replaces the target only on commit") {
  temp_dir d("atomic");
  pq::write_file_atomic(d / "x.txt", "old", false);
  {
    pq::atomic_file f(d / "x.txt", false);
    f.write(std::string_view("new"));
  }  // not committed
  CHECK(read_all(d / "x.txt") == "old");
  {
    pq::atomic_file f(d / "x.txt", false);
    f.write(std::string_view("new"));
    f.commit();
  }
  CHECK(read_all(d / "x.txt") == "new");
  auto it = fs::directory_iterator(d.path);
  CHECK(std::distance(it, fs::directory_iterator{}) == 1);
}
