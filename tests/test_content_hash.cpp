// io/content_hash.hpp: what keys the pipeline's stages. The same bytes give the same value
// (however they are fed: in one piece, or through a file read in pieces); any change of a
// byte, a length, a file name or a file's place in a folder changes it.
#include <catch2/catch.hpp>

#include <prismaquant/io/content_hash.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace fs = std::filesystem;
using prismaquant::content_hasher;

namespace {

std::string text_hash(const std::string& s) {
  content_hasher h;
  h.add(s);
  return h.hex();
}

void put(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("content hash: deterministic, sensitive to every byte and to framing") {
  CHECK(text_hash("abc").size() == 16);
  CHECK(text_hash("abc") == text_hash("abc"));
  CHECK(text_hash("abc") != text_hash("abd"));
  CHECK(text_hash("") != text_hash(std::string(1, '\0')));
  content_hasher a, b;
  a.add("ab");
  a.add("c");
  b.add("a");
  b.add("bc");
  CHECK(a.hex() != b.hex());  // length-prefixed pieces
  // every byte position of a long text matters, across the 32-byte rounds and the tail
  std::mt19937 rng(7);
  std::string s(1000, ' ');
  for (auto& c : s) c = static_cast<char>(rng());
  const std::string base = text_hash(s);
  for (std::size_t i : {0u, 1u, 31u, 32u, 63u, 500u, 991u, 992u, 999u}) {
    std::string t = s;
    t[i] = static_cast<char>(t[i] ^ 1);
    INFO(i);
    CHECK(text_hash(t) != base);
  }
  // value() does not finish the hasher: more input may follow
  content_hasher c;
  c.add("x");
  const auto v1 = c.value();
  CHECK(c.value() == v1);
  c.add("y");
  CHECK(c.value() != v1);
}

TEST_CASE("content hash: files read in pieces, folders by sorted relative path") {
  const fs::path dir = fs::path(PQ_BUILD_DIR) / "test_content_hash";
  fs::remove_all(dir);
  // a file larger than one 4 MiB read hashes as its size and bytes in one piece (what add()
  // of the same text feeds): reading in pieces changes nothing
  std::string big((9u << 20) + 13, '\0');
  std::mt19937 rng(11);
  for (auto& c : big) c = static_cast<char>(rng());
  put(dir / "big.bin", big);
  content_hasher f, g;
  f.add_file(dir / "big.bin");
  g.add(big);
  CHECK(f.hex() == g.hex());

  put(dir / "m" / "a.json", "{}");
  put(dir / "m" / "sub" / "b.bin", "xyz");
  auto folder = [&] {
    content_hasher h;
    h.add_folder(dir / "m");
    return h.hex();
  };
  const std::string v = folder();
  CHECK(folder() == v);
  put(dir / "m" / "sub" / "b.bin", "xyw");
  CHECK(folder() != v);
  put(dir / "m" / "sub" / "b.bin", "xyz");
  CHECK(folder() == v);
  fs::rename(dir / "m" / "a.json", dir / "m" / "c.json");  // a renamed file
  CHECK(folder() != v);
  fs::rename(dir / "m" / "c.json", dir / "m" / "a.json");
  CHECK(folder() == v);
  put(dir / "m" / "new.txt", "");  // an added (empty) file
  CHECK(folder() != v);
  CHECK_THROWS_WITH(content_hasher{}.add_file(dir / "missing"), Catch::Contains("missing"));
  fs::remove_all(dir);
}
