// Throughput of the model engine on the shipped model (models/minimax-m2-tiny), in tokens/s:
//   layer/bare/L         one decoder layer's forward + backward for one batch (4 rows × 256),
//                        no statistics (one thread: the engine runs one batch per thread)
//   layer/stats/L        the same with every statistic of the stats file (Fisher G_b products,
//                        per-token Fisher, xtx_diag, input_amax, REAP and re-routing sums)
//   gemms/bare/L, gemms/stats/L   the ceiling: the very GEMM calls of the two runs above
//                        (recorded, same shapes and strides) replayed alone — what the layer
//                        would take if everything around the products were free
//   probe/bare/M, probe/stats/M   `probe::run` over the whole calibration file (96 rows × 256,
//                        threads = all cores), wall time, with no statistics and with all of
//                        them; M = 0: every layer resident, M = 1: layers streamed (the path of
//                        models that do not fit: phase-3 forward recomputed)
// Counters: tokens/s, and GFLOP/s of the GEMMs in each run.
// PQ_BENCH_SMOKE=1: layer 0 only, and the probes on 8 rows.
#include <prismaquant/engine/runner.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/probe/probe.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace pq = prismaquant;
namespace fs = std::filesystem;

namespace {

bool smoke() {
  const char* s = std::getenv("PQ_BENCH_SMOKE");
  return s && std::string(s) == "1";
}
fs::path model_dir() { return fs::path(PQ_BENCH_SOURCE_DIR) / "models" / "minimax-m2-tiny"; }

// Records every call it forwards, so the same products can be replayed alone.
class recording_gemm final : public pq::nn::gemm_backend {
 public:
  explicit recording_gemm(const pq::nn::gemm_backend& inner) : inner_(inner) {}
  std::string_view name() const noexcept override { return "recording"; }
  void sgemm(const pq::nn::gemm_call& g) const override {
    if (record) calls.push_back(g);
    inner_.sgemm(g);
  }
  mutable std::vector<pq::nn::gemm_call> calls;
  bool record = false;

 private:
  const pq::nn::gemm_backend& inner_;
};

double flops(const std::vector<pq::nn::gemm_call>& calls) {
  double f = 0;
  for (const auto& c : calls) f += 2.0 * static_cast<double>(c.m) * static_cast<double>(c.n) * static_cast<double>(c.k);
  return f;
}

// One layer of the shipped model with its weights and one batch's input (the real hidden
// states at that layer), plus the GEMM calls of one forward + backward.
struct layer_setup {
  const pq::nn::cblas_gemm blas;
  recording_gemm rec{blas};
  pq::model::opened_model m = pq::model::open_model(model_dir());
  std::unique_ptr<pq::engine::runner> R;
  pq::engine::layer_weights w;
  std::vector<float> x, out, d0;
  std::int64_t rows = 4, S = 256;
  int layer;

  explicit layer_setup(int l) : layer(l) {
    R = std::make_unique<pq::engine::runner>(m, rec, 1, S);
    const auto& A = R->arch();
    const auto tf = pq::engine::read_token_file(model_dir() / "calib_tokens.bin", S, A.vocab, A.max_positions);
    x.resize(static_cast<std::size_t>(rows * S * A.hidden));
    out.resize(x.size());
    pq::engine::embed_tokens(A, R->top(), tf.row(0), rows * S, x.data());
    const pq::engine::source_weights src(*m.weights);
    pq::engine::layer_tape tape;
    for (int k = 0; k <= l; ++k) {
      R->load(k, src, w);
      if (k < l) {
        R->layer().forward(w, x.data(), rows, out.data(), tape);
        std::swap(x, out);
      }
    }
    d0.resize(x.size());
    for (std::size_t i = 0; i < d0.size(); ++i) d0[i] = 1e-3f * static_cast<float>((i * 2654435761u) % 1000) / 1000.0f - 5e-4f;
  }

