#pragma once
// The options of every command that runs the model engine (probe, eval, export's calibration,
// validate, pipeline): the token file's layout, batching, threads and the activation memory
// budget — declared once, so their names, ranges and defaults agree everywhere. A command's
// argument struct derives from engine_args and picks the options it takes:
//
//   struct eval_args : cli::engine_args { std::string model, tokens; };
//   cli::add_engine_options(sub, *a);                                   // all six
//   cli::add_engine_options(sub, *a, cli::engine_option::seq_len | cli::engine_option::batch,
//                           {.rows = "the calibration file"});
#include <prismaquant/cli/options.hpp>

#include <cstdint>
#include <string>

namespace prismaquant::cli {

struct engine_args {
  std::string token_dtype = "uint16", tmp_dir;
  std::int64_t seq_len = 256, batch = 4;
  int threads = 0;
  double max_memory = 8.0;  // GB
  int token_bytes() const noexcept { return token_dtype == "uint32" ? 4 : 2; }
  std::uint64_t max_memory_bytes() const noexcept { return static_cast<std::uint64_t>(max_memory * 1e9); }
};

namespace engine_option {
enum : unsigned { token_dtype = 1, seq_len = 2, batch = 4, threads = 8, max_memory = 16, tmp_dir = 32, all = 63 };
}

// What the help says where commands differ.
struct engine_option_text {
  std::string rows = "the token file";  // "tokens per row of <rows>"
  std::string batch = "rows per batch";
  std::string max_memory = "GB of cached activations kept in memory; the rest spills to disk";
};

inline void add_engine_options(CLI::App& sub, engine_args& a, unsigned which = engine_option::all,
                               const engine_option_text& t = {}) {
  if (which & engine_option::token_dtype)
    sub.add_option("--token-dtype", a.token_dtype, "token ids: uint16, or uint32 for vocabularies beyond 65536")
        ->capture_default_str()
        ->check(check::one_of({"uint16", "uint32"}));
  if (which & engine_option::seq_len)
    sub.add_option("--seq-len", a.seq_len, "tokens per row of " + t.rows)
        ->capture_default_str()
        ->transform(check::integer(2, 1 << 24));
  if (which & engine_option::batch)
    sub.add_option("--batch", a.batch, t.batch)->capture_default_str()->transform(check::integer(1, 1 << 24));
  if (which & engine_option::threads)
    sub.add_option("--threads", a.threads, "worker threads (0: all cores)")
        ->capture_default_str()
        ->transform(check::integer(0, 4096));
  if (which & engine_option::max_memory)
    sub.add_option("--max-memory", a.max_memory, t.max_memory)->capture_default_str()->check(check::number(0, 1e6));
  if (which & engine_option::tmp_dir)
    sub.add_option("--tmp-dir", a.tmp_dir, "where spilled activations go (default: the system's temp folder)");
}

// --act-quant on|off, for the commands that evaluate a compressed-tensors checkpoint as stored
// (eval, export --eval): whether the inputs of Linears whose scheme quantizes activations are
// quantized as the server does. `prefix` names the option it belongs to, e.g. "--eval: ";
// `simulated`: the command also evaluates a layer_config on the source (eval), where the
// default is off and on serves each format as a weight-only export does.
inline void add_act_quant_option(CLI::App& sub, std::string& act_quant, const std::string& prefix = "",
                                 bool simulated = false) {
  const std::string on = simulated ? "on (default for a compressed-tensors checkpoint; with --layer-config, each format's "
                                     "inputs as a weight-only export serves them)"
                                   : "on (default)";
  sub.add_option("--act-quant", act_quant,
                 prefix + on + ": the inputs of Linears whose scheme quantizes activations are quantized as served; off" +
                     (simulated ? " (default with --layer-config)" : "") + ": the weights alone")
      ->check(check::one_of({"on", "off"}));
}

}  // namespace prismaquant::cli
