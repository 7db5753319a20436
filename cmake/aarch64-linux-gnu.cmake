# Cross-compiling for aarch64 Linux (Grace, DGX Spark) from an x86-64 Debian machine with
# Debian's g++-aarch64-linux-gnu, and running the results under qemu-user-static (both installed
# by scripts/setup.sh --cross). Used by scripts/test-isa.sh:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake ...
#
# The dependencies the tests use are header-only (Boost.Hana, xsimd, xtensor/xtl,
# nlohmann-json, Catch2 2) and their headers do not depend on the architecture, so the build
# machine's /usr/include serves both compilers. It is searched after the cross compiler's own
# system directories (-idirafter), so that the aarch64 C and C++ library headers always win;
# the compiler then reports it as an implicit directory and CMake does not add it again as
# -isystem (which would put it first). The packages' CMake files are found where Debian puts
# them for the build machine.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CXX_FLAGS_INIT "-idirafter /usr/include")
set(CMAKE_C_FLAGS_INIT "-idirafter /usr/include")

# Libraries and the C/C++ runtime from the aarch64 sysroot; programs and package files from the
# build machine.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
execute_process(COMMAND dpkg-architecture -qDEB_BUILD_MULTIARCH OUTPUT_VARIABLE _pq_build_multiarch
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT _pq_build_multiarch)
  set(_pq_build_multiarch x86_64-linux-gnu)
endif()
list(APPEND CMAKE_PREFIX_PATH /usr/lib/${_pq_build_multiarch}/cmake /usr/lib/cmake /usr/share/cmake)
# pkg-config (OpenBLAS) looks only at the target's packages: the build machine's OpenBLAS
# cannot link into aarch64 programs, and without libopenblas-dev:arm64 the build leaves BLAS out.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
# FindBoost: headers only
set(Boost_NO_SYSTEM_PATHS OFF)
set(Boost_INCLUDE_DIR /usr/include)

# Tests run under user-mode QEMU with the cross toolchain's loader and libraries; PQ_EMULATED=1
# tells the exhaustive sweeps to take a sparser sample (QEMU's floating point is slow).
find_program(PQ_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(PQ_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "/usr/bin/env;PQ_EMULATED=1;${PQ_QEMU_AARCH64};-L;/usr/aarch64-linux-gnu")
endif()
