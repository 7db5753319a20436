// libFuzzer target for the safetensors header parser (fuzz/run.sh builds and runs it).
// Any input must either parse into a header whose every tensor lies inside the input, or be
// rejected with prismaquant::error. Anything else (a crash, a sanitizer report, another
// exception type escaping, or a header that does not survive a write/re-read) is a bug.
#include <prismaquant/io/safetensors_header.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace pq = prismaquant;
  std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  pq::safetensors_header h;
  try {
    h = pq::parse_safetensors_header(file, "fuzz.safetensors");
  } catch (const pq::error&) {
    return 0;  // rejected cleanly
  }
  // Accepted: every tensor must lie inside the buffer; touch every byte so ASan sees it.
  unsigned sum = 0;
  std::uint64_t covered = 0;
  for (const auto& e : h.tensors) {
    if (e.end > h.data_bytes || h.data_offset() + e.end > size) std::abort();
    for (std::uint64_t i = e.begin; i < e.end; ++i) sum += std::to_integer<unsigned>(file[h.data_offset() + i]);
    covered += e.size();
    if (h.find(e.spec.name) == nullptr) std::abort();
  }
  if (covered != h.data_bytes) std::abort();  // tiles the buffer: no holes, no overlaps
  // Serialising the accepted header and parsing it again must give the same tensors.
  std::string again = pq::serialize_safetensors_header(h.tensors, h.metadata, "fuzz");
  again.append(reinterpret_cast<const char*>(data) + h.data_offset(), size - h.data_offset());
  auto h2 = pq::parse_safetensors_header(std::as_bytes(std::span<const char>(again.data(), again.size())), "again");
  if (h2.tensors.size() != h.tensors.size() || h2.metadata != h.metadata) std::abort();
  for (std::size_t i = 0; i < h.tensors.size(); ++i)
    if (!(h2.tensors[i].spec == h.tensors[i].spec) || h2.tensors[i].begin != h.tensors[i].begin) std::abort();
  return static_cast<int>(sum & 0);
}
