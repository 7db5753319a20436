// `prismaquant pipeline --model DIR --calib TOKENS --eval TOKENS --out OUT [allocate options, --alpha-fit FILE]
//    [--rounding rtn|gptq|gptq+sweep] [--domains a,b,c] [--token-dtype uint16|uint32] [--seq-len 256] [--batch 4] [--threads N] [--force] [--quiet]`
//
// The whole method in one command (docs/pipeline.md): probe -> cost -> allocate (a Pareto sweep
// and its knee, or one target) -> export (which also measures the held-out loss of the weights
// it wrote) -> eval of the source on the same held-out tokens. Each stage is the tool's own command, run in-process with the command line
// it prints, so any stage can be rerun by hand. OUT keeps every stage's outputs and, in
// OUT/pipeline.json, the key of each stage: a hash of the tool binary, the stage's command
// line and the contents of every file it reads. A stage whose key is unchanged and whose
// outputs are all present is reused, so an interrupted or repeated run does only what changed.
// Progress and the stages' own output on stderr; the summary (Pareto table, knee, chosen
// allocation, bytes, held-out loss per domain before and after) on stdout and in
// OUT/summary.md.
#include "command.hpp"

#include <prismaquant/allocate/alpha_fit.hpp>
#include <prismaquant/cli/engine_options.hpp>
#include <prismaquant/cli/run.hpp>
#include <prismaquant/export/ct_scheme.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/io/content_hash.hpp>
#include <prismaquant/io/json.hpp>
#include <prismaquant/stats/statistic.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

namespace pq = prismaquant;
namespace fs = std::filesystem;

namespace {

struct pipeline_args : pq::cli::engine_args {
  std::string model, calib, eval, out;
  std::vector<std::string> formats = pq::formats::names_of<pq::formats::pipeline_formats>();
  double target_bits = -1;
  std::int64_t target_bytes = -1;
  std::vector<double> sweep;
  std::vector<double> prune_ratios{0.0};
  std::string proxy = "fisher_trace", saliency = "reap_dropout", loader = "vllm", rounding = "rtn";
  std::string domains, alpha_fit;
  bool force = false, quiet = false;
};

// The sweep when no target is given: the region where the seed artifact's choices lie
// (3.2 bits) up to near-lossless.
const std::vector<double> default_sweep{3.0, 3.25, 3.5, 3.75, 4.0, 4.25, 4.5, 5.0, 6.0, 8.0};

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string join(const std::vector<std::string>& v, const char* sep = ",") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string numbers(const std::vector<double>& v) {
  std::vector<std::string> s;
  for (double x : v) s.push_back(fmt("%.17g", x));
  return join(s);
}

// One stage: the command it runs, the files it reads (their contents go into its key), the
// files it writes (all must exist for a reuse), and options that do not change its results
// (left out of the key).
struct stage {
  std::string name;
  std::vector<std::string> args;  // without the program name
  std::vector<fs::path> inputs;
  std::vector<fs::path> outputs;
  std::vector<std::string> key_free;  // e.g. --threads: results do not depend on it
};

class runner {
 public:
  runner(const pq::cli::toolset& tools, fs::path out, bool force, bool quiet)
      : tools_(tools), out_(std::move(out)), force_(force), quiet_(quiet) {
    state_path_ = out_ / "pipeline.json";
    std::error_code ec;
    if (fs::exists(state_path_, ec)) {
      try {
        state_ = pq::strict_json::read_file(state_path_);
      } catch (const std::exception&) {
        state_ = nlohmann::json::object();  // unreadable state: every stage runs again
      }
    }
    if (!state_.is_object() || !state_.contains("stages") || !state_["stages"].is_object())
      state_ = {{"format", "prismaquant.pipeline"}, {"version", 1}, {"stages", nlohmann::json::object()}};
    pq::content_hasher self;
    std::error_code e2;
    if (fs::exists("/proc/self/exe", e2))
      self.add_file("/proc/self/exe");
    else
      self.add("prismaquant");
    tool_key_ = self.hex();
  }

