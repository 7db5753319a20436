// The `cost` command's passes on a CUDA GPU (`--device cuda`): the seed formats and every
// default format, as on the CPU (cost_seed.cpp, cost_all.cpp). One instantiation each, always
// with the activation-weighted SSE; without --stats the activation vector is not given, so a
// vector of ones stands in and that statistic is dropped (one kernel to compile, not two).
#include <prismaquant/cli/cost_pass.hpp>

#include <kernels/cost_stream.cuh>
#include <prismaquant/formats/list.hpp>

#include <memory>

namespace prismaquant::tool {

namespace {

using req = cost::request<cost::stat::sse, cost::stat::max_abs, cost::stat::row_sse, cost::stat::act_sse>;

template <class Fmts>
cli::cost_pass device_pass() {
  cli::cost_pass p;
  Fmts::for_each([&]<class F>() { p.formats.emplace_back(F::name); });
  p.batch_bytes = std::size_t{1} << 30;
  auto gpu = std::make_shared<std::unique_ptr<kernels::host_stream>>();  // made on first use
  p.measure = [gpu](std::span<const cost::job> jobs, bool act_sse) {
    if (!*gpu) *gpu = std::make_unique<kernels::host_stream>();
    if (act_sse) return (*gpu)->evaluate<Fmts, req>(jobs);
    std::int64_t cols = 0;
    for (const auto& j : jobs) cols = std::max(cols, j.weight.cols);
    const std::vector<float> ones(static_cast<std::size_t>(cols), 1.0f);
    std::vector<cost::job> with(jobs.begin(), jobs.end());
    for (auto& j : with) j.act = ones.data();
    auto r = (*gpu)->evaluate<Fmts, req>(with);
    for (auto& t : r)
      for (auto& f : t.formats) f.act_sse = std::numeric_limits<double>::quiet_NaN();
    return r;
  };
  return p;
}

}  // namespace

std::vector<cli::cost_pass> device_cost_passes() {
  using seed = formats::format_list<formats::nvfp4, formats::mxfp8_e4m3, formats::fp8_source, formats::bf16_passthrough>;
  return {device_pass<seed>(), device_pass<formats::all_formats>()};
}

}  // namespace prismaquant::tool