  // One forward + backward with the statistics' observer; `keep` holds the accumulators and the
  // observer (whose scratch the recorded calls point into) until the caller drops it.
  template <class Stats>
  struct kept {
    std::unique_ptr<pq::probe::layer_statistics<Stats>> st;
    std::unique_ptr<pq::engine::layer_observer> obs;
  };
  template <class Stats>
  void step(pq::engine::layer_tape& tape, std::vector<float>& d, kept<Stats>& keep) {
    keep.obs.reset();
    keep.st = std::make_unique<pq::probe::layer_statistics<Stats>>(R->arch(), m.description, layer,
                                                                    std::vector<std::string>{"default"});
    R->layer().forward(w, x.data(), rows, out.data(), tape);
    d = d0;
    keep.obs = keep.st->observer(0, rec);
    R->layer().backward(w, tape, d.data(), keep.obs.get());
  }
};

layer_setup& setup(int l) {
  static std::vector<std::unique_ptr<layer_setup>> s(4);
  if (!s[static_cast<std::size_t>(l)]) s[static_cast<std::size_t>(l)] = std::make_unique<layer_setup>(l);
  return *s[static_cast<std::size_t>(l)];
}

using bare = pq::stat::list<>;
using all = pq::probe::file_statistics;

template <class Stats>
void BM_layer(benchmark::State& state) {
  auto& s = setup(static_cast<int>(state.range(0)));
  pq::engine::layer_tape tape;
  std::vector<float> d;
  layer_setup::kept<Stats> keep;
  s.step<Stats>(tape, d, keep);  // warm
  s.rec.calls.clear();
  s.rec.record = true;
  s.step<Stats>(tape, d, keep);
  s.rec.record = false;
  const double f = flops(s.rec.calls);
  for (auto _ : state) s.step<Stats>(tape, d, keep);
  const double tokens = static_cast<double>(s.rows * s.S);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * tokens));
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GEMM_GFLOP/s"] = benchmark::Counter(f / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["gemm_calls"] = static_cast<double>(s.rec.calls.size());
}

template <class Stats>
void BM_gemms(benchmark::State& state) {
  auto& s = setup(static_cast<int>(state.range(0)));
  pq::engine::layer_tape tape;
  std::vector<float> d;
  layer_setup::kept<Stats> keep;
  s.rec.calls.clear();
  s.rec.record = true;
  s.step<Stats>(tape, d, keep);
  s.rec.record = false;
  // Replayed on one arena (the recorded pointers may be gone: buffers are resized per expert):
  // the same shapes and strides, operands at the arena's start (warmer caches than the real
  // run, which only makes the ceiling higher).
  auto calls = s.rec.calls;
  std::size_t need = 0;
  auto extent = [](std::int64_t rows, std::int64_t cols, std::int64_t ld) {
    return static_cast<std::size_t>((rows - 1) * ld + cols);
  };
  for (const auto& c : calls)
    need = std::max({need, c.ta ? extent(c.k, c.m, c.lda) : extent(c.m, c.k, c.lda),
                     c.tb ? extent(c.n, c.k, c.ldb) : extent(c.k, c.n, c.ldb), extent(c.m, c.n, c.ldc)});
  std::vector<float> a(need, 0.01f), b(need, 0.02f), cbuf(need, 0.0f);
  for (auto& c : calls) c.a = a.data(), c.b = b.data(), c.c = cbuf.data();
  const double f = flops(calls);
  for (auto _ : state)
    for (const auto& c : calls) s.blas.sgemm(c);
  const double tokens = static_cast<double>(s.rows * s.S);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * tokens));
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GEMM_GFLOP/s"] = benchmark::Counter(f / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Stats>
void BM_probe(benchmark::State& state) {
  const bool stream = state.range(0) != 0;
  const auto m = pq::model::open_model(model_dir());
  fs::path tokens = model_dir() / "calib_tokens.bin";
  std::int64_t rows = 96;
  if (smoke()) {  // the first 8 rows
    rows = 8;
    tokens = fs::temp_directory_path() / "pq_bench_probe_tokens.bin";
    std::ifstream in(model_dir() / "calib_tokens.bin", std::ios::binary);
    std::vector<char> buf(static_cast<std::size_t>(rows * 256 * 2));
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::ofstream(tokens, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(buf.size()));
  }
  pq::probe::options o;
  o.domains = smoke() ? std::vector<std::string>{"default"} : std::vector<std::string>{"code", "prose", "math"};
  o.stream = stream;
  const pq::nn::cblas_gemm blas;
  for (auto _ : state) benchmark::DoNotOptimize(pq::probe::run<Stats>(m, tokens, o, blas));
  const double t = static_cast<double>(rows * 256);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * t));
  state.counters["tokens/s"] = benchmark::Counter(t, benchmark::Counter::kIsIterationInvariantRate);
}

void layers(benchmark::internal::Benchmark* b) {
  const int n = smoke() ? 1 : 4;
  for (int l = 0; l < n; ++l) b->Arg(l);
  b->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_layer, bare)->Name("layer/bare")->Apply(layers);
BENCHMARK_TEMPLATE(BM_layer, all)->Name("layer/stats")->Apply(layers);
BENCHMARK_TEMPLATE(BM_gemms, bare)->Name("gemms/bare")->Apply(layers);
BENCHMARK_TEMPLATE(BM_gemms, all)->Name("gemms/stats")->Apply(layers);
// arg 0: every layer resident (the shipped model fits), 1: streamed (the large-model path)
BENCHMARK_TEMPLATE(BM_probe, bare)->Name("probe/bare")->Arg(0)->Arg(1)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(smoke() ? 1 : 3);
BENCHMARK_TEMPLATE(BM_probe, all)->Name("probe/stats")->Arg(0)->Arg(1)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(smoke() ? 1 : 3);

BENCHMARK_MAIN();