  // Runs the stage unless its key and outputs say it is up to date. Returns its seconds (0 if reused).
  double run(const stage& s, int index, int count) {
    const std::string key = key_of(s);
    const std::string cmd = "prismaquant " + join(s.args, " ");
    auto& rec = state_["stages"][s.name];
    bool present = true;
    for (const auto& o : s.outputs) present = present && fs::exists(o);
    if (!force_ && present && rec.is_object() && rec.value("key", "") == key) {
      say("[%d/%d] %s: up to date (inputs and options unchanged), reused", index, count, s.name.c_str());
      return 0.0;
    }
    say("[%d/%d] %s: %s", index, count, s.name.c_str(), cmd.c_str());
    if (rec.is_object() && rec.contains("key")) {  // a failed rerun leaves no stale key behind
      rec = nlohmann::json::object();
      save();
    }
    std::vector<std::string> argv{"prismaquant"};
    argv.insert(argv.end(), s.args.begin(), s.args.end());
    const auto t0 = std::chrono::steady_clock::now();
    int rc;
    {
      stdout_to_stderr redirect;  // the stages' reports are progress; stdout is the summary's
      rc = pq::cli::invoke(argv, tools_);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rc != 0) throw pq::error("pipeline", "stage " + s.name + " failed (" + cmd + ")");
    rec = {{"key", key}, {"command", cmd}, {"seconds", secs}};
    save();
    say("[%d/%d] %s: done in %.1f s", index, count, s.name.c_str(), secs);
    return secs;
  }

 private:
  // Stage output goes where progress goes.
  struct stdout_to_stderr {
    int saved;
    stdout_to_stderr() {
      std::fflush(stdout);
      saved = ::dup(1);
      ::dup2(2, 1);
    }
    ~stdout_to_stderr() {
      std::fflush(stdout);
      ::dup2(saved, 1);
      ::close(saved);
    }
  };

  template <class... A>
  void say(const char* f, A... a) {
    if (quiet_) return;
    std::fprintf(stderr, "pipeline ");
    std::fprintf(stderr, f, a...);
    std::fprintf(stderr, "\n");
  }

  std::string content(const fs::path& p) {
    const std::string k = fs::absolute(p).lexically_normal().string();
    auto it = hashes_.find(k);
    if (it != hashes_.end()) return it->second;
    pq::content_hasher h;
    std::error_code ec;
    if (fs::is_directory(p, ec))
      h.add_folder(p);
    else if (fs::exists(p, ec))
      h.add_file(p);
    else
      h.add("(absent)");  // an optional input that is not there
    return hashes_[k] = h.hex();
  }

  std::string key_of(const stage& s) {
    pq::content_hasher h;
    h.add(tool_key_);
    h.add(s.name);
    for (std::size_t i = 0; i < s.args.size(); ++i) {
      if (std::find(s.key_free.begin(), s.key_free.end(), s.args[i]) != s.key_free.end()) {
        ++i;  // the option and its value
        continue;
      }
      if (s.args[i] == "--quiet") continue;
      h.add(s.args[i]);
    }
    for (const auto& in : s.inputs) h.add(content(in));
    return h.hex();
  }

  void save() { pq::write_file_atomic(state_path_, state_.dump(1) + "\n"); }

  const pq::cli::toolset& tools_;
  fs::path out_, state_path_;
  bool force_, quiet_;
  nlohmann::json state_;
  std::string tool_key_;
  std::map<std::string, std::string> hashes_;
};

// ---- the summary ------------------------------------------------------------------------

std::vector<std::map<std::string, std::string>> read_csv(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw pq::error(p.string(), "cannot be read");
  auto split = [](const std::string& line) {
    std::vector<std::string> v;
    std::stringstream ss(line);
    std::string x;
    while (std::getline(ss, x, ',')) v.push_back(x);
    if (!line.empty() && line.back() == ',') v.emplace_back();
    return v;
  };
  std::string line;
  std::getline(f, line);
  const auto head = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    const auto cells = split(line);
    std::map<std::string, std::string> r;
    for (std::size_t i = 0; i < head.size(); ++i) r[head[i]] = i < cells.size() ? cells[i] : "";
    rows.push_back(std::move(r));
  }
  return rows;
}

