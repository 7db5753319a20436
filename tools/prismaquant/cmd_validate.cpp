// `prismaquant validate --model DIR --stats STATS --costs COSTS --eval TOKENS --out DIR
//    [--formats ...] [--proxies ...] [--saliencies ...] [--prune-ratios 0.125,0.25] [--allocations 20]
//    [--random 20] [--random-bits B] [--experts N] [--rows N] [--parts proxy,saliency,allocation,additivity]`
//
// Predicted against measured Δloss on held-out tokens (docs/validation.md):
//   proxy       every allocation item (a fused group, an MoE layer's projection group) quantized
//               alone to each format, measured at the error ΔW and at its mirror −ΔW: the mean of
//               the two is the second-order term the proxies predict, half their difference the
//               first-order term ⟨∇L, ΔW⟩ they ignore. Spearman and Pearson per proxy, pooled and
//               per format.
//   saliency    every expert dropped alone (Spearman per layer and pooled, per saliency score),
//               and at each prune ratio the set each score drops, measured.
//   allocation  allocations along the Pareto curve and random feasible allocations at one
//               budget, predicted vs measured; the allocation at uniform NVFP4's bytes against
//               uniform NVFP4.
//   additivity  quantization alone, pruning alone and both: do the Δloss add up?
// Every measurement is `eval`'s loss (engine/cached_eval.hpp reuses the source's activations up
// to the first changed layer). Writes CSV files, SVG plots, validate.json and summary.md.
#include "command.hpp"

#include <prismaquant/allocate/allocate.hpp>
#include <prismaquant/allocate/inputs.hpp>
#include <prismaquant/allocate/sweep.hpp>
#include <prismaquant/cli/engine_options.hpp>
#include <prismaquant/cli/toolset.hpp>
#include <prismaquant/engine/cached_eval.hpp>
#include <prismaquant/engine/scaled_error_weights.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/io/output_set.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/proxies/calibrated_gain.hpp>
#include <prismaquant/proxies/registry.hpp>
#include <prismaquant/saliency/scores.hpp>
#include <prismaquant/validate/correlation.hpp>
#include <prismaquant/validate/scatter_svg.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace pq = prismaquant;
namespace pa = prismaquant::allocate;
namespace pv = prismaquant::validate;
namespace fs = std::filesystem;

