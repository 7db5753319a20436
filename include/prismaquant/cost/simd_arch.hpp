#pragma once
// The instruction sets the host SIMD cost pass is built for, and the few steps that need an
// instruction xsimd 8 does not expose. Everything else in cost/simd*.hpp is plain xsimd code,
// written once for any batch width.
//
// Architectures (xsimd names): the pass is a template on A and runs at every width:
//   sse2 (x86-64 baseline) and sse4_2 (x86-64-v2)   4 floats
//   fma3<avx2> (x86-64-v3)                          8 floats
//   avx512bw (x86-64-v4)                           16 floats
//   neon64 (aarch64)                                4 floats
//   simd::scalar                                    1 (cost/row_scalar.hpp): the definition
//                                                   every width reproduces bit for bit
// simd::default_arch is the best one this translation unit is compiled for (xsimd's
// default_arch, or scalar where xsimd has none or only 32-bit ARM NEON, whose division is
// not IEEE-exact).
//
// Arch-tagged helpers: each has a generic twin in simd::generic (same result, xsimd or scalar
// code), and an overload for a family of architectures, compiled only where that family's
// instructions are enabled; tests/test_cost_isa.cpp checks every overload the build has
// against its twin.
//   fence(v)                 the value as computed: an optimisation barrier (see below)
//   divide(a, b)             a / b, correctly rounded (xsimd 8's AArch64 kernel divides by a
//                            refined reciprocal estimate, which is not: the NEON overload is fdiv)
//   hmin(v), hmax(v)         horizontal min / max
//   add_widened(acc, v)      acc[l] += double(v[l]) for every lane
//   lanes8(v)                the canonical 32 -> 8 float reduction of a chunk's partial sums
//   block_ranges16(x, n,..)  min / max of n 16-element blocks, from {0, 0}
//   widen_f16(p, n, out)     f16 -> f32
//
// fence: GCC contracts a * b + c into one FMA across statements (-ffp-contract=fast is its
// default outside ISO C), so x - q * s or acc + e * e would round once where the formats'
// definition rounds twice, and only on targets with FMA: the results would depend on the ISA.
// An empty asm statement that takes the register as an in/out operand makes the value opaque
// to the optimiser without any instruction: the product is rounded to float32 first. This is
// the register-barrier form for x86 ("x"/"v" registers) and AArch64 ("w"); the generic twin
// passes the lanes through memory the same way ("m"). Compilers other than GCC/Clang get the
// value unchanged: they do not contract across statements unless told to.
#include <prismaquant/core/codecs.hpp>

#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <type_traits>

#if XSIMD_WITH_SSE2 || XSIMD_WITH_AVX || XSIMD_WITH_AVX512F
#include <immintrin.h>
#endif
#if XSIMD_WITH_NEON64
#include <arm_neon.h>
#endif