std::uint64_t folder_bytes(const fs::path& dir, const char* ext) {
  std::uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ext) n += e.file_size();
  return n;
}

std::string summary(const pipeline_args& a, const fs::path& out, const std::vector<std::pair<std::string, double>>& times) {
  std::string s;
  auto line = [&](const std::string& l) { s += l + "\n"; };
  line("# prismaquant pipeline: " + a.model + " -> " + out.string());
  line("");
  std::string t = "stages:";
  for (const auto& [n, secs] : times) t += " " + n + " " + (secs > 0 ? fmt("%.1f s", secs) : std::string("(reused)")) + ",";
  t.pop_back();
  line(t);
  line("");
  // The Pareto table
  const auto alloc = pq::strict_json::read_file((out / "allocation" / "allocation.json"));
  const auto rows = read_csv(out / "allocation" / "pareto.csv");
  const int chosen = alloc.value("chosen_index", -1), knee = alloc.value("knee_index", -1);
  line("## Pareto sweep (allocation/pareto.csv; predicted Δloss = the proxy's sum, nats)");
  line("");
  line("| target bits | bits | predicted Δloss | prune ratio | experts dropped | |");
  line("|---:|---:|---:|---:|---:|---|");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    const std::string mark = static_cast<int>(i) == chosen ? (static_cast<int>(i) == knee ? "knee, chosen" : "chosen")
                                                           : (static_cast<int>(i) == knee ? "knee" : "");
    if (r.at("feasible") != "True")
      line("| " + r.at("target_bits") + " | infeasible | | | | " + mark + " |");
    else
      line("| " + r.at("target_bits") + " | " + fmt("%.4f", std::stod(r.at("achieved_bits"))) + " | " +
           fmt("%.6g", std::stod(r.at("predicted_dloss"))) + " | " + r.at("global_prune_ratio") + " | " +
           r.at("n_experts_dropped") + " | " + mark + " |");
  }
  line("");
  // The chosen allocation
  const auto& c = alloc.at("chosen");
  const std::string by = alloc.value("chosen_by", std::string("target"));
  line("## Chosen allocation (" + (by == "knee" ? "the sweep's knee, " + alloc.value("knee_method", std::string("")) + " method" : by) +
       ")");
  line("");
  line("- " + fmt("%.4f", c.value("achieved_bits", 0.0)) + " bits per parameter, " +
       std::to_string(c.value("total_bytes", std::int64_t{0})) + " bytes of Linear weights, predicted Δloss " +
       fmt("%.6g", c.value("dloss", 0.0)) + " (gap " + fmt("%.2g", c.value("gap", 0.0)) + ")");
  std::string mix;
  const double total = alloc.value("total_params", 0.0);
  for (const auto& [f, n] : c.at("params_by_format").items())
    mix += (mix.empty() ? "" : ", ") + f + " " + fmt("%.1f%%", total > 0 ? 100.0 * n.get<double>() / total : 0.0) + " (" +
           std::to_string(c.at("layers_by_format").value(f, 0)) + " Linears)";
  line("- formats (share of parameters): " + mix);
  const auto cfg = pq::strict_json::read_file((out / "checkpoint" / "config.json"));
  const auto src = pq::strict_json::read_file((fs::path(a.model) / "config.json"));
  const auto experts = [](const nlohmann::json& j) {
    for (const char* k : {"num_local_experts", "num_experts", "n_routed_experts"})
      if (j.contains(k)) return j.at(k).get<int>();
    return 0;
  };
  line("- experts kept per MoE layer: " + std::to_string(experts(cfg)) + " of " + std::to_string(experts(src)) +
       " (prune ratio " + fmt("%g", c.value("global_prune_ratio", 0.0)) + ", " +
       std::to_string(c.value("n_experts_dropped", 0)) + " experts dropped)");
  const double ck = static_cast<double>(folder_bytes(out / "checkpoint", ".safetensors")),
               sk = static_cast<double>(folder_bytes(a.model, ".safetensors"));
  line("- checkpoint: " + (out / "checkpoint").string() + ", " + fmt("%.0f", ck) + " bytes of safetensors (source " +
       fmt("%.0f", sk) + ", " + fmt("%.3f", sk > 0 ? ck / sk : 0.0) + "x), rounding " + a.rounding);
  line("");
  // Held-out loss
  const auto before = pq::strict_json::read_file((out / "eval_source.json"));
  const auto after = pq::strict_json::read_file((out / "eval_allocation.json"));
  line("## Held-out loss (" + a.eval + ", nats per predicted position)");
  line("");
  line("| domain | positions | source | allocation | Δ |");
  line("|---|---:|---:|---:|---:|");
  for (const auto& [d, l] : before.at("domains").items()) {
    const double b = l.get<double>(), q = after.at("domains").at(d).get<double>();
    line("| " + d + " | " + std::to_string(before.at("domain_tokens").value(d, std::int64_t{0})) + " | " +
         fmt("%.5f", b) + " | " + fmt("%.5f", q) + " | " + fmt("%+.5f", q - b) + " |");
  }
  const double b = before.at("loss").get<double>(), q = after.at("loss").get<double>();
  line("| all | " + std::to_string(before.at("tokens").get<std::int64_t>()) + " | " + fmt("%.5f", b) + " | " +
       fmt("%.5f", q) + " | " + fmt("%+.5f", q - b) + " |");
  line("");
  line("The allocation's loss is that of the checkpoint as stored (`export --eval`: read back from disk, every Linear "
       "decoded from its " + a.rounding + " export, the pruned experts gone), with the inputs of Linears whose scheme "
       "quantizes activations (FP8, MX) quantized as served; the allocation priced the weights alone.");
  return s;
}