namespace {

struct validate_args : pq::cli::engine_args {
  std::string model, stats, costs, eval, out;
  std::vector<std::string> formats, proxies, saliencies, allocation_formats;
  std::vector<std::string> parts{"proxy", "saliency", "allocation", "additivity"};
  std::vector<double> prune_ratios{0.125, 0.25};
  std::string proxy = "fisher_trace", saliency = "reap_dropout", domain_policy = "pooled";
  double alpha = 0.15, random_bits = -1;
  int allocations = 20, random = 20, experts = 0;
  std::int64_t rows = 0;
  std::uint64_t seed = 1;
  bool quiet = false;
};

// The formats validated by default: the coarse ones, where quantization error is large enough
// for the second-order term to matter, and NVFP4, the method's main format.
using validated_formats = pq::formats::format_list<pq::formats::nvfp4, pq::formats::mxfp4, pq::formats::int4_w4a16_g128,
                                                    pq::formats::int3_g16, pq::formats::int2_g16>;
const std::vector<std::string> default_formats = pq::formats::names_of<validated_formats>();

// What the allocations choose from by default besides the validated formats: the pipeline's.
const std::vector<std::string> allocation_defaults = pq::formats::names_of<pq::formats::pipeline_formats>();

std::string g(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
std::string f4(double v) {
  if (!std::isfinite(v)) return "n/a";
  char b[40];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

class progress {
 public:
  explicit progress(bool quiet) : quiet_(quiet), t0_(std::chrono::steady_clock::now()) {}
  void operator()(const std::string& part, std::size_t i, std::size_t n, const std::string& what) const {
    if (quiet_) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    std::fprintf(stderr, "\rvalidate %s [%zu/%zu] %-60.60s %6.0f s", part.c_str(), i, n, what.c_str(), s);
    if (i == n) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
  void line(const std::string& s) const {
    if (!quiet_) std::fprintf(stderr, "validate: %s\n", s.c_str());
  }

 private:
  bool quiet_;
  std::chrono::steady_clock::time_point t0_;
};

// Evenly spaced rows of a token file (all rows when n is 0 or ≥ the rows): a smaller held-out
// set that still spans every domain of a file whose domains are consecutive blocks.
fs::path subset_tokens(const fs::path& tokens, std::int64_t seq_len, int token_bytes, std::int64_t n, const fs::path& to) {
  const auto size = fs::file_size(tokens);
  const std::uint64_t row_bytes = static_cast<std::uint64_t>(seq_len) * static_cast<std::uint64_t>(token_bytes);
  if (size % row_bytes) return tokens;  // eval's reader reports it
  const std::int64_t rows = static_cast<std::int64_t>(size / row_bytes);
  if (n <= 0 || n >= rows) return tokens;
  std::ifstream in(tokens, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string sub;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t r = i * rows / n;
    sub.append(all, static_cast<std::size_t>(r) * row_bytes, row_bytes);
  }
  pq::write_file_atomic(to, sub);
  return to;
}

// One allocation item of the ratio-0 problem: its Linears (module names), its layer, and per
// proxy, per format, the predicted Δloss.
struct item {
  std::string name;
  std::vector<std::string> modules;
  int layer = -1;
  std::int64_t params = 0;
  std::map<std::string, std::int64_t> bytes;                        // per format
  std::map<std::string, std::map<std::string, double>> predicted;  // proxy -> format -> Δloss
};

std::vector<std::string> item_modules(const pa::built_problem& bp, std::size_t i, const pq::model::model_description& d) {
  std::vector<std::string> m;
  const auto& inf = bp.info[i];
  if (!inf.moe) {
    for (int k : inf.members) m.push_back(d.linears[static_cast<std::size_t>(k)].name);
    return m;
  }
  const auto& layer = d.moe_layers[static_cast<std::size_t>(inf.moe_layer)];
  const int lo = inf.expert >= 0 ? inf.expert : 0, hi = inf.expert >= 0 ? inf.expert + 1 : layer.num_experts;
  for (int e = lo; e < hi; ++e)
    for (int s : inf.slots) m.push_back(d.linears[static_cast<std::size_t>(layer.experts[static_cast<std::size_t>(e)][static_cast<std::size_t>(s)])].name);
  return m;
}

struct context {
  const validate_args& a;
  const pq::model::opened_model& model;
  const pa::inputs& in;
  std::vector<pq::formats::format_entry> fmts;  // considered (validated ∪ what allocations use)
  pq::engine::cached_eval& ce;
  const progress& say;
  std::map<std::string, int> layer_of_router;
};

int layer_of(const pq::model::model_description& d, const std::string& module) {
  const auto* l = d.find(module);
  return l ? l->layer : -1;
}

std::vector<std::vector<std::uint8_t>> masks_for(const context& c, const std::map<std::string, std::vector<int>>& pruned) {
  std::vector<std::vector<std::uint8_t>> m(static_cast<std::size_t>(c.ce.layers()));
  for (const auto& [router, ids] : pruned) {
    const auto it = c.layer_of_router.find(router);
    if (it == c.layer_of_router.end()) throw pq::error("validate", "router " + router + " is not a layer of the model");
    auto& v = m[static_cast<std::size_t>(it->second)];
    v.assign(static_cast<std::size_t>(c.ce.arch().experts), 1);
    for (int j : ids) v[static_cast<std::size_t>(j)] = 0;
  }
  return m;
}

std::vector<int> all_layers(const context& c) {
  std::vector<int> v(static_cast<std::size_t>(c.ce.layers()));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Measured Δloss of a whole allocation: every Linear of `formats` through its round trip, the
// experts of `pruned` unrouted.
double measure_allocation(const context& c, const std::map<std::string, std::string>& formats,
                          const std::map<std::string, std::vector<int>>& pruned) {
  const pq::engine::round_trip_weights rt(*c.model.weights, c.model.description, formats);
  return c.ce.loss(rt, formats.empty() ? std::vector<int>{} : all_layers(c), masks_for(c, pruned)) - c.ce.source_loss();
}

// ---- proxy fidelity ---------------------------------------------------------------------------

struct proxy_part {
  std::vector<std::string> proxies;  // those the files support, in order
  std::vector<std::string> notes;
  std::vector<item> items;
  struct row {
    std::size_t item;
    std::string fmt;
    double plus = 0, minus = 0;
    double first() const { return 0.5 * (plus - minus); }
    double second() const { return 0.5 * (plus + minus); }
  };
  std::vector<row> rows;
};

proxy_part build_items(const context& c, const std::vector<pq::proxy::any_proxy>& proxies, const pa::options& o) {
  proxy_part p;
  const auto score = pq::saliency::saliency_by_name(c.a.saliency);
  for (const auto& px : proxies) {
    pa::built_problem bp;
    try {
      bp = pa::candidate_builder(c.in, c.fmts, px, score, o).build(0.0);
    } catch (const pq::error& e) {
      p.notes.push_back(std::string(px.name()) + " left out: " + e.what());
      continue;
    }
    p.proxies.emplace_back(px.name());
    if (p.items.empty()) {
      for (std::size_t i = 0; i < bp.problem.items.size(); ++i) {
        item it;
        it.name = bp.problem.items[i].name;
        it.modules = item_modules(bp, i, c.model.description);
        it.params = bp.problem.items[i].n_params;
        std::set<int> layers;
        for (const auto& m : it.modules) layers.insert(layer_of(c.model.description, m));
        it.layer = layers.size() == 1 ? *layers.begin() : -1;
        for (const auto& cd : bp.problem.items[i].candidates) it.bytes[cd.fmt] = cd.memory_bytes;
        p.items.push_back(std::move(it));
      }
    }
    for (std::size_t i = 0; i < bp.problem.items.size(); ++i)
      for (const auto& cd : bp.problem.items[i].candidates) p.items[i].predicted[std::string(px.name())][cd.fmt] = cd.dloss;
  }
  if (p.proxies.empty()) throw pq::error("validate", "no proxy can price these files: " + (p.notes.empty() ? "" : p.notes[0]));
  return p;
}

void measure_items(const context& c, proxy_part& p, const std::vector<std::string>& formats) {
  std::vector<std::pair<std::size_t, std::string>> todo;
  for (std::size_t i = 0; i < p.items.size(); ++i) {
    if (p.items[i].layer < 0) {
      p.notes.push_back("item " + p.items[i].name + " is not within one decoder layer: not measured");
      continue;
    }
    for (const auto& f : formats)
      if (p.items[i].bytes.count(f)) todo.emplace_back(i, f);
  }
  std::size_t k = 0;
  for (const auto& [i, f] : todo) {
    const auto& it = p.items[i];
    c.say("proxy", ++k, todo.size(), it.name + " " + f);
    std::map<std::string, std::string> fm;
    for (const auto& m : it.modules) fm[m] = f;
    proxy_part::row r{i, f};
    for (double s : {1.0, -1.0}) {
      const pq::engine::scaled_error_weights w(*c.model.weights, c.model.description, fm, s);
      (s > 0 ? r.plus : r.minus) = c.ce.loss(w, {it.layer}) - c.ce.source_loss();
    }
    p.rows.push_back(r);
  }
}

struct corr {
  std::size_t n = 0;
  double spearman = NAN, pearson = NAN;
};
corr correlate(const std::vector<double>& x, const std::vector<double>& y) {
  corr c;
  c.n = x.size();
  if (x.size() >= 3) {
    c.spearman = pv::spearman(x, y);
    c.pearson = pv::pearson(x, y);
  }
  return c;
}

// ---- saliency fidelity ------------------------------------------------------------------------

struct saliency_part {
  std::vector<std::string> saliencies;
  std::vector<std::string> notes;
  struct expert_row {
    int moe = 0, layer = 0, expert = 0;
    double measured = 0;
    std::map<std::string, double> score;
  };
  std::vector<expert_row> experts;
  struct set_row {
    double ratio = 0;
    int dropped = 0;
    std::string saliency;
    double measured = 0, predicted = 0;
  };
  std::vector<set_row> sets;
};

saliency_part run_saliency(const context& c, const std::vector<pq::saliency::any_saliency>& scores) {
  saliency_part p;
  const auto& d = c.model.description;
  const auto policy = pq::saliency::domain_policy_by_name(c.a.domain_policy);
  std::vector<std::map<std::string, pq::saliency::expert_ranking>> rank(d.moe_layers.size());
  for (const auto& s : scores) {
    bool ok = true;
    for (std::size_t li = 0; li < d.moe_layers.size() && ok; ++li) {
      const auto r = c.in.stats.routers.find(d.moe_layers[li].router);
      if (r == c.in.stats.routers.end()) {
        p.notes.push_back("router " + d.moe_layers[li].router + " has no statistics: saliency not validated");
        return p;
      }
      try {
        rank[li][std::string(s.name())] = pq::saliency::rank_experts(r->second, s, policy);
      } catch (const pq::error& e) {
        p.notes.push_back(std::string(s.name()) + " left out: " + e.what());
        ok = false;
      }
    }
    if (ok) p.saliencies.emplace_back(s.name());
  }
  std::vector<std::pair<int, int>> todo;  // (moe layer, expert)
  for (std::size_t li = 0; li < d.moe_layers.size(); ++li) {
    const int n = c.a.experts > 0 ? std::min(c.a.experts, d.moe_layers[li].num_experts) : d.moe_layers[li].num_experts;
    for (int e = 0; e < n; ++e) todo.emplace_back(static_cast<int>(li), e);
  }
  const pq::engine::source_weights src(*c.model.weights);
  std::size_t k = 0;
  for (const auto& [li, e] : todo) {
    const auto& L = d.moe_layers[static_cast<std::size_t>(li)];
    c.say("saliency", ++k, todo.size(), L.router + " expert " + std::to_string(e));
    saliency_part::expert_row r;
    r.moe = li;
    r.layer = c.layer_of_router.at(L.router);
    r.expert = e;
    r.measured = measure_allocation(c, {}, {{L.router, {e}}});
    for (const auto& s : p.saliencies) r.score[s] = rank[static_cast<std::size_t>(li)].at(s).score[static_cast<std::size_t>(e)];
    p.experts.push_back(std::move(r));
  }
  // The set each score drops at each ratio, and a random set of the same size.
  std::mt19937_64 rng(c.a.seed);
  std::vector<std::tuple<double, std::string>> sets;
  for (double ratio : c.a.prune_ratios) {
    if (ratio <= 0) continue;
    for (const auto& s : p.saliencies) sets.emplace_back(ratio, s);
    sets.emplace_back(ratio, "random");
  }
  k = 0;
  for (const auto& [ratio, s] : sets) {
    c.say("prune sets", ++k, sets.size(), "ratio " + g(ratio) + " " + s);
    std::map<std::string, std::vector<int>> pruned;
    saliency_part::set_row r{ratio, 0, s};
    bool ok = true;
    for (std::size_t li = 0; li < d.moe_layers.size(); ++li) {
      const auto& L = d.moe_layers[li];
      const int n = pa::candidate_builder::drops_at(ratio, L);
      if (n < 0) ok = false;
      if (n <= 0) continue;
      r.dropped = n;
      std::vector<int> ids;
      if (s == "random") {
        std::vector<int> all(static_cast<std::size_t>(L.num_experts));
        std::iota(all.begin(), all.end(), 0);
        std::shuffle(all.begin(), all.end(), rng);
        ids.assign(all.begin(), all.begin() + n);
        std::sort(ids.begin(), ids.end());
      } else {
        const auto& rk = rank[li].at(s);
        ids = rk.prune_set(n);
        for (int j : ids) r.predicted += c.a.alpha * rk.score[static_cast<std::size_t>(j)];
      }
      pruned[L.router] = ids;
    }
    if (!ok) {
      p.notes.push_back("prune ratio " + g(ratio) + " keeps fewer than top_k experts: skipped");
      continue;
    }
    r.measured = measure_allocation(c, {}, pruned);
    if (s == "random") r.predicted = NAN;
    p.sets.push_back(r);
  }
  return p;
}

// ---- allocation fidelity and additivity -------------------------------------------------------

struct allocation_part {
  struct row {
    std::string kind;  // pareto, random, uniform, matched
    double target_bits = 0, bits = 0, ratio = 0;
    std::int64_t bytes = 0;
    double predicted = 0, measured = 0;
    bool knee = false;
    std::map<std::string, double> base_by_format;  // Σ base-proxy Δloss per format (calibration)
  };
  std::vector<row> rows;
  std::vector<std::string> notes;
  struct additive {
    double ratio = 0, quant = 0, prune = 0, joint = 0;
  };
  std::vector<additive> additivity;
  double random_bits = 0;
};

allocation_part run_allocations(const context& c, const pa::options& o, bool additivity, bool allocations) {
  allocation_part p;
  const auto proxy = pq::proxy::proxy_by_name(c.a.proxy);
  const auto score = pq::saliency::saliency_by_name(c.a.saliency);
  std::vector<double> ratios{0.0};
  for (double r : c.a.prune_ratios) ratios.push_back(r);
  pa::joint_allocator ja(pa::candidate_builder(c.in, c.fmts, proxy, score, o), ratios);
  pa::joint_allocator ja0(pa::candidate_builder(c.in, c.fmts, proxy, score, o), std::vector<double>{0.0});
  const auto& table = ja.builder().linear_table();
  const double P = static_cast<double>(ja.total_params());
  auto base_by_format = [&](const pa::allocation_result& r) {
    std::map<std::string, double> m;
    for (const auto& [mod, f] : r.layer_formats) m[f] += table.at(mod).at(f).dloss;
    return m;
  };
  // Uniform NVFP4 (every item that can take it) and the allocation at its bytes.
  const auto b0 = ja0.builder().build(0.0);
  std::map<std::string, std::string> uniform;
  std::int64_t uniform_bytes = 0;
  double uniform_pred = 0;
  bool uniform_ok = true;
  for (std::size_t i = 0; i < b0.problem.items.size(); ++i) {
    const auto& cs = b0.problem.items[i].candidates;
    const auto it = std::find_if(cs.begin(), cs.end(), [](const auto& cd) { return cd.fmt == pq::formats::nvfp4::name; });
    if (it == cs.end()) {
      uniform_ok = false;
      break;
    }
    uniform_bytes += it->memory_bytes;
    uniform_pred += it->dloss;
    for (const auto& m : item_modules(b0, i, c.model.description)) uniform[m] = pq::formats::nvfp4::name;
  }
  std::vector<std::function<void()>> jobs;
  std::vector<std::string> names;
  if (allocations) {
    const double lo = 8.0 * static_cast<double>(ja.min_bytes()) / P, hi = std::max(lo + 1.0, 8.25);
    const int n = c.a.allocations;
    for (int i = 0; i < n; ++i) {
      const double bits = n == 1 ? lo : lo + (hi - lo) * i / (n - 1);
      names.push_back("pareto " + g(bits) + " bits");
      jobs.push_back([&, bits] {
        const auto r = ja.solve_bytes(std::max(ja.min_bytes(), static_cast<std::int64_t>(std::floor(bits * P / 8.0))));
        allocation_part::row row{"pareto", bits, r.sol.achieved_bits, r.ratio, r.sol.total_bytes, r.sol.dloss, 0.0, false, {}};
        row.base_by_format = base_by_format(r);
        row.measured = measure_allocation(c, r.layer_formats, r.pruned);
        p.rows.push_back(row);
      });
    }
    p.random_bits = c.a.random_bits > 0 ? c.a.random_bits : uniform_ok ? 8.0 * static_cast<double>(uniform_bytes) / P : 0.5 * (lo + hi);
    const std::int64_t budget = static_cast<std::int64_t>(std::floor(p.random_bits * P / 8.0));
    if (budget < pq::solvers::min_total_bytes(pq::solvers::flatten(b0.problem))) {
      p.notes.push_back("--random-bits " + g(p.random_bits) + " is below the smallest size at ratio 0: no random allocations");
    } else {
      std::mt19937_64 rng(c.a.seed);
      for (int k = 0; k < c.a.random; ++k) {
        // A uniformly random choice per item, then random items moved to their next smaller
        // candidate until the budget holds.
        std::vector<int> choice(b0.problem.items.size());
        std::int64_t bytes = 0;
        for (std::size_t i = 0; i < choice.size(); ++i) {
          const auto& cs = b0.problem.items[i].candidates;
          choice[i] = static_cast<int>(rng() % cs.size());
          bytes += cs[static_cast<std::size_t>(choice[i])].memory_bytes;
        }
        while (bytes > budget) {
          const std::size_t i = rng() % choice.size();
          const auto& cs = b0.problem.items[i].candidates;
          int best = -1;
          for (std::size_t j = 0; j < cs.size(); ++j)
            if (cs[j].memory_bytes < cs[static_cast<std::size_t>(choice[i])].memory_bytes &&
                (best < 0 || cs[j].memory_bytes > cs[static_cast<std::size_t>(best)].memory_bytes))
              best = static_cast<int>(j);
          if (best < 0) continue;
          bytes += cs[static_cast<std::size_t>(best)].memory_bytes - cs[static_cast<std::size_t>(choice[i])].memory_bytes;
          choice[i] = best;
        }
        std::map<std::string, std::string> fm;
        allocation_part::row row{"random", p.random_bits, 8.0 * static_cast<double>(bytes) / P, 0.0, bytes, 0.0, 0.0, false, {}};
        for (std::size_t i = 0; i < choice.size(); ++i) {
          const auto& cd = b0.problem.items[i].candidates[static_cast<std::size_t>(choice[i])];
          row.predicted += cd.dloss;
          for (const auto& m : item_modules(b0, i, c.model.description)) {
            fm[m] = cd.fmt;
            row.base_by_format[cd.fmt] += table.at(m).at(cd.fmt).dloss;
          }
        }
        names.push_back("random " + std::to_string(k + 1));
        jobs.push_back([&, fm, row]() mutable {
          row.measured = measure_allocation(c, fm, {});
          p.rows.push_back(row);
        });
      }
    }
    if (uniform_ok) {
      names.push_back("uniform NVFP4");
      jobs.push_back([&] {
        allocation_part::row row{"uniform", 8.0 * static_cast<double>(uniform_bytes) / P,
                                 8.0 * static_cast<double>(uniform_bytes) / P, 0.0, uniform_bytes, uniform_pred, 0.0, false, {}};
        for (const auto& [m, f] : uniform) row.base_by_format[f] += table.at(m).at(f).dloss;
        row.measured = measure_allocation(c, uniform, {});
        p.rows.push_back(row);
      });
      names.push_back("allocation at uniform NVFP4's bytes");
      jobs.push_back([&] {
        const auto r = ja.solve_bytes(uniform_bytes);
        allocation_part::row row{"matched", r.target_bits, r.sol.achieved_bits, r.ratio, r.sol.total_bytes, r.sol.dloss, 0.0, false, {}};
        row.base_by_format = base_by_format(r);
        row.measured = measure_allocation(c, r.layer_formats, r.pruned);
        p.rows.push_back(row);
      });
    } else {
      p.notes.push_back("NVFP4 is not a candidate of every item: no uniform NVFP4 comparison");
    }
  }
  if (additivity && uniform_ok) {
    for (double ratio : c.a.prune_ratios) {
      if (ratio <= 0 || !ja.builder().ratio_allowed(ratio)) continue;
      names.push_back("additivity at ratio " + g(ratio));
      jobs.push_back([&, ratio] {
        // Quantization: the ratio-0 allocation at uniform NVFP4's bytes; pruning: the set the
        // allocation's saliency drops at this ratio.
        const auto q = ja0.solve_bytes(uniform_bytes);
        const auto bp = ja.builder().build(ratio);
        std::map<std::string, std::vector<int>> pruned;
        for (std::size_t i = 0; i < bp.problem.items.size(); ++i)
          if (bp.info[i].moe && !bp.problem.items[i].candidates.empty() &&
              !bp.problem.items[i].candidates[0].pruned_expert_ids.empty())
            pruned[c.model.description.moe_layers[static_cast<std::size_t>(bp.info[i].moe_layer)].router] =
                bp.problem.items[i].candidates[0].pruned_expert_ids;
        allocation_part::additive a{ratio};
        a.quant = measure_allocation(c, q.layer_formats, {});
        a.prune = measure_allocation(c, {}, pruned);
        a.joint = measure_allocation(c, q.layer_formats, pruned);
        p.additivity.push_back(a);
      });
    }
  }
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    c.say("allocation", k + 1, jobs.size(), names[k]);
    jobs[k]();
  }
  // The knee of the Pareto rows (on predicted Δloss, as allocate chooses it).
  std::vector<pa::allocation_result> pr;
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < p.rows.size(); ++i)
    if (p.rows[i].kind == "pareto") {
      pa::allocation_result r;
      r.feasible = true;
      r.sol.achieved_bits = p.rows[i].bits;
      r.sol.dloss = p.rows[i].predicted;
      pr.push_back(r);
      idx.push_back(i);
    }
  if (const int k = pa::pareto_knee(pr, o.knee); k >= 0) p.rows[idx[static_cast<std::size_t>(k)]].knee = true;
  return p;
}

}  // namespace

namespace {

std::vector<std::string> format_names() { return pq::cli::toolset::name_list(pq::formats::registry()); }

std::string csv_join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

int run_validate(const validate_args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const progress say(a.quiet);
  auto want = [&](const char* part) { return std::find(a.parts.begin(), a.parts.end(), part) != a.parts.end(); };
  // Names first: a typo fails before any work.
  std::vector<pq::proxy::any_proxy> proxies;
  for (const auto& n : a.proxies.empty() ? pq::proxy::proxy_names() : a.proxies) proxies.push_back(pq::proxy::proxy_by_name(n));
  std::vector<pq::saliency::any_saliency> scores;
  for (const auto& n : a.saliencies.empty() ? pq::saliency::saliency_names() : a.saliencies)
    scores.push_back(pq::saliency::saliency_by_name(n));
  pq::proxy::proxy_by_name(a.proxy);
  pq::saliency::saliency_by_name(a.saliency);
  pa::options o;
  o.alpha = a.alpha;
  o.domain_policy = pq::saliency::domain_policy_by_name(a.domain_policy);
  pq::output_set out(a.out, pq::publish_mode::replace_files, {}, "--out " + a.out);

  const auto model = pq::model::open_model(a.model);
  pa::inputs in = pa::read_inputs(a.stats, a.costs, a.model);
  const auto known = pq::formats::registry();
  auto fmts = pa::formats_considered(in.costs, a.costs, known, {});
  {  // what allocations choose from: the pipeline's formats and the validated ones, or as given
    std::set<std::string> allowed(a.allocation_formats.begin(), a.allocation_formats.end());
    if (allowed.empty()) {
      allowed.insert(allocation_defaults.begin(), allocation_defaults.end());
      allowed.insert(a.formats.begin(), a.formats.end());
      if (a.formats.empty()) allowed.insert(default_formats.begin(), default_formats.end());
    }
    for (const auto& f : a.allocation_formats)
      if (!std::any_of(fmts.begin(), fmts.end(), [&](const auto& e) { return e.name == f; }))
        throw pq::error("--allocation-formats", f + " is not in the costs file " + a.costs);
    std::erase_if(fmts, [&](const auto& e) { return !allowed.count(std::string(e.name)); });
  }
  std::vector<std::string> validated;
  std::vector<std::string> notes;
  for (const auto& f : a.formats.empty() ? default_formats : a.formats) {
    const bool have = std::any_of(fmts.begin(), fmts.end(), [&](const auto& e) { return e.name == f; });
    if (have) validated.push_back(f);
    else if (!a.formats.empty()) throw pq::error("--formats", f + " is not in the costs file " + a.costs + " (measure it with `prismaquant cost --formats all`)");
    else notes.push_back("default format " + f + " is not in the costs file: not validated");
  }
  if (want("proxy") && validated.empty()) throw pq::error("--formats", "no format to validate is in the costs file");

  pq::engine::eval_options eo;
  eo.seq_len = a.seq_len;
  eo.batch_rows = a.batch;
  eo.token_bytes = a.token_bytes();
  eo.threads = static_cast<unsigned>(a.threads);
  eo.max_memory = a.max_memory_bytes();
  const fs::path tokens = subset_tokens(a.eval, a.seq_len, eo.token_bytes, a.rows, out.path("validate_tokens.bin"));
  const pq::nn::cblas_gemm gemm;
  say.line("source forward over " + tokens.filename().string() + " (every layer's input kept)");
  pq::engine::cached_eval ce(model, tokens, eo, gemm);
  if (tokens != fs::path(a.eval)) fs::remove(tokens);
  say.line("source loss " + g(ce.source_loss()) + " over " + std::to_string(ce.positions()) + " positions");

  context c{a, model, in, fmts, ce, say, {}};
  for (const auto& L : model.description.moe_layers) c.layer_of_router[L.router] = L.layer;

  nlohmann::json J;
  J["format"] = "prismaquant.validate";
  J["version"] = 1;
  J["model"] = a.model;
  J["eval"] = {{"tokens", a.eval}, {"rows", ce.rows()}, {"positions", ce.positions()}, {"source_loss", ce.source_loss()}};
  std::ostringstream md;
  md << "# prismaquant validate: " << a.model << "\n\n"
     << "Held-out tokens: " << a.eval << ", " << ce.rows() << " rows, " << ce.positions()
     << " predicted positions; source loss " << g(ce.source_loss()) << " nats. Every measured Δloss is the loss of the "
     << "changed model minus the source's, on these tokens.\n\n";

  // ---- proxy ----
  allocation_part alloc;
  const bool run_alloc = want("allocation") || want("additivity");
  if (run_alloc) alloc = run_allocations(c, o, want("additivity"), want("allocation"));
  if (want("proxy")) {
    auto p = build_items(c, proxies, o);
    measure_items(c, p, validated);
    // calibrated_gain of the allocation proxy, fit by NNLS to the measured allocations.
    // The gains depend only on the measurements and the base Δloss sums; the base type is a placeholder.
    std::optional<pq::proxy::calibrated_gain<pq::proxy::fisher_trace>> cal;
    std::vector<pq::proxy::dloss_measurement> pts;
    for (const auto& r : alloc.rows)
      if (r.kind == "pareto" || r.kind == "random") pts.push_back({r.base_by_format, r.measured});
    std::string cal_name;
    if (pts.size() >= 2 && std::find(p.proxies.begin(), p.proxies.end(), a.proxy) != p.proxies.end()) {
      cal = pq::proxy::calibrated_gain<pq::proxy::fisher_trace>::fit(pts);
      cal_name = "calibrated_gain(" + a.proxy + ")";
    }
    std::string csv = "item,layer,format,params,bytes,measured,mirror,first_order,second_order";
    for (const auto& px : p.proxies) csv += ",pred_" + px;
    if (cal) csv += ",pred_calibrated_gain";
    csv += "\n";
    std::map<std::string, std::map<std::string, std::vector<double>>> pred;  // proxy -> format|"all" -> values
    std::map<std::string, std::vector<double>> meas, second;
    for (const auto& r : p.rows) {
      const auto& it = p.items[r.item];
      csv += "\"" + it.name + "\"," + std::to_string(it.layer) + "," + r.fmt + "," + std::to_string(it.params) + "," +
             std::to_string(it.bytes.at(r.fmt)) + "," + g(r.plus) + "," + g(r.minus) + "," + g(r.first()) + "," + g(r.second());
      for (const auto& px : p.proxies) {
        const double v = it.predicted.at(px).at(r.fmt);
        csv += "," + g(v);
        for (const std::string& k : {r.fmt, std::string("all")}) pred[px][k].push_back(v);
      }
      if (cal) {
        const double v = cal->gain(r.fmt) * it.predicted.at(a.proxy).at(r.fmt);
        csv += "," + g(v);
        for (const std::string& k : {r.fmt, std::string("all")}) pred[cal_name][k].push_back(v);
      }
      csv += "\n";
      for (const std::string& k : {r.fmt, std::string("all")}) {
        meas[k].push_back(r.plus);
        second[k].push_back(r.second());
      }
    }
    out.write("items.csv", csv);
    std::vector<std::string> names = p.proxies;
    if (cal) names.push_back(cal_name);
    std::vector<std::string> groups{"all"};
    for (const auto& f : validated)
      if (meas.count(f)) groups.push_back(f);
    std::string cc = "proxy,format,n,spearman_measured,pearson_measured,spearman_second_order,pearson_second_order\n";
    md << "## Proxy fidelity: each item quantized alone\n\n"
       << p.items.size() << " allocation items × " << validated.size() << " formats (" << csv_join(validated) << "), "
       << p.rows.size() << " measured pairs, each at the error ΔW and at its mirror −ΔW (items.csv). The mean of the two is "
       << "the second-order term ½·ΔWᵀHΔW the proxies model; half their difference the first-order term ⟨∇L, ΔW⟩.\n\n"
       << "| proxy | format | n | Spearman (measured) | Pearson (measured) | Spearman (2nd order) | Pearson (2nd order) |\n"
       << "|---|---|---:|---:|---:|---:|---:|\n";
    J["proxy"] = nlohmann::json::array();
    for (const auto& px : names)
      for (const auto& gname : groups) {
        const auto m = correlate(pred[px][gname], meas[gname]);
        const auto s = correlate(pred[px][gname], second[gname]);
        cc += px + "," + gname + "," + std::to_string(m.n) + "," + g(m.spearman) + "," + g(m.pearson) + "," + g(s.spearman) +
              "," + g(s.pearson) + "\n";
        md << "| " << px << " | " << gname << " | " << m.n << " | " << f4(m.spearman) << " | " << f4(m.pearson) << " | "
           << f4(s.spearman) << " | " << f4(s.pearson) << " |\n";
        J["proxy"].push_back({{"proxy", px}, {"format", gname}, {"n", m.n}, {"spearman_measured", num(m.spearman)},
                              {"pearson_measured", num(m.pearson)}, {"spearman_second_order", num(s.spearman)},
                              {"pearson_second_order", num(s.pearson)}});
      }
    out.write("proxy_correlation.csv", cc);
    // The first-order term against the second-order one, per format; and, when the probe measured
    // it (taylor = fisher_trace + the calibration gradient's term), how well that term predicts
    // the held-out one.
    const bool probe_first = std::count(p.proxies.begin(), p.proxies.end(), "taylor") &&
                             std::count(p.proxies.begin(), p.proxies.end(), "fisher_trace");
    md << "\n| format | mean measured Δloss | mean 1st-order term | mean 2nd-order term | items where the 1st-order term is the "
          "larger | Spearman, probe's 1st-order term vs measured | Pearson, same |\n"
       << "|---|---:|---:|---:|---:|---:|---:|\n";
    J["first_order"] = nlohmann::json::array();
    for (const auto& gname : groups) {
      double m = 0, f1 = 0, f2 = 0;
      int dom = 0, n = 0;
      std::vector<double> probed, measured;
      for (const auto& r : p.rows)
        if (gname == "all" || r.fmt == gname) {
          m += r.plus, f1 += r.first(), f2 += r.second(), ++n;
          dom += std::fabs(r.first()) > std::fabs(r.second());
          if (probe_first) {
            const auto& pr = p.items[r.item].predicted;
            probed.push_back(pr.at("taylor").at(r.fmt) - pr.at("fisher_trace").at(r.fmt));
            measured.push_back(r.first());
          }
        }
      const corr c1 = probe_first ? correlate(probed, measured) : corr{};
      const double sp = c1.spearman, pe = c1.pearson;
      md << "| " << gname << " | " << g(m / n) << " | " << g(f1 / n) << " | " << g(f2 / n) << " | " << dom << " of " << n << " | "
         << f4(sp) << " | " << f4(pe) << " |\n";
      J["first_order"].push_back({{"format", gname}, {"mean_measured", m / n}, {"mean_first_order", f1 / n},
                                  {"mean_second_order", f2 / n}, {"first_dominates", dom}, {"n", n},
                                  {"spearman_probe_first_order", num(sp)}, {"pearson_probe_first_order", num(pe)}});
    }
    if (cal) {
      md << "\n" << cal_name << ": per-format gains fit by NNLS to the measured allocations below (";
      for (const auto& [f, v] : cal->gains) md << f << " " << g(v) << "; ";
      md << "residual " << g(cal->residual_norm) << ").\n";
    }
    // The allocations' proxy, or the first one the files support if they cannot price it.
    const std::string plotted =
        std::find(p.proxies.begin(), p.proxies.end(), a.proxy) != p.proxies.end() ? a.proxy : p.proxies.front();
    pv::scatter_plot sp{"Proxy fidelity: " + plotted + " vs measured second-order term",
                        "predicted Δloss (" + plotted + ", nats)", "measured (Δ(+ΔW) + Δ(−ΔW))/2 (nats)", true, true, true, {}};
    for (std::size_t gi = 1; gi < groups.size(); ++gi) {
      pv::scatter_series s{groups[gi], {}, {}};
      for (const auto& r : p.rows)
        if (r.fmt == groups[gi]) {
          s.x.push_back(p.items[r.item].predicted.at(plotted).at(r.fmt));
          s.y.push_back(r.second());
        }
      sp.series.push_back(std::move(s));
    }
    out.write("proxy.svg", pv::scatter_svg(sp));
    for (const auto& n : p.notes) notes.push_back(n);
    md << "\n![proxy fidelity](proxy.svg)\n\n";
  }

  // ---- saliency ----
  if (want("saliency") && !model.description.moe_layers.empty()) {
    auto p = run_saliency(c, scores);
    std::string csv = "layer,router,expert,measured";
    for (const auto& s : p.saliencies) csv += ",score_" + s;
    csv += "\n";
    for (const auto& r : p.experts) {
      csv += std::to_string(r.layer) + "," + model.description.moe_layers[static_cast<std::size_t>(r.moe)].router + "," +
             std::to_string(r.expert) + "," + g(r.measured);
      for (const auto& s : p.saliencies) csv += "," + g(r.score.at(s));
      csv += "\n";
    }
    out.write("experts.csv", csv);
    std::string cc = "saliency,layer,n,spearman,pearson\n";
    md << "## Saliency fidelity: each expert dropped alone\n\n"
       << p.experts.size() << " experts dropped one at a time (experts.csv). Spearman of each score against the measured "
       << "Δloss, per layer and pooled over layers (a good score ranks the costly experts high).\n\n| saliency | pooled |";
    std::set<int> layers;
    for (const auto& r : p.experts) layers.insert(r.layer);
    for (int l : layers) md << " layer " << l << " |";
    md << "\n|---|---:|";
    for (std::size_t i = 0; i < layers.size(); ++i) md << "---:|";
    md << "\n";
    J["saliency"] = nlohmann::json::array();
    for (const auto& s : p.saliencies) {
      std::vector<double> x, y;
      for (const auto& r : p.experts) x.push_back(r.score.at(s)), y.push_back(r.measured);
      const auto all = correlate(x, y);
      cc += s + ",pooled," + std::to_string(all.n) + "," + g(all.spearman) + "," + g(all.pearson) + "\n";
      md << "| " << s << " | " << f4(all.spearman) << " |";
      nlohmann::json js{{"saliency", s}, {"pooled_spearman", num(all.spearman)}, {"pooled_pearson", num(all.pearson)},
                        {"layers", nlohmann::json::object()}};
      for (int l : layers) {
        std::vector<double> lx, ly;
        for (const auto& r : p.experts)
          if (r.layer == l) lx.push_back(r.score.at(s)), ly.push_back(r.measured);
        const auto cl = correlate(lx, ly);
        cc += s + "," + std::to_string(l) + "," + std::to_string(cl.n) + "," + g(cl.spearman) + "," + g(cl.pearson) + "\n";
        md << " " << f4(cl.spearman) << " |";
        js["layers"][std::to_string(l)] = num(cl.spearman);
      }
      md << "\n";
      J["saliency"].push_back(js);
    }
    out.write("saliency_correlation.csv", cc);
    std::string sc = "ratio,experts_dropped_per_layer,saliency,measured,predicted\n";
    md << "\nThe set each score drops at each prune ratio, in every MoE layer at once (prune_sets.csv; `random`: a random set "
       << "of the same size; predicted = α·Σ S_j in that score's own units).\n\n| ratio | dropped per layer | saliency | measured Δloss |\n|---:|---:|---|---:|\n";
    J["prune_sets"] = nlohmann::json::array();
    for (const auto& r : p.sets) {
      sc += g(r.ratio) + "," + std::to_string(r.dropped) + "," + r.saliency + "," + g(r.measured) + "," + g(r.predicted) + "\n";
      md << "| " << g(r.ratio) << " | " << r.dropped << " | " << r.saliency << " | " << g(r.measured) << " |\n";
      J["prune_sets"].push_back({{"ratio", r.ratio}, {"dropped", r.dropped}, {"saliency", r.saliency}, {"measured", r.measured}});
    }
    out.write("prune_sets.csv", sc);
    // The α that would put each score in nats: least squares through the origin of measured
    // Δloss on Σ S_j, over the single drops and over the sets (predicted / --alpha = Σ S_j).
    std::string ac = "saliency,alpha_single,alpha_sets,alpha_given\n";
    md << "\nThe price α·S_j is in each score's own units. The α that fits the measurements (least squares through the "
       << "origin of measured Δloss on Σ S_j: over the single drops, and over the sets above), against the α given ("
       << g(a.alpha) << ", alpha_fit.csv):\n\n| saliency | α fit, single drops | α fit, sets |\n|---|---:|---:|\n";
    J["alpha_fit"] = nlohmann::json::object();
    for (const auto& s : p.saliencies) {
      double mp = 0, pp = 0, smp = 0, spp = 0;
      for (const auto& r : p.experts) mp += r.measured * r.score.at(s), pp += r.score.at(s) * r.score.at(s);
      for (const auto& r : p.sets)
        if (r.saliency == s) {
          const double sum = r.predicted / a.alpha;
          smp += r.measured * sum, spp += sum * sum;
        }
      const double single = pp > 0 ? mp / pp : NAN, sets = spp > 0 && a.alpha > 0 ? smp / spp : NAN;
      ac += s + "," + g(single) + "," + g(sets) + "," + g(a.alpha) + "\n";
      md << "| " << s << " | " << g(single) << " | " << g(sets) << " |\n";
      J["alpha_fit"][s] = {{"single", num(single)}, {"sets", num(sets)}};
    }
    out.write("alpha_fit.csv", ac);
    pv::scatter_plot sp{"Saliency fidelity: " + a.saliency + " vs measured Δloss of dropping the expert",
                        a.saliency + " score", "measured Δloss (nats)", true, true, false, {}};
    for (int l : layers) {
      pv::scatter_series s{"layer " + std::to_string(l), {}, {}};
      for (const auto& r : p.experts)
        if (r.layer == l && r.score.count(a.saliency)) s.x.push_back(r.score.at(a.saliency)), s.y.push_back(r.measured);
      sp.series.push_back(std::move(s));
    }
    out.write("saliency.svg", pv::scatter_svg(sp));
    md << "\n![saliency fidelity](saliency.svg)\n\n";
    for (const auto& n : p.notes) notes.push_back(n);
  }

  // ---- allocation ----
  if (want("allocation")) {
    std::string csv = "kind,target_bits,bits,bytes,prune_ratio,predicted,measured,knee\n";
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> byk;
    for (const auto& r : alloc.rows) {
      csv += r.kind + "," + g(r.target_bits) + "," + g(r.bits) + "," + std::to_string(r.bytes) + "," + g(r.ratio) + "," +
             g(r.predicted) + "," + g(r.measured) + "," + (r.knee ? "1" : "0") + "\n";
      byk[r.kind].first.push_back(r.predicted);
      byk[r.kind].second.push_back(r.measured);
    }
    out.write("allocations.csv", csv);
    md << "## Allocation fidelity\n\nAllocations (proxy " << a.proxy << ", saliency " << a.saliency << ", α " << g(a.alpha)
       << ", prune ratios 0," << csv_join([&] { std::vector<std::string> v; for (double r : a.prune_ratios) v.push_back(g(r)); return v; }())
       << ") along the Pareto curve, and random feasible allocations (no pruning) at " << g(alloc.random_bits)
       << " bits (allocations.csv).\n\n| allocations | n | Spearman | Pearson |\n|---|---:|---:|---:|\n";
    J["allocation"] = nlohmann::json::object();
    for (const auto& k : {"pareto", "random"}) {
      if (!byk.count(k)) continue;
      const auto cr = correlate(byk[k].first, byk[k].second);
      md << "| " << k << " | " << cr.n << " | " << f4(cr.spearman) << " | " << f4(cr.pearson) << " |\n";
      J["allocation"][k] = {{"n", cr.n}, {"spearman", num(cr.spearman)}, {"pearson", num(cr.pearson)}};
    }
    md << "\n| allocation | bits | bytes | prune ratio | predicted Δloss | measured Δloss |\n|---|---:|---:|---:|---:|---:|\n";
    for (const auto& r : alloc.rows)
      if (r.kind == "uniform" || r.kind == "matched" || r.knee) {
        const std::string label = r.kind == "uniform" ? "uniform NVFP4" : r.kind == "matched" ? "allocation at uniform NVFP4's bytes" : "Pareto knee";
        md << "| " << label << " | " << g(r.bits) << " | " << r.bytes << " | " << g(r.ratio) << " | " << g(r.predicted) << " | "
           << g(r.measured) << " |\n";
        J["allocation"][r.kind == "pareto" ? "knee" : r.kind] = {{"bits", r.bits}, {"bytes", r.bytes}, {"ratio", r.ratio},
                                                                 {"predicted", r.predicted}, {"measured", r.measured}};
      }
    pv::scatter_plot sp{"Allocation fidelity: predicted vs measured Δloss", "predicted Δloss (" + a.proxy + ", nats)",
                        "measured Δloss (nats)", false, false, false, {}};
    for (const auto& k : {"pareto", "random", "uniform", "matched"})
      if (byk.count(k)) sp.series.push_back({k, byk[k].first, byk[k].second});
    out.write("allocations.svg", pv::scatter_svg(sp));
    md << "\n![allocation fidelity](allocations.svg)\n\n";
  }
  if (want("additivity") && !alloc.additivity.empty()) {
    std::string csv = "ratio,quantization,pruning,joint,sum_of_parts,interaction\n";
    md << "## Do quantization and pruning Δloss add up?\n\nQuantization: the ratio-0 allocation at uniform NVFP4's bytes; "
       << "pruning: the experts " << a.saliency << " drops at the ratio; joint: both (additivity.csv).\n\n"
       << "| ratio | quantization | pruning | joint | sum of parts | joint − sum |\n|---:|---:|---:|---:|---:|---:|\n";
    J["additivity"] = nlohmann::json::array();
    for (const auto& r : alloc.additivity) {
      csv += g(r.ratio) + "," + g(r.quant) + "," + g(r.prune) + "," + g(r.joint) + "," + g(r.quant + r.prune) + "," +
             g(r.joint - r.quant - r.prune) + "\n";
      md << "| " << g(r.ratio) << " | " << g(r.quant) << " | " << g(r.prune) << " | " << g(r.joint) << " | " << g(r.quant + r.prune)
         << " | " << g(r.joint - r.quant - r.prune) << " |\n";
      J["additivity"].push_back({{"ratio", r.ratio}, {"quantization", r.quant}, {"pruning", r.prune}, {"joint", r.joint}});
    }
    out.write("additivity.csv", csv);
    md << "\n";
  }
  for (const auto& n : alloc.notes) notes.push_back(n);
  if (!notes.empty()) {
    md << "## Notes\n\n";
    for (const auto& n : notes) md << "- " << n << "\n";
  }
  J["notes"] = notes;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.write("validate.json", J.dump(1) + "\n");
  out.write("summary.md", md.str());
  out.publish();
  std::printf("%s", md.str().c_str());
  say.line("done in " + g(secs) + " s; outputs in " + a.out);
  return 0;
}

const pq::tool::registration reg{
    "validate", "Predicted vs measured Δloss: proxies per item, saliencies per expert, allocations, additivity",
    [](CLI::App& sub) {
      namespace check = pq::cli::check;
      auto a = std::make_shared<validate_args>();
      sub.add_option("--model", a->model, "checkpoint folder")->required()->check(check::existing_path());
      sub.add_option("--stats", a->stats, "stats file of the probe")->required()->check(check::existing_file());
      sub.add_option("--costs", a->costs, "costs file (measure the validated formats: `cost --formats all --proxies all`)")
          ->required()
          ->check(check::existing_file());
      sub.add_option("--eval", a->eval, "held-out token file: [rows, seq_len] little-endian ids (uint16, or --token-dtype uint32)")
          ->required()
          ->check(check::existing_file());
      sub.add_option("--out", a->out, "output folder (CSV, SVG, validate.json, summary.md)")->required()->check(check::output_folder());
      sub.add_option("--parts", a->parts, "what to validate: proxy, saliency, allocation, additivity")
          ->delimiter(',')
          ->check(check::one_of({"proxy", "saliency", "allocation", "additivity"}));
      sub.add_option("--formats", a->formats, "formats each item is measured in (default: " + csv_join(default_formats) +
                                                  ", those the costs file has)")
          ->delimiter(',')
          ->check(check::one_of(format_names()));
      sub.add_option("--allocation-formats", a->allocation_formats,
                     "formats the allocations choose from (default: " + csv_join(allocation_defaults) + " and the validated ones)")
          ->delimiter(',')
          ->check(check::one_of(format_names()));
      sub.add_option("--proxies", a->proxies, "proxies compared (default: every built-in the files support)")
          ->delimiter(',')
          ->check(check::one_of(pq::proxy::proxy_names()));
      sub.add_option("--saliencies", a->saliencies, "saliency scores compared (default: every built-in the stats support)")
          ->delimiter(',')
          ->check(check::one_of(pq::saliency::saliency_names()));
      sub.add_option("--proxy", a->proxy, "the allocations' proxy")->capture_default_str()->check(check::one_of(pq::proxy::proxy_names()));
      sub.add_option("--saliency", a->saliency, "the allocations' saliency")
          ->capture_default_str()
          ->check(check::one_of(pq::saliency::saliency_names()));
      sub.add_option("--domain-policy", a->domain_policy, "combine calibration domains: pooled, mean, max, union, intersection")
          ->capture_default_str()
          ->check(check::one_of({"pooled", "mean", "max", "union", "intersection"}));
      sub.add_option("--alpha", a->alpha, "price of dropping expert j: alpha * S_j")->capture_default_str()->check(check::number(0, 1e300));
      sub.add_option("--prune-ratios", a->prune_ratios, "prune ratios of the prune sets, the allocations and the additivity check")
          ->delimiter(',')
          ->capture_default_str()
          ->check(check::number(0, 1, check::open_high));
      sub.add_option("--allocations", a->allocations, "allocations along the Pareto curve")
          ->capture_default_str()
          ->transform(check::integer(1, 100000));
      sub.add_option("--random", a->random, "random feasible allocations at --random-bits")
          ->capture_default_str()
          ->transform(check::integer(0, 100000));
      sub.add_option("--random-bits", a->random_bits, "budget of the random allocations (default: uniform NVFP4's bits)")
          ->check(check::number(0, 64, check::open_low));
      sub.add_option("--experts", a->experts, "experts per MoE layer dropped alone (0: all)")
          ->capture_default_str()
          ->transform(check::integer(0, 1 << 20));
      sub.add_option("--rows", a->rows, "held-out rows evaluated, evenly spaced through the file (0: all)")
          ->capture_default_str()
          ->transform(check::integer(0, 1ll << 40));
      sub.add_option("--seed", a->seed, "seed of the random allocations and random prune sets")->capture_default_str();
      namespace eopt = pq::cli::engine_option;
      pq::cli::add_engine_options(sub, *a, eopt::all & ~eopt::tmp_dir,
                                  {.max_memory = "GB the cached activations and weights may take (nothing spills)"});
      sub.add_flag("--quiet", a->quiet, "no progress lines");
      return [=] { return run_validate(*a); };
    }};

}  // namespace
