#pragma once
// Public value types of the cost pass, shared by the CPU engine (cost/engine.hpp) and the
// CUDA dispatcher (kernels/cost.cuh): jobs in, per-(tensor, format) statistics out.
// Host-only, but free of xsimd/Hana so nvcc compiles it.
#include <prismaquant/cost/plain_weight.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/format.hpp>
#include <prismaquant/formats/weight_view.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace prismaquant::cost {

class thread_pool;

// ---------------------------------------------------------------- public types
struct job {
  formats::weight_view weight;
  const float* act = nullptr;  // [cols] per-input-column weights, needed for stat::act_sse
  // Tensor-level stats to prepare the formats with, e.g. formats::measure_group({w1, w3}) so
  // fused siblings share NVFP4's global scale. Empty: the weight's own amax and dtype.
  std::optional<formats::tensor_stats> stats{};
  // Fused siblings without given stats: jobs of one evaluate() call with the same group >= 0
  // share the merge (formats::merge) of their own tensor stats — what measure_group gives,
  // taken from the pass's own pre-pass, so no extra read of the weights. -1: no group.
  std::int32_t group = -1;
};

// The one rule for the stats job t's formats are prepared with, for CPU jobs and CUDA
// device_jobs alike: the caller's job.stats if set; else, in a group (group >= 0), the merge
// (formats::merge) of the own stats of every job of that group without stats, in job order;
// else its own. own[u] must hold job u's own (pre-pass) stats for every job that rule reads.
template <class Job>
bool in_group_of(const Job& a, const Job& b) noexcept {
  return a.group >= 0 && a.group == b.group && !a.stats && !b.stats;
}
template <class Job>
formats::tensor_stats job_stats(std::span<const Job> jobs, std::span<const formats::tensor_stats> own, std::size_t t) {
  if (jobs[t].stats) return *jobs[t].stats;
  if (jobs[t].group < 0) return own[t];
  std::optional<formats::tensor_stats> m;
  for (std::size_t u = 0; u < jobs.size(); ++u)
    if (in_group_of(jobs[u], jobs[t])) m = m ? formats::merge(*m, own[u]) : own[u];
  return *m;
}

struct format_cost {
  std::string_view format;
  std::int64_t elements = 0;
  double sse = std::numeric_limits<double>::quiet_NaN();      // stat::sse
  double act_sse = std::numeric_limits<double>::quiet_NaN();  // stat::act_sse
  float max_abs = std::numeric_limits<float>::quiet_NaN();    // stat::max_abs
  std::vector<double> row_sse;                                // stat::row_sse: [rows]
  double mse() const noexcept { return sse / static_cast<double>(elements); }
};

struct tensor_cost {
  std::string name;
  std::vector<format_cost> formats;  // in the list's order
  const format_cost& operator[](std::string_view fmt) const {
    for (const auto& f : formats)
      if (f.format == fmt) return f;
    throw error(name, "no cost for format " + std::string(fmt));
  }
};

struct options {
  thread_pool* pool = nullptr;  // null: thread_pool::shared()
  std::int64_t rows_per_task = 16;  // work unit of the thread pool (results do not depend on it)
};

// From the library's host view (which names the tensor for errors).
inline plain_weight to_plain(const formats::weight_view& v) {
  v.validate();
  plain_weight p;
  p.data = v.data;
  p.rows = v.rows;
  p.cols = v.cols;
  p.type = to_weight_dtype(v.type, v.scale_inv != nullptr, std::string(v.name));
  p.scale_inv = v.scale_inv;
  p.fp8_block = v.scale_block;
  return p;
}

}  // namespace prismaquant::cost