int run_stages(const pq::cli::toolset& tools, const pipeline_args& a, bool have_bits, bool have_bytes,
               const pq::proxy::any_proxy& proxy);

int run_pipeline(const pq::cli::toolset& tools, pipeline_args a, bool have_bits, bool have_bytes) {
  // Every option is checked before any work.
  if (have_bits + have_bytes + !a.sweep.empty() > 1)
    throw pq::error("--target-bits", "give at most one of --target-bits, --target-bytes, --sweep");
  if (!have_bits && !have_bytes && a.sweep.empty()) a.sweep = default_sweep;
  // Cost and allocate price each format as the weight-only export stores it (NVFP4 → NVFP4A16,
  // MX with compressed-tensors' scale rule), so the allocation's bytes and errors are the
  // checkpoint's; the checkpoint must be able to store every format.
  std::vector<std::string> stored;
  for (const auto& f : a.formats) {
    tools.format(f, "--formats");
    const std::string s = pq::exporter::stored_format(f, true, "--formats");
    tools.format(s, "--formats");
    if (std::find(stored.begin(), stored.end(), s) == stored.end()) stored.push_back(s);
  }
  a.formats = std::move(stored);
  const auto& proxy = tools.proxy(a.proxy);
  tools.saliency(a.saliency);
  if (!a.alpha_fit.empty()) (void)pq::allocate::read_alpha_fit(a.alpha_fit, a.saliency);  // a row for --saliency
  const fs::path out = a.out;
  std::error_code ec;
  const bool existed = fs::exists(out, ec);
  fs::create_directories(out, ec);
  if (!fs::is_directory(out, ec)) throw pq::error("--out", a.out + ": cannot create the folder");
  try {
    return run_stages(tools, a, have_bits, have_bytes, proxy);
  } catch (...) {
    if (!existed && fs::is_empty(out, ec)) fs::remove(out, ec);  // a first run that failed leaves nothing
    throw;
  }
}

