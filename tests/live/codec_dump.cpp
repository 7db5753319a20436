// Helper for tests/live/test_codecs_ml_dtypes.py (not a test by itself).
//
//   codec_dump TYPE IN.f32 OUT_NONSAT OUT_SAT OUT_DECODED
//
// TYPE is one of fp8_e4m3 fp8_e5m2 fp6_e2m3 fp6_e3m2 fp4_e2m1 e8m0 bf16 fp16. IN.f32 holds
// raw little-endian float32 inputs. Writes, as raw little-endian uint16 per input, the codes
// of from_float_nonsaturating (OUT_NONSAT) and from_float (OUT_SAT), and, as raw float32,
// to_float of every code 0 .. 2^bits-1 (OUT_DECODED).
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/core/error.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace pq = prismaquant;

namespace {

std::vector<char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw pq::error(path, "cannot open for reading");
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const void* data, std::size_t bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!f) throw pq::error(path, "cannot write");
}

template <class T>
void dump(const std::string& in, const std::string& out_nonsat, const std::string& out_sat, const std::string& out_dec) {
  const auto raw = read_all(in);
  if (raw.size() % 4) throw pq::error(in, "size " + std::to_string(raw.size()) + " is not a multiple of 4 (float32)");
  const std::size_t n = raw.size() / 4;
  std::vector<std::uint16_t> ns(n), s(n);
  for (std::size_t i = 0; i < n; ++i) {
    float x;
    std::memcpy(&x, raw.data() + 4 * i, 4);
    ns[i] = static_cast<std::uint16_t>(T::from_float_nonsaturating(x).bits());
    s[i] = static_cast<std::uint16_t>(T::from_float(x).bits());
  }
  write_all(out_nonsat, ns.data(), ns.size() * 2);
  write_all(out_sat, s.data(), s.size() * 2);
  std::vector<float> dec(std::size_t{1} << T::bit_width);
  for (std::size_t b = 0; b < dec.size(); ++b) dec[b] = T::from_bits(static_cast<unsigned>(b)).to_float();
  write_all(out_dec, dec.data(), dec.size() * 4);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 6) throw pq::error("codec_dump", "usage: codec_dump TYPE IN.f32 OUT_NONSAT OUT_SAT OUT_DECODED");
  const std::string t = argv[1];
  if (t == "fp8_e4m3") dump<pq::fp8_e4m3>(argv[2], argv[3], argv[4], argv[5]);
  else if (t == "fp8_e5m2") dump<pq::fp8_e5m2>(argv[2], argv[3], argv[4], argv[5]);
  else if (t == "fp6_e2m3") dump<pq::fp6_e2m3>(argv[2], argv[3], argv[4], argv[5]);
  else if (t == "fp6_e3m2") dump<pq::fp6_e3m2>(argv[2], argv[3], argv[4], argv[5]);
  else if (t == "fp4_e2m1") dump<pq::fp4_e2m1>(argv[2], argv[3], argv[4], argv[5]);
  else if (t == "e8m0") dump<pq::e8m0>(argv[2], argv[3], argv[4], argv[5]);
  else if (t == "bf16") dump<pq::bf16>(argv[2], argv[3], argv[4], argv[5]);
  else if (t == "fp16") dump<pq::fp16>(argv[2], argv[3], argv[4], argv[5]);
  else throw pq::error("codec_dump", "unknown type '" + t + "'");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "codec_dump: %s\n", e.what());
  return 1;
}
