// expect: prismaquant format lacks `static constexpr int element_bits`
// A user's format without element_bits (the allocator and layer_config.json read it) stops with
// a message naming the piece, wherever it enters the library (here: the runtime registry).
#include <prismaquant/formats/registry.hpp>

namespace fm = prismaquant::formats;

struct no_bits {
  static constexpr std::string_view name = "NO_BITS";
  static constexpr std::int64_t block_rows = 1, block_cols = 32;
  using code_type = std::uint8_t;
  struct tensor_params {};
  struct block_params { float scale; };
  static constexpr tensor_params prepare(fm::tensor_stats) { return {}; }
  static constexpr block_params block_scale(const tensor_params&, fm::block_range r) { return {r.amax()}; }
  static constexpr code_type quantize(const block_params&, float) { return 0; }
  static constexpr float dequantize(const block_params&, code_type) { return 0.0f; }
  static constexpr std::uint64_t storage_bytes(std::int64_t r, std::int64_t c) { return std::uint64_t(r * c); }
  static void check_shape(std::int64_t, std::int64_t, std::string_view) {}
  static std::vector<fm::tensor_spec> layout(std::int64_t, std::int64_t, const tensor_params&) { return {}; }
  static void store_tensor(fm::encoded_weight&, const tensor_params&) {}
  static void store_block(fm::encoded_weight&, std::int64_t, std::int64_t, const block_params&) {}
  static void store_code(fm::encoded_weight&, std::int64_t, std::int64_t, code_type) {}
  static tensor_params load_tensor(const fm::encoded_weight&) { return {}; }
  static block_params load_block(const fm::encoded_weight&, std::int64_t, std::int64_t, const tensor_params&) { return {}; }
  static code_type load_code(const fm::encoded_weight&, std::int64_t, std::int64_t) { return 0; }
};

int main() { (void)fm::make_entry<no_bits>(); }
