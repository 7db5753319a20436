#pragma once
// Compiler plumbing shared by every header: host+device marking, bit casts.
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#define PQ_HD __host__ __device__
#else
#define PQ_HD
#endif

namespace prismaquant::detail {

// std::bit_cast is not usable in every nvcc device context; the builtin is (gcc, clang, nvcc).
template <class To, class From>
PQ_HD constexpr To bit_cast(const From& from) noexcept {
  static_assert(sizeof(To) == sizeof(From), "bit_cast needs equal sizes");
  return __builtin_bit_cast(To, from);
}

// For static_assert messages in primary templates that must never be instantiated.
template <class...>
inline constexpr bool dependent_false = false;

}  // namespace prismaquant::detail
