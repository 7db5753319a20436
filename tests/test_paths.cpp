// The one object file that knows the checkout's paths (see test_paths.hpp).
#include "test_paths.hpp"

namespace pq_test {
const char* source_dir() { return PQ_SOURCE_DIR_LITERAL; }
const char* build_dir() { return PQ_BUILD_DIR_LITERAL; }
}  // namespace pq_test