namespace prismaquant::cost::simd {

template <class A>
using vf = xsimd::batch<float, A>;
template <class A>
using vu = xsimd::batch<std::uint32_t, A>;
template <class A>
using vi = xsimd::batch<std::int32_t, A>;
template <class A>
inline constexpr int width_of = static_cast<int>(vf<A>::size);

// The scalar "architecture": one float per step, no xsimd (cost/row_scalar.hpp).
struct scalar {
  static constexpr const char* name() noexcept { return "scalar"; }
};

// Families of xsimd architectures that share a register file (xsimd's arch types exist
// whether or not their instructions are enabled).
template <class A>
inline constexpr bool is_sse_family = std::is_base_of_v<xsimd::sse2, A>;  // sse2 .. sse4_2, fma3<sse4_2>, fma4
template <class A>
inline constexpr bool is_avx_family = std::is_base_of_v<xsimd::avx, A>;  // avx, avx2, fma3<avx>, fma3<avx2>
template <class A>
inline constexpr bool is_avx512_family = std::is_base_of_v<xsimd::avx512f, A>;
template <class A>
inline constexpr bool is_neon64_family = std::is_base_of_v<xsimd::neon64, A>;
// The pass runs on these: exact IEEE float32 arithmetic (division included) in every lane.
template <class A>
inline constexpr bool exact_arch =
    is_sse_family<A> || is_avx_family<A> || is_avx512_family<A> || is_neon64_family<A>;

using default_arch = std::conditional_t<exact_arch<xsimd::default_arch>, xsimd::default_arch, scalar>;

// ---- ISA levels --------------------------------------------------------------------------
// One xsimd architecture per level: the x86-64 micro-architecture levels and aarch64.
// level_archs<Fn>(f) calls f.template operator()<A>() for each level compiled into this
// translation unit (widest first; first of all the default architecture if it is none of them),
// then for scalar.
template <class A>
constexpr const char* level_name() noexcept {
  if constexpr (std::is_same_v<A, scalar>) return "scalar";
  else if constexpr (std::is_same_v<A, xsimd::sse2>) return "x86-64 (SSE2)";
  else if constexpr (std::is_same_v<A, xsimd::sse4_2>) return "x86-64-v2 (SSE4.2)";
  else if constexpr (std::is_same_v<A, xsimd::fma3<xsimd::avx2>>) return "x86-64-v3 (AVX2)";
  else if constexpr (std::is_same_v<A, xsimd::avx512bw>) return "x86-64-v4 (AVX-512)";
  else if constexpr (std::is_same_v<A, xsimd::neon64>) return "aarch64 (NEON)";
  else return A::name();
}

// Whether this CPU runs A's instructions (xsimd's cpuid; AArch64 always has NEON).
template <class A>
inline bool cpu_has() noexcept {
  const auto c = xsimd::available_architectures();
  if constexpr (std::is_same_v<A, scalar>) return true;
  else if constexpr (std::is_same_v<A, xsimd::sse2>) return c.sse2;
  else if constexpr (std::is_same_v<A, xsimd::sse4_2>) return c.sse4_2;
  else if constexpr (std::is_same_v<A, xsimd::fma3<xsimd::avx2>>) return c.fma3_avx2;
  else if constexpr (std::is_same_v<A, xsimd::avx512bw>) return c.avx512f && c.avx512cd && c.avx512dq && c.avx512bw;
  else if constexpr (std::is_same_v<A, xsimd::neon64>) return c.neon64;
  else return A::version() <= c.best;
}

template <class A>
inline constexpr bool is_level_arch =
    std::is_same_v<A, scalar> || std::is_same_v<A, xsimd::sse2> || std::is_same_v<A, xsimd::sse4_2> ||
    std::is_same_v<A, xsimd::fma3<xsimd::avx2>> || std::is_same_v<A, xsimd::avx512bw> || std::is_same_v<A, xsimd::neon64>;

template <class Fn>
inline void level_archs(Fn&& f) {
  // a build between levels (say -mavx2 without -mfma): its default architecture too
  if constexpr (!is_level_arch<default_arch>) f.template operator()<default_arch>();
#if XSIMD_WITH_AVX512BW
  f.template operator()<xsimd::avx512bw>();
#endif
#if XSIMD_WITH_AVX2 && XSIMD_WITH_FMA3_AVX2
  f.template operator()<xsimd::fma3<xsimd::avx2>>();
#endif
#if XSIMD_WITH_SSE4_2
  f.template operator()<xsimd::sse4_2>();
#endif
#if XSIMD_WITH_SSE2
  f.template operator()<xsimd::sse2>();
#endif
#if XSIMD_WITH_NEON64
  f.template operator()<xsimd::neon64>();
#endif
  f.template operator()<scalar>();
}

// ---- generic twins -----------------------------------------------------------------------
namespace generic {

template <class A>
inline vf<A> fence(vf<A> v) noexcept {
#if defined(__GNUC__)
  alignas(64) float t[width_of<A>];
  v.store_aligned(t);
  asm("" : "+m"(t));
  return vf<A>::load_aligned(t);
#else
  return v;
#endif
}

// Lane by lane, in scalar IEEE arithmetic.
template <class A>
inline vf<A> divide(vf<A> a, vf<A> b) noexcept {
  alignas(64) float s[width_of<A>], t[width_of<A>];
  a.store_aligned(s);
  b.store_aligned(t);
  for (int k = 0; k < width_of<A>; ++k) s[k] = s[k] / t[k];
  return vf<A>::load_aligned(s);
}

template <class A>
inline float hmax(vf<A> x) noexcept {
  alignas(64) float t[width_of<A>];
  x.store_aligned(t);
  float m = t[0];
  for (int k = 1; k < width_of<A>; ++k) m = t[k] > m ? t[k] : m;
  return m;
}
template <class A>
inline float hmin(vf<A> x) noexcept {
  alignas(64) float t[width_of<A>];
  x.store_aligned(t);
  float m = t[0];
  for (int k = 1; k < width_of<A>; ++k) m = t[k] < m ? t[k] : m;
  return m;
}

template <class A>
inline void add_widened(double* acc, vf<A> v) noexcept {
  alignas(64) float t[width_of<A>];
  v.store_aligned(t);
  for (int k = 0; k < width_of<A>; ++k) acc[k] += static_cast<double>(t[k]);
}

// The canonical reduction of a chunk's 32 per-position float partials p[j] (the chunk's
// vectors in order: lane l of vector v is position v * W + l) to 8 lanes:
//   q[l] = (p[l] + p[l + 8]) + (p[l + 16] + p[l + 24]),  l = 0..7
// written to out[0..8).
template <class A>
inline void lanes8(const vf<A>* p, float* out) noexcept {
  alignas(64) float t[32];
  for (int v = 0; v < 32 / width_of<A>; ++v) p[v].store_aligned(t + v * width_of<A>);
  for (int l = 0; l < 8; ++l) out[l] = (t[l] + t[l + 8]) + (t[l + 16] + t[l + 24]);
}

// lo[b] = min(0, min of x[16b .. 16b+16)), hi[b] = max(0, max of ...) for b < n (ranges start at
// {0, 0}, like formats::block_range; a zero comes back +0).
template <class A>
inline void block_ranges16(const float* x, std::int64_t n, float* lo, float* hi) noexcept;

inline void widen_f16(const std::uint16_t* p, std::int64_t n, float* out) noexcept {
  for (std::int64_t j = 0; j < n; ++j) out[j] = fp16::from_bits(p[j]).to_float();
}

}  // namespace generic

// ---- the arch-tagged overloads -------------------------------------------------------------
// fence
template <class A>
inline vf<A> fence(vf<A> v) noexcept {
  return generic::fence(v);
}
#if defined(__GNUC__) && (XSIMD_WITH_SSE2 || XSIMD_WITH_AVX || XSIMD_WITH_AVX512F)
template <class A>
  requires(is_sse_family<A> || is_avx_family<A> || is_avx512_family<A>)
inline vf<A> fence(vf<A> v) noexcept {
  typename vf<A>::register_type r = v;
#if XSIMD_WITH_AVX512F
  asm("" : "+v"(r));  // any of the 32 EVEX registers
#else
  asm("" : "+x"(r));
#endif
  return r;
}
#endif
#if defined(__GNUC__) && XSIMD_WITH_NEON64
template <class A>
  requires is_neon64_family<A>
inline vf<A> fence(vf<A> v) noexcept {
  float32x4_t r = v;
  asm("" : "+w"(r));
  return r;
}
#endif

// divide: on x86 xsimd's operator/ is divps (exact)
template <class A>
inline vf<A> divide(vf<A> a, vf<A> b) noexcept {
  return generic::divide(a, b);
}
#if XSIMD_WITH_SSE2 || XSIMD_WITH_AVX || XSIMD_WITH_AVX512F
template <class A>
  requires(is_sse_family<A> || is_avx_family<A> || is_avx512_family<A>)
inline vf<A> divide(vf<A> a, vf<A> b) noexcept {
  return a / b;
}
#endif
#if XSIMD_WITH_NEON64
template <class A>
  requires is_neon64_family<A>
inline vf<A> divide(vf<A> a, vf<A> b) noexcept {
  return vdivq_f32(a, b);
}
#endif

// hmin / hmax
template <class A>
inline float hmax(vf<A> x) noexcept {
  return generic::hmax(x);
}
template <class A>
inline float hmin(vf<A> x) noexcept {
  return generic::hmin(x);
}
#if XSIMD_WITH_SSE2
template <class A>
  requires is_sse_family<A>
inline float hmax(vf<A> x) noexcept {
  const __m128 v = x;
  const __m128 m = _mm_max_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}
template <class A>
  requires is_sse_family<A>
inline float hmin(vf<A> x) noexcept {
  const __m128 v = x;
  const __m128 m = _mm_min_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));
}
#endif
#if XSIMD_WITH_AVX
template <class A>
  requires is_avx_family<A>
