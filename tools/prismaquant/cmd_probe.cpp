// `prismaquant probe --model DIR --calib TOKENS.bin --out stats.json [--seq-len 256] [--batch 4]
//   [--token-weights clamped|none] [--domains a,b,c] [--shard I/N|auto] [--threads N]
//   [--max-memory GB] [--tmp-dir DIR] [--first-order FORMATS] [--quiet]`
//
// The calibration probe (probe/probe.hpp, docs/probe.md): a forward and a reverse sweep of the
// checkpoint over the token file, one layer resident, writing every statistic of the stats file
// (version 2). With a shard spec the process handles batches i ≡ I (mod N) and writes its own
// part (stats.shard-I-of-N.json, exact, for `prismaquant merge`). --first-order adds, per Linear
// and format, the first-order term Σ_b ⟨G_b, Q_f(W) − W⟩ (the `taylor` proxy reads it).
// Progress on stderr; a summary with the wall time and the peak RSS on stdout. The stats file and its side file
// (<stem>.safetensors) are one output set (io/output_set.hpp): published together after the
// whole probe, or not at all.
#include "command.hpp"

#include <prismaquant/cli/engine_options.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/probe/probe.hpp>

#include <cstdio>
#include <sys/resource.h>

namespace pq = prismaquant;

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

struct probe_args : pq::cli::engine_args {
  std::string model, calib, out, token_weights = "clamped", domains, shard = "0/1";
  std::vector<std::string> first_order;
  bool quiet = false;
};

int run_probe(const probe_args& a) {
  pq::probe::options o;
  o.seq_len = a.seq_len;
  o.batch_rows = a.batch;
  o.token_bytes = a.token_bytes();
  o.weighting = a.token_weights == "none" ? pq::nn::token_weighting::none : pq::nn::token_weighting::clamped;
  o.domains = pq::engine::parse_domains(a.domains);
  o.shard = pq::engine::parse_shard(a.shard);
  o.threads = static_cast<unsigned>(a.threads);
  o.max_memory = a.max_memory_bytes();
  o.tmp_dir = a.tmp_dir;
  o.first_order = a.first_order;
  if (o.first_order == std::vector<std::string>{"all"}) {  // every registry format (those that fit each Linear)
    o.first_order.clear();
    for (const auto& f : pq::formats::registry()) o.first_order.emplace_back(f.name);
  }
  if (!a.quiet)
    o.progress = [&](const std::string& s) {
      std::fprintf(stderr, "\rprobe %s: %-40s", o.shard.name().c_str(), s.c_str());
      std::fflush(stderr);
    };
  const auto out = pq::engine::shard_output(a.out, o.shard);
  if (out.extension() == ".safetensors")
    throw pq::error("--out", a.out + ": the stats file is JSON (its side file takes the name <stem>.safetensors)");
  const auto dir = out.has_parent_path() ? out.parent_path() : std::filesystem::path(".");
  {  // fail before the work, not after it
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) throw pq::error("--out", "folder " + dir.string() + " does not exist");
  }
  pq::output_set set(dir, pq::publish_mode::replace_files, {}, "--out " + out.string());
  set.owns(std::filesystem::path(out.filename()).replace_extension(".safetensors").string());
  const auto model = pq::model::open_model(a.model);
  const pq::nn::cblas_gemm gemm;
  const auto r = pq::probe::run(model, a.calib, o, gemm);
  pq::stats::write_stats(set.path(out.filename().string()), r.stats, 64, o.shard.count > 1);
  set.publish();
  if (!a.quiet) std::fprintf(stderr, "\n");
  std::int64_t positions = 0;
  double ce = 0.0;
  for (const auto& b : r.batches) {
    positions += b.positions;
    ce += b.ce_sum;
  }
  std::printf("probe %s (%s): %zu batches, %lld predicted positions, mean CE %.5f, %zu linears, %zu routers in %.2f s; "
              "peak RSS %.0f MB, activations %.1f MB in memory at most, %.1f MB spilled -> %s\n",
              o.shard.name().c_str(), o.shard.source.c_str(), r.batches.size(), static_cast<long long>(positions),
              positions ? ce / static_cast<double>(positions) : 0.0, r.stats.linears.size(), r.stats.routers.size(),
              r.seconds, peak_rss_mb(), static_cast<double>(r.activations_peak_bytes) / 1e6,
              static_cast<double>(r.spilled_bytes) / 1e6, out.string().c_str());
  return 0;
}

const pq::tool::registration reg{
    "probe", "Calibration probe: per-Linear Fisher / activation statistics and per-router REAP and re-routing sums",
    [](CLI::App& sub) {
      namespace check = pq::cli::check;
      auto a = std::make_shared<probe_args>();
      sub.add_option("--model", a->model, "checkpoint folder")->required()->check(check::existing_path());
      sub.add_option("--calib", a->calib, "token file: [rows, seq_len] little-endian ids (uint16, or --token-dtype uint32)")
          ->required()
          ->check(check::existing_file());
      sub.add_option("--out", a->out, "stats file to write (a shard writes <stem>.shard-I-of-N<ext>)")
          ->required()
          ->check(check::output_file());
      pq::cli::add_engine_options(sub, *a, pq::cli::engine_option::all, {.batch = "rows per batch (one Fisher term per batch)"});
      sub.add_option("--token-weights", a->token_weights, "clamped: w_t = clamp(CE_t / mean CE, 0.25, 4); none: 1")
          ->capture_default_str()
          ->check(check::one_of({"clamped", "none"}));
      sub.add_option("--domains", a->domains, "split the rows into equal consecutive domains, e.g. code,prose,math");
      sub.add_option("--shard", a->shard, "I/N, or auto (Open MPI, PMI or SLURM environment)")->capture_default_str();
      sub.add_option("--first-order", a->first_order,
                     "formats (comma separated, or all) whose first-order Δloss terms Σ_b <G_b, Q_f(W) - W> are measured "
                     "per Linear, for the taylor proxy; each costs one float per weight while its layer is probed")
          ->delimiter(',');
      sub.add_flag("--quiet", a->quiet, "no progress line");
      return [=] { return run_probe(*a); };
    }};

}  // namespace
