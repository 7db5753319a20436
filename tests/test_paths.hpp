#pragma once
// Where the tests find the sources (golden files) and the build (the prismaquant binary).
// Functions rather than string macros on every test's command line, so that a test object
// file does not depend on the checkout's path and ccache can reuse it across clones.
namespace pq_test {
const char* source_dir();
const char* build_dir();
}  // namespace pq_test
#define PQ_SOURCE_DIR (::pq_test::source_dir())
#define PQ_BUILD_DIR (::pq_test::build_dir())