inline float hmax(vf<A> x) noexcept {
  const __m256 v = x;
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
template <class A>
  requires is_avx_family<A>
inline float hmin(vf<A> x) noexcept {
  const __m256 v = x;
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)));
}
#endif
#if XSIMD_WITH_AVX512F
template <class A>
  requires is_avx512_family<A>
inline float hmax(vf<A> x) noexcept {
  return _mm512_reduce_max_ps(x);
}
template <class A>
  requires is_avx512_family<A>
inline float hmin(vf<A> x) noexcept {
  return _mm512_reduce_min_ps(x);
}
#endif
#if XSIMD_WITH_NEON64
template <class A>
  requires is_neon64_family<A>
inline float hmax(vf<A> x) noexcept {
  return vmaxvq_f32(x);
}
template <class A>
  requires is_neon64_family<A>
inline float hmin(vf<A> x) noexcept {
  return vminvq_f32(x);
}
#endif

// add_widened
template <class A>
inline void add_widened(double* acc, vf<A> v) noexcept {
  generic::add_widened(acc, v);
}
#if XSIMD_WITH_SSE2
template <class A>
  requires is_sse_family<A>
inline void add_widened(double* acc, vf<A> v) noexcept {
  const __m128 f = v;
  _mm_storeu_pd(acc, _mm_add_pd(_mm_loadu_pd(acc), _mm_cvtps_pd(f)));
  _mm_storeu_pd(acc + 2, _mm_add_pd(_mm_loadu_pd(acc + 2), _mm_cvtps_pd(_mm_movehl_ps(f, f))));
}
#endif
#if XSIMD_WITH_AVX
template <class A>
  requires is_avx_family<A>
