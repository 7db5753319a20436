#pragma once
// Synthetic MiniMax-M2 checkpoints: the real layout (release naming, FP8 E4M3 weights with
// 128x128 `weight_scale_inv` blocks, config.json with MiniMax-M2's quantization_config) with
// random weights. For tests, benchmarks and "does this scale" runs at the real shapes —
// e.g. one full-size MiniMax-M2.7 layer with 256 experts — without the real weights.
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/io/safetensors_writer.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace prismaquant::model {

struct synthetic_minimax_options {
  // MiniMax-M2.7's sizes by default (docs/architecture.md); shrink them for tests.
  int hidden = 3072, layers = 62, heads = 48, kv_heads = 8, head_dim = 128, experts = 256, top_k = 8,
      intermediate = 1536, vocab = 200064;
  float weight_std = 0.02f;         // typical init-scale weights; a few blocks get outliers
  std::uint64_t seed = 1;
  std::uint64_t max_shard_bytes = 2'000'000'000;
  bool embeddings = true;           // embed_tokens / lm_head / final norm (large at full vocab)
  std::function<void(std::size_t done, std::size_t total)> progress;  // per tensor written
};

namespace detail {

// Gaussian-ish values without the cost of std::normal_distribution: sum of 4 uniforms
// (Irwin-Hall), scaled to unit variance; heavy enough tails for quantization tests once a
// sparse outlier term is added. Deterministic for a seed.
struct fast_gauss {
  std::uint64_t s;
  explicit fast_gauss(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return s;
  }
  float operator()() {
    const std::uint64_t r = next();
    float acc = 0;
    for (int i = 0; i < 4; ++i) acc += static_cast<float>((r >> (16 * i)) & 0xFFFF) * (1.0f / 65536.0f);
    return (acc - 2.0f) * 1.7320508f;  // var of U(0,1) sum of 4 = 1/3
  }
};

// FP8 E4M3 weight + F32 128x128 block scale_inv, the way MiniMax-M2 / DeepSeek-V3 ship them.
inline void make_fp8_block_weight(std::int64_t out, std::int64_t in, float std_dev, std::uint64_t seed,
                                  std::vector<std::uint8_t>& codes, std::vector<float>& scale_inv) {
  fast_gauss g(seed);
  std::vector<float> w(static_cast<std::size_t>(out * in));
  for (auto& v : w) v = g() * std_dev;
  // a sparse set of outliers, as trained weights have
  for (std::int64_t k = 0; k < out * in / 4096 + 1; ++k) w[g.next() % w.size()] *= 8.0f;
  const std::int64_t bo = (out + 127) / 128, bi = (in + 127) / 128;
  scale_inv.assign(static_cast<std::size_t>(bo * bi), 0.0f);
  codes.resize(w.size());
  for (std::int64_t br = 0; br < bo; ++br)
    for (std::int64_t bc = 0; bc < bi; ++bc) {
      float amax = 0;
      for (std::int64_t r = br * 128; r < std::min(out, br * 128 + 128); ++r)
        for (std::int64_t c = bc * 128; c < std::min(in, bc * 128 + 128); ++c) amax = std::max(amax, std::fabs(w[r * in + c]));
      const float s = amax > 0 ? amax / 448.0f : 1.0f;
      scale_inv[br * bi + bc] = s;
      for (std::int64_t r = br * 128; r < std::min(out, br * 128 + 128); ++r)
        for (std::int64_t c = bc * 128; c < std::min(in, bc * 128 + 128); ++c)
          codes[r * in + c] = static_cast<std::uint8_t>(fp8_e4m3::from_float(w[r * in + c] / s).bits());
    }
}

}  // namespace detail

inline nlohmann::json synthetic_minimax_config(const synthetic_minimax_options& o) {
  return {{"architectures", {"MiniMaxM2ForCausalLM"}},
          {"model_type", "minimax_m2"},
          {"hidden_size", o.hidden},
          {"num_hidden_layers", o.layers},
          {"num_attention_heads", o.heads},
          {"num_key_value_heads", o.kv_heads},
          {"head_dim", o.head_dim},
          {"num_local_experts", o.experts},
          {"num_experts_per_tok", o.top_k},
          {"intermediate_size", o.intermediate},
          {"vocab_size", o.vocab},
          {"rms_norm_eps", 1e-6},
          {"scoring_func", "sigmoid"},
          {"use_routing_bias", true},
          {"tie_word_embeddings", false},
          {"quantization_config",
           {{"quant_method", "fp8"},
            {"fmt", "float8_e4m3fn"},
            {"activation_scheme", "dynamic"},
            {"weight_block_size", {128, 128}},
            {"modules_to_not_convert", {"gate", "e_score_correction_bias", "lm_head"}}}}};
}

// Writes config.json and sharded safetensors (+ index) into `dir`, atomically per file.
inline void write_synthetic_minimax(const std::filesystem::path& dir, const synthetic_minimax_options& o) {
  checkpoint_writer_options wo;
  wo.max_shard_bytes = o.max_shard_bytes;
  wo.sync = false;
  checkpoint_writer w(dir, wo);
  std::uint64_t seed = o.seed;
  std::vector<std::uint8_t> codes;
  std::vector<float> scales;
  const std::size_t total = static_cast<std::size_t>(o.layers) * (4 + 3 * o.experts + 6) + (o.embeddings ? 3 : 0);
  std::size_t done = 0;
  auto tick = [&] {
    if (o.progress) o.progress(++done, total);
  };
  auto bytes_of = [](const auto& v) { return std::as_bytes(std::span(v)); };
  auto add_linear = [&](const std::string& m, std::int64_t out, std::int64_t in) {
    detail::make_fp8_block_weight(out, in, o.weight_std, ++seed, codes, scales);
    w.add({m + ".weight", dtype::F8_E4M3, {std::uint64_t(out), std::uint64_t(in)}}, bytes_of(codes));
    w.add({m + ".weight_scale_inv", dtype::F32, {std::uint64_t((out + 127) / 128), std::uint64_t((in + 127) / 128)}},
          bytes_of(scales));
    tick();
  };
  auto add_bf16 = [&](const std::string& name, std::vector<std::uint64_t> shape, float std_dev, float mean) {
    std::size_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<std::uint16_t> v(n);
    detail::fast_gauss g(++seed);
    for (auto& x : v) x = static_cast<std::uint16_t>(bf16::from_float(mean + std_dev * g()).bits());
    w.add({name, dtype::BF16, std::move(shape)}, bytes_of(v));
    tick();
  };
  const std::int64_t q = std::int64_t(o.heads) * o.head_dim, kv = std::int64_t(o.kv_heads) * o.head_dim;
  const auto H = std::uint64_t(o.hidden);
  for (int n = 0; n < o.layers; ++n) {
    const std::string p = "model.layers." + std::to_string(n) + ".";
    add_bf16(p + "input_layernorm.weight", {H}, 0.05f, 1.0f);
    add_linear(p + "self_attn.q_proj", q, o.hidden);
    add_linear(p + "self_attn.k_proj", kv, o.hidden);
    add_linear(p + "self_attn.v_proj", kv, o.hidden);
    add_linear(p + "self_attn.o_proj", o.hidden, q);
    add_bf16(p + "self_attn.q_norm.weight", {std::uint64_t(q)}, 0.05f, 1.0f);
    add_bf16(p + "self_attn.k_norm.weight", {std::uint64_t(kv)}, 0.05f, 1.0f);
    add_bf16(p + "post_attention_layernorm.weight", {H}, 0.05f, 1.0f);
    add_bf16(p + "block_sparse_moe.gate.weight", {std::uint64_t(o.experts), H}, 0.02f, 0.0f);
    {
      std::vector<float> bias(static_cast<std::size_t>(o.experts));
      detail::fast_gauss g(++seed);
      for (auto& b : bias) b = 0.01f * g();
      w.add({p + "block_sparse_moe.e_score_correction_bias", dtype::F32, {std::uint64_t(o.experts)}}, bytes_of(bias));
      tick();
    }
    for (int e = 0; e < o.experts; ++e) {
      const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      add_linear(x + "w1", o.intermediate, o.hidden);
      add_linear(x + "w2", o.hidden, o.intermediate);
      add_linear(x + "w3", o.intermediate, o.hidden);
    }
  }
  if (o.embeddings) {
    add_bf16("model.embed_tokens.weight", {std::uint64_t(o.vocab), H}, 0.02f, 0.0f);
    add_bf16("model.norm.weight", {H}, 0.05f, 1.0f);
    add_bf16("lm_head.weight", {std::uint64_t(o.vocab), H}, 0.02f, 0.0f);
  }
  w.finish();
  write_file_atomic(dir / "config.json", synthetic_minimax_config(o).dump(2) + "\n", false);
}

}  // namespace prismaquant::model
