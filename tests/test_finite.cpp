// io/finite.hpp: NaN / Inf found from the stored bits agree with the codecs' decoding (checked
// against ml_dtypes and NVIDIA's headers elsewhere) for every code of every 8- and 16-bit type.
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/io/finite.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

namespace pq = prismaquant;

namespace {

template <class E, class U>
void check_every_code(pq::dtype t) {
  constexpr unsigned n = 1u << (8 * sizeof(U));
  for (unsigned code = 0; code < n; ++code) {
    const float x = E::from_bits(code).to_float();
    U u = static_cast<U>(code);
    const auto bad = pq::find_non_finite(t, std::as_bytes(std::span<const U>(&u, 1)));
    INFO(pq::dtype_name(t) << " code " << code << " = " << x);
    REQUIRE(bad.has_value() == !std::isfinite(x));
    if (bad) CHECK(bad->nan == std::isnan(x));
  }
}

}  // namespace

TEST_CASE("find_non_finite: every code of the 8- and 16-bit float types") {
  check_every_code<pq::fp8_e4m3, std::uint8_t>(pq::dtype::F8_E4M3);
  check_every_code<pq::fp8_e5m2, std::uint8_t>(pq::dtype::F8_E5M2);
  check_every_code<pq::e8m0, std::uint8_t>(pq::dtype::F8_E8M0);
  check_every_code<pq::bf16, std::uint16_t>(pq::dtype::BF16);
  check_every_code<pq::fp16, std::uint16_t>(pq::dtype::F16);
}

TEST_CASE("find_non_finite: float32 and float64, first index, unaligned bytes") {
  std::vector<float> f(10000, 1.5f);
  f[7777] = std::numeric_limits<float>::infinity();
  f[8888] = std::nanf("");
  std::vector<std::byte> raw(1 + f.size() * 4);
  std::memcpy(raw.data() + 1, f.data(), f.size() * 4);  // misaligned on purpose
  auto bad = pq::find_non_finite(pq::dtype::F32, std::span<const std::byte>(raw).subspan(1));
  REQUIRE(bad);
  CHECK(bad->index == 7777);
  CHECK_FALSE(bad->nan);
  std::vector<double> d(5000, -2.0);
  CHECK_FALSE(pq::find_non_finite(pq::dtype::F64, std::as_bytes(std::span<const double>(d))));
  d[4999] = -std::numeric_limits<double>::quiet_NaN();
  bad = pq::find_non_finite(pq::dtype::F64, std::as_bytes(std::span<const double>(d)));
  REQUIRE(bad);
  CHECK(bad->index == 4999);
  CHECK(bad->nan);
  std::vector<std::uint8_t> ints(100, 0xFF);
  CHECK_FALSE(pq::find_non_finite(pq::dtype::U8, std::as_bytes(std::span<const std::uint8_t>(ints))));
  CHECK_FALSE(pq::find_non_finite(pq::dtype::F4, std::as_bytes(std::span<const std::uint8_t>(ints))));
}

TEST_CASE("require_finite names the file, the tensor and the index in its shape") {
  std::vector<std::uint8_t> w(6 * 40, 0x38);
  w[2 * 40 + 17] = 0xFF;  // F8_E4M3 NaN
  const std::uint64_t shape[] = {6, 40};
  pq::tensor_view v{"model.layers.0.self_attn.o_proj.weight", pq::dtype::F8_E4M3, shape,
                    std::as_bytes(std::span<const std::uint8_t>(w)), "model-00001.safetensors"};
  REQUIRE_THROWS_WITH(pq::require_finite(v), "model-00001.safetensors: tensor \"model.layers.0.self_attn.o_proj.weight\": "
                                             "NaN at [2, 17]; quantization needs finite weights");
  w[2 * 40 + 17] = 0x7E;  // 448: finite
  REQUIRE_NOTHROW(pq::require_finite(v));
}
