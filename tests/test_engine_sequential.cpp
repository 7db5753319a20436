// The exporter's entry points into the engine: a sequential forward with a forward-mode
// observer collecting the full XᵀX per Linear (probe::layer_statistics<stat::list<stat::xtx>>),
// and per-layer weight replacement (override_weights) feeding the next layer.
#include <catch2/catch.hpp>

#include <prismaquant/engine/sequential.hpp>
#include <prismaquant/nn/cblas_gemm.hpp>
#include <prismaquant/probe/probe.hpp>

#include <filesystem>

namespace fs = std::filesystem;
namespace pq = prismaquant;
namespace eng = prismaquant::engine;

namespace {
const fs::path model_dir = fs::path(PQ_SOURCE_DIR) / "models" / "minimax-m2-tiny";
using xtx_only = pq::stat::list<pq::stat::xtx>;

struct observed {
  std::vector<std::vector<double>> xtx;  // per Linear index (description order)
  std::vector<std::int64_t> rows;
  std::vector<float> last_hidden;        // batch 0's final hidden states
};

observed run(const pq::model::opened_model& m, const std::function<const eng::linear_weights*(int)>& done_hook) {
  const pq::nn::cblas_gemm blas;
  eng::runner R(m, blas, 2, 256);
  const auto tf = eng::read_token_file(model_dir / "calib_tokens.bin", 256, R.arch().vocab, R.arch().max_positions);
  auto plan = eng::plan_batches(tf, {"default"}, 4);
  plan.batches.resize(2);  // 8 rows are enough
  eng::activation_store store(1ull << 30, {});
  const eng::source_weights source(*m.weights);
  std::unique_ptr<pq::probe::layer_statistics<xtx_only>> H;
  std::mutex mu;
  observed o;
  o.xtx.resize(m.description.linears.size());
  o.rows.resize(m.description.linears.size());
  eng::sequential_hooks hooks;
  hooks.observer = [&](int l, const eng::batch& b) {
    std::lock_guard lock(mu);
    if (!H || H->layer() != l) H = std::make_unique<pq::probe::layer_statistics<xtx_only>>(R.arch(), m.description, l, plan.domains);
    return H->observer(b.domain, blas, true);
  };
  hooks.layer_done = [&](int l) -> const eng::linear_weights* {
    const auto& t = R.arch().layer[static_cast<std::size_t>(l)];
    std::vector<int> ids{t.q, t.k, t.v, t.o};
    for (const auto& x : t.experts) ids.insert(ids.end(), x.begin(), x.end());
    for (int i : ids) {
      o.xtx[static_cast<std::size_t>(i)] = H->get<pq::stat::xtx>(i).v.values();
      o.rows[static_cast<std::size_t>(i)] = H->rows_seen(i);
    }
    return done_hook(l);
  };
  hooks.finish = [&](const eng::batch& b, const std::vector<float>& h) {
    if (b.index == 0) o.last_hidden = h;
  };
  eng::sequential_forward(R, tf, plan, source, hooks, store);
  return o;
}
}  // namespace

TEST_CASE("sequential forward: XᵀX per Linear from a forward observer; replaced layers feed the next") {
  const auto m = pq::model::open_model(model_dir);
  const auto plain = run(m, [](int) { return nullptr; });
  const auto& L = m.description.linears;
  auto index = [&](const std::string& name) {
    for (std::size_t i = 0; i < L.size(); ++i)
      if (L[i].name == name) return i;
    FAIL("no Linear " << name);
    return std::size_t{0};
  };
  // XᵀX is symmetric with the probe's xtx_diag (and rows_seen) on its diagonal
  pq::probe::options po;
  po.threads = 2;
  const fs::path tok8 = fs::path(PQ_BUILD_DIR) / "test_tmp" / "sequential_tokens.bin";
  fs::create_directories(tok8.parent_path());
  {
    std::ifstream in(model_dir / "calib_tokens.bin", std::ios::binary);
    std::vector<char> buf(8 * 256 * 2);
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::ofstream(tok8, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(buf.size()));
  }
  const pq::nn::cblas_gemm blas;
  const auto pr = pq::probe::run<pq::stat::list<pq::stat::xtx_diag>>(m, tok8, po, blas);
  for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.2.self_attn.o_proj",
                           "model.layers.3.block_sparse_moe.experts.7.w2"}) {
    INFO(name);
    const auto i = index(name);
    const auto& s = pr.stats.linears.at(name);
    REQUIRE(plain.rows[i] == s.rows_seen);
    const std::int64_t in = L[i].in_features;
    const auto& h = plain.xtx[i];
    REQUIRE(static_cast<std::int64_t>(h.size()) == in * in);
    for (std::int64_t a = 0; a < in; ++a) {
      REQUIRE(h[static_cast<std::size_t>(a * in + a)] == Approx(s.xtx_diag[static_cast<std::size_t>(a)]).epsilon(1e-5));
      REQUIRE(h[static_cast<std::size_t>(a * in + (a + 7) % in)] == h[static_cast<std::size_t>(((a + 7) % in) * in + a)]);
    }
  }
  // replace layer 1's o_proj by zeros: layer 1's own inputs are untouched, layer 2's change
  const auto o1 = index("model.layers.1.self_attn.o_proj");
  const eng::source_weights source(*m.weights);
  eng::override_weights zeroed(source);
  zeroed.set(L[o1].name, std::vector<float>(static_cast<std::size_t>(L[o1].out_features * L[o1].in_features), 0.0f));
  const auto changed = run(m, [&](int l) -> const eng::linear_weights* { return l == 1 ? &zeroed : nullptr; });
  REQUIRE(changed.xtx[index("model.layers.1.self_attn.q_proj")] == plain.xtx[index("model.layers.1.self_attn.q_proj")]);
  REQUIRE(changed.xtx[o1] == plain.xtx[o1]);
  REQUIRE(changed.xtx[index("model.layers.2.self_attn.q_proj")] != plain.xtx[index("model.layers.2.self_attn.q_proj")]);
  REQUIRE(changed.last_hidden != plain.last_hidden);
  REQUIRE(plain.last_hidden.size() == 4u * 256u * 256u);
}