inline void add_widened(double* acc, vf<A> v) noexcept {
  const __m256 f = v;
  _mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), _mm256_cvtps_pd(_mm256_castps256_ps128(f))));
  _mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1))));
}
#endif
#if XSIMD_WITH_AVX512F
template <class A>
  requires is_avx512_family<A>
inline void add_widened(double* acc, vf<A> v) noexcept {
  const __m512 f = v;
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1));
  _mm512_storeu_pd(acc, _mm512_add_pd(_mm512_loadu_pd(acc), _mm512_cvtps_pd(_mm512_castps512_ps256(f))));
  _mm512_storeu_pd(acc + 8, _mm512_add_pd(_mm512_loadu_pd(acc + 8), _mm512_cvtps_pd(hi)));
}
#endif
#if XSIMD_WITH_NEON64
template <class A>
  requires is_neon64_family<A>
inline void add_widened(double* acc, vf<A> v) noexcept {
  const float32x4_t f = v;
  vst1q_f64(acc, vaddq_f64(vld1q_f64(acc), vcvt_f64_f32(vget_low_f32(f))));
  vst1q_f64(acc + 2, vaddq_f64(vld1q_f64(acc + 2), vcvt_high_f64_f32(f)));
}
#endif

// lanes8: the canonical 32 -> 8 reduction (generic::lanes8) as vertical adds at 4 and 8 lanes;
// at 16 lanes, 256-bit halves. Then added to acc[0..8) in double.
template <class A>
inline void add_lanes8(double* acc, const vf<A>* p) noexcept {
  constexpr int W = width_of<A>;
  if constexpr (W == 4 || W == 8) {
    constexpr int n = 8 / W, step = 8 / W;  // vectors of 8 positions; v, v + 8/W, v + 16/W, v + 24/W
    for (int u = 0; u < n; ++u)
      add_widened(acc + u * W, (p[u] + p[u + step]) + (p[u + 2 * step] + p[u + 3 * step]));
  } else {
    alignas(64) float q[8];
    generic::lanes8(p, q);
    for (int l = 0; l < 8; ++l) acc[l] += static_cast<double>(q[l]);
  }
}
#if XSIMD_WITH_AVX512F
template <class A>
  requires is_avx512_family<A>
