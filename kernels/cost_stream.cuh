#pragma once
// Host jobs through the device cost pass: weights that live in host memory (a checkpoint's
// mapped shards) are packed into pinned staging memory, copied to the GPU and measured by
// kernels/cost.cuh, in sub-batches of about `sub_batch_bytes`. While one sub-batch is measured
// the next is packed (host threads) and copied (its own stream), so the PCIe copy and the
// page-cache reads hide behind each other and behind the kernels.
//
//   prismaquant::kernels::host_stream gpu;                      // device 0, 2 x 512 MB buffers
//   auto costs = gpu.evaluate<formats::all_formats, Req>(jobs); // same result as cost::evaluate
//
// Fused siblings (jobs with one group >= 0) never straddle two sub-batches. A NaN/Inf found by
// the device pre-pass is reported as the CPU pass reports it: the tensor and the index.
#include <kernels/cost.cuh>

#include <cmath>
#include <cstring>
#include <future>
#include <span>
#include <thread>
#include <vector>

namespace prismaquant::kernels {

class host_stream {
 public:
  explicit host_stream(std::size_t sub_batch_bytes = std::size_t{512} << 20) : cap_(sub_batch_bytes) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) throw error("--device cuda", "no CUDA device found");
    detail::check(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking), "cudaStreamCreate");
    detail::check(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking), "cudaStreamCreate");
    for (auto& e : copied_) detail::check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
  }
  host_stream(const host_stream&) = delete;
  host_stream& operator=(const host_stream&) = delete;
  ~host_stream() {
    cudaStreamSynchronize(copy_);
    cudaStreamSynchronize(compute_);
    for (auto& b : buf_) {
      if (b.host) cudaFreeHost(b.host);
      if (b.dev) cudaFree(b.dev);
    }
    for (auto& e : copied_) cudaEventDestroy(e);
    cudaStreamDestroy(copy_);
    cudaStreamDestroy(compute_);
  }

  template <class FormatList, class Req>
  std::vector<cost::tensor_cost> evaluate(std::span<const cost::job> jobs) {
    std::vector<cost::tensor_cost> out;
    out.reserve(jobs.size());
    const auto parts = split(jobs);
    if (parts.empty()) return out;
    std::vector<device_job> staged[2];
    staged[0] = stage(jobs, parts[0], 0);
    for (std::size_t p = 0; p < parts.size(); ++p) {
      const int slot = static_cast<int>(p % 2);
      std::future<std::vector<device_job>> next;
      if (p + 1 < parts.size())  // slot 1-slot is free: its copy and its measurement are done
        next = std::async(std::launch::async, [&, p] { return stage(jobs, parts[p + 1], 1 - slot); });
      detail::check(cudaStreamWaitEvent(compute_, copied_[slot], 0), "cudaStreamWaitEvent");
      std::vector<cost::tensor_cost> r;
      try {
        r = evaluate_device<FormatList, Req>(staged[slot], compute_);
      } catch (const error&) {
        if (next.valid()) next.wait();
        name_non_finite(jobs.subspan(parts[p].first, parts[p].second - parts[p].first));
        throw;
      }
      for (auto& t : r) out.push_back(std::move(t));
      if (next.valid()) staged[1 - slot] = next.get();
    }
    return out;
  }

 private:
  struct buffer {
    std::byte* host = nullptr;  // pinned
    std::byte* dev = nullptr;
    std::size_t size = 0;
  };
  static std::size_t align(std::size_t x) { return (x + 255) & ~std::size_t{255}; }
  static std::size_t bytes_of(const cost::job& j) {
    const cost::plain_weight w = cost::to_plain(j.weight);
    std::size_t b = align(static_cast<std::size_t>(w.bytes()));
    if (w.type == cost::weight_dtype::fp8_e4m3_block128)
      b += align(static_cast<std::size_t>(w.scale_rows() * w.scale_cols()) * sizeof(float));
    if (j.act) b += align(static_cast<std::size_t>(w.cols) * sizeof(float));
    return b;
  }

  // [begin, end) job ranges of about cap_ bytes, cut only between groups.
  std::vector<std::pair<std::size_t, std::size_t>> split(std::span<const cost::job> jobs) const {
    std::vector<std::pair<std::size_t, std::size_t>> parts;
    std::size_t begin = 0, bytes = 0;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      const bool same_group = i > 0 && jobs[i].group >= 0 && jobs[i].group == jobs[i - 1].group;
      if (i > begin && !same_group && bytes >= cap_) {
        parts.push_back({begin, i});
        begin = i;
        bytes = 0;
      }
      bytes += bytes_of(jobs[i]);
    }
    if (begin < jobs.size()) parts.push_back({begin, jobs.size()});
    return parts;
  }

  // Pack jobs [r.first, r.second) into slot's pinned buffer (several host threads), start its
  // copy to the device, and return the device jobs (pointers into slot's device buffer).
  std::vector<device_job> stage(std::span<const cost::job> jobs, std::pair<std::size_t, std::size_t> r, int slot) {
    std::size_t total = 0;
    for (std::size_t i = r.first; i < r.second; ++i) total += bytes_of(jobs[i]);
    buffer& b = buf_[slot];
    if (b.size < total) {
      if (b.host) detail::check(cudaFreeHost(b.host), "cudaFreeHost");
      if (b.dev) detail::check(cudaFree(b.dev), "cudaFree");
      b = {};
      detail::check(cudaHostAlloc(reinterpret_cast<void**>(&b.host), total, cudaHostAllocDefault), "cudaHostAlloc");
      detail::check(cudaMalloc(reinterpret_cast<void**>(&b.dev), total), "cudaMalloc");
      b.size = total;
    }
    struct piece {
      const void* src;
      std::size_t off, n;
    };
    std::vector<piece> pieces;
    std::vector<device_job> dj;
    std::size_t off = 0;
    for (std::size_t i = r.first; i < r.second; ++i) {
      const cost::job& j = jobs[i];
      device_job d;
      d.weight = cost::to_plain(j.weight);
      d.name = std::string(j.weight.name);
      d.stats = j.stats;
      d.group = j.group;
      pieces.push_back({d.weight.data, off, static_cast<std::size_t>(d.weight.bytes())});
      d.weight.data = b.dev + off;
      off += align(static_cast<std::size_t>(d.weight.bytes()));
      if (d.weight.type == cost::weight_dtype::fp8_e4m3_block128) {
        const std::size_t n = static_cast<std::size_t>(d.weight.scale_rows() * d.weight.scale_cols()) * sizeof(float);
        pieces.push_back({d.weight.scale_inv, off, n});
        d.weight.scale_inv = reinterpret_cast<const float*>(b.dev + off);
        off += align(n);
      }
      if (j.act) {
        const std::size_t n = static_cast<std::size_t>(d.weight.cols) * sizeof(float);
        pieces.push_back({j.act, off, n});
        d.act = reinterpret_cast<const float*>(b.dev + off);
        off += align(n);
      }
      dj.push_back(std::move(d));
    }
    // Page-cache reads dominate: spread the pieces over a few threads, in slices of 8 MB.
    std::vector<piece> slices;
    for (const auto& p : pieces)
      for (std::size_t s = 0; s < p.n; s += std::size_t{8} << 20)
        slices.push_back({static_cast<const std::byte*>(p.src) + s, p.off + s, std::min(p.n - s, std::size_t{8} << 20)});
    const unsigned nt = std::max(1u, std::min<unsigned>(8, std::thread::hardware_concurrency() / 2));
    auto copy_from = [&](unsigned t) {
      for (std::size_t k = t; k < slices.size(); k += nt) std::memcpy(b.host + slices[k].off, slices[k].src, slices[k].n);
    };
    std::vector<std::thread> th;
    for (unsigned t = 1; t < nt; ++t) th.emplace_back(copy_from, t);
    copy_from(0);
    for (auto& t : th) t.join();
    detail::check(cudaMemcpyAsync(b.dev, b.host, total, cudaMemcpyHostToDevice, copy_), "cudaMemcpyAsync");
    detail::check(cudaEventRecord(copied_[slot], copy_), "cudaEventRecord");
    return dj;
  }

  // The device pre-pass saw a NaN/Inf: find it on the host and name it as the CPU pass does.
  static void name_non_finite(std::span<const cost::job> jobs) {
    for (const auto& j : jobs) {
      const cost::plain_weight w = cost::to_plain(j.weight);
      for (std::int64_t r = 0; r < w.rows; ++r)
        for (std::int64_t c = 0; c < w.cols; ++c) {
          const bool fp8_nan = w.type == cost::weight_dtype::fp8_e4m3_block128 &&
                               (static_cast<const std::uint8_t*>(w.data)[r * w.cols + c] & 0x7Fu) == 0x7Fu;
          const float x = w.at(r, c);
          if (fp8_nan || !std::isfinite(x))
            throw error(std::string(j.weight.name), std::string(fp8_nan || std::isnan(x) ? "NaN" : "Inf") + " at [" +
                                                        std::to_string(r) + ", " + std::to_string(c) +
                                                        "]; quantization needs finite weights");
        }
    }
  }

  std::size_t cap_;
  buffer buf_[2];
  cudaStream_t copy_ = nullptr, compute_ = nullptr;
  cudaEvent_t copied_[2] = {};
};

}  // namespace prismaquant::kernels
