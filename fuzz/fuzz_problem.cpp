// libFuzzer target: the problem reader (fuzz/json_targets.hpp states the properties; fuzz/run.sh runs it).
#include "json_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { return pq_fuzz::problem(data, size); }
