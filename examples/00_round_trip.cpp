// Example 00: one realistic weight through every format.
//
// A MiniMax-M2-expert-shaped weight [1536, 3072] (bf16, normal with a heavy tail, a few
// outlier channels) is encoded into each format's compressed-tensors tensors, decoded, and
// compared: bytes on disk, bits per parameter, MSE and max abs error (double accumulation,
// cost/reference.hpp). It verifies before it prints: storage bytes must equal the encoded
// tensors and the reference statistics must equal those of the decoded tensor.
#include <prismaquant/prismaquant.hpp>

#include <cstdio>
#include <random>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;

int main() {
  const std::int64_t rows = 1536, cols = 3072;
  std::mt19937 g(2026);
  std::student_t_distribution<float> t(5.0f);  // heavier tails than a normal, like real weights
  std::vector<pq::bf16> w(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < rows; ++i) {
    const float row_scale = (i % 97 == 0) ? 0.08f : 0.015f;  // a few outlier channels
    for (std::int64_t j = 0; j < cols; ++j) w[static_cast<std::size_t>(i * cols + j)] = pq::bf16::from_float(row_scale * t(g));
  }
  const fm::weight_view view(w.data(), rows, cols, "model.layers.0.block_sparse_moe.experts.0.w1.weight");
  const fm::tensor_stats stats = fm::measure(view);
  std::printf("weight [%lld, %lld] bf16, amax %.4f\n\n", static_cast<long long>(rows), static_cast<long long>(cols), stats.amax);
  std::printf("%-22s %12s %9s %12s %12s  %s\n", "format", "bytes", "bits/par", "MSE", "max |err|", "tensors");

  int failures = 0;
  for (const fm::format_entry& f : fm::registry()) {
    const fm::encoded_weight e = f.encode(view, stats);
    const std::vector<float> q = f.decode(e, view.name);
    const pq::cost::error_stats s = pq::cost::stats_from_round_trip(view, q);
    if (e.total_bytes() != f.storage_bytes(rows, cols)) {
      std::printf("%s: storage_bytes %llu != encoded %llu\n", std::string(f.name).c_str(),
                  static_cast<unsigned long long>(f.storage_bytes(rows, cols)), static_cast<unsigned long long>(e.total_bytes()));
      ++failures;
    }
    std::string tensors;
    for (const auto& tt : e.tensors) tensors += (tensors.empty() ? "" : " ") + tt.suffix + ":" + std::string(pq::dtype_name(tt.type));
    std::printf("%-22s %12llu %9.4f %12.4e %12.4e  %s\n", std::string(f.name).c_str(),
                static_cast<unsigned long long>(e.total_bytes()), f.bits_per_param(rows, cols), s.mse(), s.max_abs,
                tensors.c_str());
  }
  // the typed path gives the same statistics without materialising the round trip
  const auto ref = pq::cost::reference_stats<fm::nvfp4>(view, stats);
  const auto mat = pq::cost::stats_from_round_trip(view, fm::decode<fm::nvfp4>(fm::encode<fm::nvfp4>(view, stats)));
  if (ref.sum_sq != mat.sum_sq || ref.max_abs != mat.max_abs) {
    std::printf("reference statistics disagree with the materialised round trip\n");
    ++failures;
  }
  return failures == 0 ? 0 : 1;
}