inline void add_lanes8(double* acc, const vf<A>* p) noexcept {
  const __m512 a = p[0], b = p[1];  // positions 0..15, 16..31
  auto halves = [](__m512 v) {      // lane l: p[l] + p[l + 8]
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  };
  const __m256 q = _mm256_add_ps(halves(a), halves(b));
  _mm512_storeu_pd(acc, _mm512_add_pd(_mm512_loadu_pd(acc), _mm512_cvtps_pd(q)));
}
#endif

// block_ranges16
template <class A>
inline void generic::block_ranges16(const float* x, std::int64_t n, float* lo, float* hi) noexcept {
  constexpr int W = width_of<A>;
  for (std::int64_t b = 0; b < n; ++b) {
    vf<A> l = vf<A>::load_unaligned(x + b * 16), h = l;
    for (int v = 1; v < 16 / W; ++v) {
      const vf<A> t = vf<A>::load_unaligned(x + b * 16 + v * W);
      l = xsimd::min(l, t);
      h = xsimd::max(h, t);
    }
    const float mn = hmin(l), mx = hmax(h);
    lo[b] = mn < 0.0f ? mn : 0.0f;
    hi[b] = mx > 0.0f ? mx : 0.0f;
  }
}
template <class A>
inline void block_ranges16(const float* x, std::int64_t n, float* lo, float* hi) noexcept {
  generic::block_ranges16<A>(x, n, lo, hi);
}
#if XSIMD_WITH_AVX
namespace detail {
// Lane j of the result = the min (Min) or max of v[j]'s eight lanes: a shuffle tree of 7
// min/max and 14 shuffles for eight reductions.
template <bool Min>
inline __m256 fold8(const __m256* v) noexcept {
  auto op = [](__m256 a, __m256 b) { return Min ? _mm256_min_ps(a, b) : _mm256_max_ps(a, b); };
  __m256 p[4];
  for (int k = 0; k < 4; ++k) {  // [a0 b0 a1 b1 | a4 b4 a5 b5] op [a2 b2 a3 b3 | a6 b6 a7 b7]
    const __m256 a = v[2 * k], b = v[2 * k + 1];
    p[k] = op(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
  }
  __m256 q[2];
  for (int k = 0; k < 2; ++k)  // four vectors' partials per 128-bit half
    q[k] = op(_mm256_shuffle_ps(p[2 * k], p[2 * k + 1], 0x44), _mm256_shuffle_ps(p[2 * k], p[2 * k + 1], 0xEE));
  return op(_mm256_permute2f128_ps(q[0], q[1], 0x20), _mm256_permute2f128_ps(q[0], q[1], 0x31));
}
}  // namespace detail
// Eight blocks at a time, with 256-bit AVX (also on AVX-512 machines): each block's two halves
// folded to one vector, then the eight folded into one vector whose lane j is block j's min
// (max) — no per-block horizontal reduction.
template <class A>
  requires(is_avx_family<A> || is_avx512_family<A>)
inline void block_ranges16(const float* x, std::int64_t n, float* lo, float* hi) noexcept {
  std::int64_t b0 = 0;
  const __m256 zero = _mm256_setzero_ps();
  for (; b0 + 8 <= n; b0 += 8) {
    __m256 l[8], h[8];
    for (int j = 0; j < 8; ++j) {
      const __m256 a = _mm256_loadu_ps(x + (b0 + j) * 16), c = _mm256_loadu_ps(x + (b0 + j) * 16 + 8);
      l[j] = _mm256_min_ps(a, c);
      h[j] = _mm256_max_ps(a, c);
    }
    // min(v, 0) / max(v, 0) with the second operand returned on equality: a zero comes back +0
    _mm256_storeu_ps(lo + b0, _mm256_min_ps(detail::fold8<true>(l), zero));
    _mm256_storeu_ps(hi + b0, _mm256_max_ps(detail::fold8<false>(h), zero));
  }
  const std::int64_t rest = n - b0;
  if (rest > 0) {
    if constexpr (is_avx512_family<A>) generic::block_ranges16<xsimd::avx2>(x + b0 * 16, rest, lo + b0, hi + b0);
    else generic::block_ranges16<A>(x + b0 * 16, rest, lo + b0, hi + b0);
  }
}
#endif
#if XSIMD_WITH_NEON64
// Four blocks at a time: each block's four vectors folded to one, then pairwise min/max
// (vpminq/vpmaxq) fold the four into one vector whose lane j is block j's min (max).
template <class A>
  requires is_neon64_family<A>
inline void block_ranges16(const float* x, std::int64_t n, float* lo, float* hi) noexcept {
  std::int64_t b0 = 0;
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (; b0 + 4 <= n; b0 += 4) {
    float32x4_t l[4], h[4];
    for (int j = 0; j < 4; ++j) {
      const float* p = x + (b0 + j) * 16;
      const float32x4_t a = vld1q_f32(p), b = vld1q_f32(p + 4), c = vld1q_f32(p + 8), d = vld1q_f32(p + 12);
      l[j] = vminq_f32(vminq_f32(a, b), vminq_f32(c, d));
      h[j] = vmaxq_f32(vmaxq_f32(a, b), vmaxq_f32(c, d));
    }
    const float32x4_t mn = vpminq_f32(vpminq_f32(l[0], l[1]), vpminq_f32(l[2], l[3]));
    const float32x4_t mx = vpmaxq_f32(vpmaxq_f32(h[0], h[1]), vpmaxq_f32(h[2], h[3]));
    // NEON's min/max order -0 below +0: select against zero so a zero comes back +0
    vst1q_f32(lo + b0, vbslq_f32(vcltq_f32(mn, zero), mn, zero));
    vst1q_f32(hi + b0, vbslq_f32(vcgtq_f32(mx, zero), mx, zero));
  }
  generic::block_ranges16<A>(x + b0 * 16, n - b0, lo + b0, hi + b0);
}
#endif

// widen_f16: out[j] = the f16 p[j] as float32 (exact), j < n.
template <class A>
inline void widen_f16(const std::uint16_t* p, std::int64_t n, float* out) noexcept {
  generic::widen_f16(p, n, out);
}
#if XSIMD_WITH_AVX && defined(__F16C__)
template <class A>
  requires is_avx_family<A>
inline void widen_f16(const std::uint16_t* p, std::int64_t n, float* out) noexcept {
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(out + j, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j))));
  generic::widen_f16(p + j, n - j, out + j);
}
#endif
#if XSIMD_WITH_AVX512F
template <class A>
  requires is_avx512_family<A>
inline void widen_f16(const std::uint16_t* p, std::int64_t n, float* out) noexcept {
  std::int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    _mm512_storeu_ps(out + j, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + j))));
  generic::widen_f16(p + j, n - j, out + j);
}
#endif
#if XSIMD_WITH_NEON64
template <class A>
  requires is_neon64_family<A>
inline void widen_f16(const std::uint16_t* p, std::int64_t n, float* out) noexcept {
  std::int64_t j = 0;
  for (; j + 4 <= n; j += 4) vst1q_f32(out + j, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p + j))));
  generic::widen_f16(p + j, n - j, out + j);
}
#endif

}  // namespace prismaquant::cost::simd