int run_stages(const pq::cli::toolset& tools, const pipeline_args& a, bool have_bits, bool have_bytes,
               const pq::proxy::any_proxy& proxy) {
  const fs::path out = a.out;

  const std::string M = a.model;
  const std::string formats = join(a.formats);
  const std::string seq = std::to_string(a.seq_len), batch = std::to_string(a.batch),
                    threads = std::to_string(a.threads);
  auto p = [&](const char* name) { return (out / name).string(); };
  std::vector<std::string> token_opts;  // what probe, export and eval are told of the token files
  if (!a.domains.empty()) token_opts = {"--domains", a.domains};
  if (a.token_dtype != "uint16") token_opts.insert(token_opts.end(), {"--token-dtype", a.token_dtype});  // probe, export, eval
  auto with = [](std::vector<std::string> v, const std::vector<std::string>& more) {
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  std::vector<std::string> quiet;
  if (a.quiet) quiet = {"--quiet"};

  std::vector<std::string> probe_opts = token_opts;
  if (proxy.needs().contains<pq::stat::first_order>())  // taylor: the first-order term of every candidate format
    probe_opts.insert(probe_opts.end(), {"--first-order", formats});
  std::vector<stage> stages;
  stages.push_back({"probe",
                    with(with({"probe", "--model", M, "--calib", a.calib, "--out", p("stats.json"), "--seq-len", seq,
                               "--batch", batch, "--threads", threads},
                              probe_opts),
                         quiet),
                    {M, a.calib},
                    {p("stats.json"), p("stats.safetensors")},
                    {"--threads"}});
  std::vector<std::string> cost{"cost", "--model", M, "--formats", formats, "--proxies", a.proxy, "--out", p("costs.json")};
  std::vector<fs::path> cost_in{M};
  if (proxy.needs().contains<pq::stat::act_sse>()) {  // the activation-weighted SSE reads the probe's xtx_diag
    cost = with(cost, {"--stats", p("stats.json")});
    cost_in.insert(cost_in.end(), {p("stats.json"), p("stats.safetensors")});
  }
  stages.push_back({"cost", with(cost, quiet), cost_in, {p("costs.json")}, {}});
  std::vector<std::string> target;
  if (have_bits) target = {"--target-bits", fmt("%.17g", a.target_bits)};
  if (have_bytes) target = {"--target-bytes", std::to_string(a.target_bytes)};
  if (!a.sweep.empty()) target = {"--sweep", numbers(a.sweep)};
  const fs::path alloc = out / "allocation";
  const std::string lc = (alloc / "layer_config.json").string(), pm = (alloc / "layer_config.json.prune.json").string();
  std::vector<std::string> alloc_cmd{"allocate", "--stats", p("stats.json"), "--costs", p("costs.json"), "--model", M, "--out",
                                     alloc.string(), "--formats", formats, "--prune-ratios", numbers(a.prune_ratios), "--proxy",
                                     a.proxy, "--saliency", a.saliency, "--loader", a.loader};
  std::vector<fs::path> alloc_in{p("stats.json"), p("stats.safetensors"), p("costs.json"), p("costs.safetensors"), M};
  if (!a.alpha_fit.empty()) {
    alloc_cmd = with(alloc_cmd, {"--alpha-fit", a.alpha_fit});
    alloc_in.push_back(a.alpha_fit);
  }
  stages.push_back({"allocate", with(alloc_cmd, target), alloc_in,
                    {lc, pm, alloc / "pareto.csv", alloc / "allocation.json"},
                    {}});
  // The export also measures the held-out loss of exactly the weights it writes (--eval); GPTQ
  // calibrates on the calibration tokens, layer by layer through the exported layers.
  std::vector<std::string> ex{"export", "--model", M, "--layer-config", lc, "--prune-manifest", pm, "--out", p("checkpoint"),
                              "--rounding", a.rounding, "--loader", a.loader, "--weight-only", "--eval", a.eval,
                              "--eval-out", p("eval_allocation.json"), "--seq-len", seq, "--batch", batch, "--threads",
                              threads};
  std::vector<fs::path> ex_in{M, lc, pm, a.eval};
  if (a.rounding != "rtn") {
    ex = with(ex, {"--calib", a.calib});
    ex_in.push_back(a.calib);
  }
  stages.push_back({"export", with(with(ex, token_opts), quiet), ex_in,
                    {out / "checkpoint" / "config.json", p("eval_allocation.json")}, {"--threads"}});
  const std::vector<std::string> eval_common = with(
      with({"--model", M, "--tokens", a.eval, "--seq-len", seq, "--batch", batch, "--threads", threads}, token_opts), quiet);
  stages.push_back({"eval source", with(with({"eval"}, eval_common), {"--out", p("eval_source.json")}),
                    {M, a.eval},
                    {p("eval_source.json")},
                    {"--threads"}});
  runner r(tools, out, a.force, a.quiet);
  std::vector<std::pair<std::string, double>> times;
  for (std::size_t i = 0; i < stages.size(); ++i)
    times.emplace_back(stages[i].name, r.run(stages[i], static_cast<int>(i + 1), static_cast<int>(stages.size())));
  const std::string text = summary(a, out, times);
  pq::write_file_atomic(out / "summary.md", text);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

const pq::tool::registration reg{
    "pipeline",
    "The whole method: probe -> cost -> allocate (sweep + knee) -> export -> eval, each stage reused when unchanged",
    [](CLI::App& sub, const pq::cli::toolset& tools) -> std::function<int()> {
      namespace check = pq::cli::check;
      auto a = std::make_shared<pipeline_args>();
      const auto bits_range = check::number(0, 64, check::open_low);
      sub.add_option("--model", a->model, "checkpoint folder")->required()->check(check::existing_folder());
      sub.add_option("--calib", a->calib, "calibration token file ([rows, seq_len] ids, --token-dtype)")
          ->required()
          ->check(check::existing_file());
      sub.add_option("--eval", a->eval, "held-out token file ([rows, seq_len] ids, --token-dtype)")
          ->required()
          ->check(check::existing_file());
      sub.add_option("--out", a->out, "folder for every stage's outputs (created; reused on a rerun)")->required();
      sub.add_option("--formats", a->formats, "formats to consider, each one the checkpoint can store")
          ->delimiter(',')
          ->capture_default_str()
          ->check(check::one_of(pq::cli::toolset::name_list(tools.formats)));
      auto* bits = sub.add_option("--target-bits", a->target_bits, "one target: average bits per parameter")->check(bits_range);
      auto* bytes = sub.add_option("--target-bytes", a->target_bytes, "one target: bytes of Linear weights")
                        ->transform(check::integer(1, INT64_MAX));
      auto* sweep = sub.add_option("--sweep", a->sweep, "bit targets of the Pareto sweep (default 3 to 8); the knee is chosen")
                        ->delimiter(',')
                        ->check(bits_range);
      bits->excludes(bytes)->excludes(sweep);
      bytes->excludes(sweep);
      sub.add_option("--prune-ratios", a->prune_ratios, "global prune ratios to try (comma separated; default 0)")
          ->delimiter(',')
          ->check(check::number(0, 1, check::open_high));
      sub.add_option("--proxy", a->proxy, "Δloss proxy: " + pq::cli::toolset::names(tools.proxies))
          ->capture_default_str()
          ->check(check::one_of(pq::cli::toolset::name_list(tools.proxies)));
      sub.add_option("--saliency", a->saliency, "expert saliency: " + pq::cli::toolset::names(tools.saliencies))
          ->capture_default_str()
          ->check(check::one_of(pq::cli::toolset::name_list(tools.saliencies)));
      sub.add_option("--alpha-fit", a->alpha_fit,
                     "alpha_fit.csv of prismaquant validate: price expert drops with the alpha fitted for --saliency")
          ->check(check::existing_file());
      sub.add_option("--loader", a->loader, "what the served model must satisfy: vllm or transformers")
          ->capture_default_str()
          ->check(check::one_of({"vllm", "transformers"}));
      sub.add_option("--rounding", a->rounding, "export rounding: rtn, or gptq / gptq+sweep calibrated on --calib")
          ->capture_default_str()
          ->check(check::one_of({"rtn", "gptq", "gptq+sweep"}));
      sub.add_option("--domains", a->domains, "split both token files' rows into equal domains, e.g. code,prose,math");
      namespace eopt = pq::cli::engine_option;
      pq::cli::add_engine_options(sub, *a, eopt::token_dtype | eopt::seq_len | eopt::batch | eopt::threads,
                                  {.rows = "the token files"});
      sub.add_flag("--force", a->force, "run every stage, even those whose inputs are unchanged");
      sub.add_flag("--quiet", a->quiet, "no progress on stderr");
      return [a, bits, bytes, &tools] { return run_pipeline(tools, *a, bits->count() > 0, bytes->count() > 0); };
    }};

}  // namespace
