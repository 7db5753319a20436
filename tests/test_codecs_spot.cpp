// Spot values of the element codecs (docs/codecs.md lists them with their sources), checked at
// compile time.
#include <prismaquant/core/codecs.hpp>

#include <catch2/catch.hpp>

namespace pq = prismaquant;

static_assert(pq::fp8_e4m3::from_float(1.0f).bits() == 0x38);
static_assert(pq::fp8_e4m3::from_float(0.25f).bits() == 0x28);
static_assert(pq::fp8_e4m3::from_float(3.5f).bits() == 0x46);
static_assert(pq::fp8_e4m3::from_float(17.0f).bits() == 0x58);
static_assert(pq::fp8_e4m3::from_float(19.0f).bits() == 0x5A);
static_assert(pq::fp8_e4m3::from_float(240.0f).bits() == 0x77);
static_assert(pq::fp8_e4m3::from_float(0.1f).bits() == 0x1D);
static_assert(pq::fp8_e4m3::from_float(0x1p-10f).bits() == 0x00);
static_assert(pq::fp8_e4m3::from_float(1.5f * 0x1p-9f).bits() == 0x02);
static_assert(pq::fp8_e4m3::from_float(464.0f).bits() == 0x7E);
static_assert(pq::fp8_e4m3::from_float(-448.0f).bits() == 0xFE);
static_assert(pq::fp8_e4m3::from_float_nonsaturating(464.0f).bits() == 0x7E);  // tie to even: 448
static_assert(pq::fp8_e4m3::from_float_nonsaturating(465.0f).bits() == 0x7F);
static_assert(pq::fp8_e4m3::from_bits(0x7E).to_float() == 448.0f);
static_assert(pq::fp8_e5m2::from_float(1.0f).bits() == 0x3C);
static_assert(pq::fp8_e5m2::from_bits(0x7B).to_float() == 57344.0f);
static_assert(pq::e8m0::from_float(1.0f).bits() == 0x7F);
static_assert(pq::fp4_e2m1::from_float(0.25f).bits() == 0x0);
static_assert(pq::fp4_e2m1::from_float(0.75f).bits() == 0x2);
static_assert(pq::fp4_e2m1::from_float(2.5f).bits() == 0x4);
static_assert(pq::fp4_e2m1::from_float(5.0f).bits() == 0x6);
static_assert(pq::fp4_e2m1::from_float(-7.0f).bits() == 0xF);
static_assert(pq::fp4_e2m1::from_bits(0x7).to_float() == 6.0f);
static_assert(pq::fp6_e2m3::from_bits(0x1F).to_float() == 7.5f);
static_assert(pq::fp6_e3m2::from_bits(0x1F).to_float() == 28.0f);
static_assert(pq::fp6_e2m3::from_bits(0x01).to_float() == 0.125f);
static_assert(pq::fp6_e3m2::from_bits(0x01).to_float() == 0.0625f);
static_assert(pq::bf16::from_float(1.0f).bits() == 0x3F80);
static_assert(pq::fp16::from_float(1.0f).bits() == 0x3C00);
static_assert(pq::fp16::from_float(65520.0f).bits() == 0x7BFF);
static_assert(pq::fp16::from_float_nonsaturating(65520.0f).bits() == 0x7C00);

// NaN and e8m0 choices (docs/codecs.md); test_codecs_nvidia / the ml_dtypes live test check
// them against the references.
static_assert(pq::fp8_e5m2::from_float(__builtin_nanf("")).bits() == 0x7F);          // as NVIDIA
static_assert(pq::fp8_e5m2::from_float_nonsaturating(-__builtin_nanf("")).bits() == 0xFE);  // as ml_dtypes
static_assert(pq::fp4_e2m1::from_float(-__builtin_nanf("")).bits() == 0x7);          // as NVIDIA
static_assert(pq::bf16::from_float(__builtin_nanf("")).bits() == 0x7FFF);
static_assert(pq::e8m0::from_float(0.0f).bits() == 0x00);
static_assert(pq::e8m0::from_float(1.5f).bits() == 0x80 && pq::e8m0::from_float(3.0f).bits() == 0x80);  // ties to even
static_assert(pq::e8m0::from_float_nonsaturating(0.0f).bits() == 0xFF);
static_assert(pq::e8m0::from_float_nonsaturating(3.0f).bits() == 0x81);  // ml_dtypes: ties up
static_assert(pq::e8m0::from_float(-1.0f).bits() == 0xFF);

TEST_CASE("negative values that round to zero keep their sign") {
  CHECK(pq::fp4_e2m1::from_float(-0.1f).bits() == 0x8);
  CHECK(pq::fp8_e4m3::from_float(-1e-6f).bits() == 0x80);
}
