// Archetypes: the smallest type that models each policy concept — exactly the members the
// documentation asks a user for, nothing more. If a change to a concept or an entry point
// starts asking for more, this test stops compiling; if an archetype stops working where a
// user's policy must work (the registries, the erased types, the recipe's whole allocation),
// it fails.
#include <catch2/catch.hpp>

#include "test_allocate_fixture.hpp"

#include <prismaquant/cli/toolset.hpp>
#include <prismaquant/recipe.hpp>

namespace pq = prismaquant;
namespace fm = prismaquant::formats;
namespace st = prismaquant::stat;

namespace archetype {

// Format: per-row scale = amax, codes in {-1, 0, 1} (int8), one F32 scale per row.
struct format {
  static constexpr std::string_view name = "ARCHETYPE";
  static constexpr std::int64_t block_rows = 1, block_cols = fm::whole;
  static constexpr int element_bits = 8;
  using code_type = std::int8_t;
  struct tensor_params {};
  struct block_params {
    float scale = 0.0f;
  };
  static constexpr tensor_params prepare(fm::tensor_stats) { return {}; }
  static constexpr block_params block_scale(const tensor_params&, fm::block_range r) { return {r.amax()}; }
  static constexpr code_type quantize(const block_params& b, float x) {
    return b.scale == 0.0f ? 0 : x > b.scale / 2 ? 1 : x < -b.scale / 2 ? -1 : 0;
  }
  static constexpr float dequantize(const block_params& b, code_type q) { return static_cast<float>(q) * b.scale; }
  static constexpr std::uint64_t storage_bytes(std::int64_t r, std::int64_t c) {
    return static_cast<std::uint64_t>(r) * static_cast<std::uint64_t>(c + 4);
  }
  static void check_shape(std::int64_t, std::int64_t, std::string_view) {}
  static std::vector<fm::tensor_spec> layout(std::int64_t r, std::int64_t c, const tensor_params&) {
    return {{"weight", pq::dtype::I8, {r, c}}, {"weight_scale", pq::dtype::F32, {r, 1}}};
  }
  static void store_tensor(fm::encoded_weight&, const tensor_params&) {}
  static void store_block(fm::encoded_weight& e, std::int64_t bi, std::int64_t, const block_params& b) {
    e.tensors[1].put<float>(static_cast<std::uint64_t>(bi), b.scale);
  }
  static void store_code(fm::encoded_weight& e, std::int64_t i, std::int64_t j, code_type q) {
    e.tensors[0].bytes[static_cast<std::size_t>(i * e.cols + j)] = static_cast<std::uint8_t>(q);
  }
  static tensor_params load_tensor(const fm::encoded_weight&) { return {}; }
  static block_params load_block(const fm::encoded_weight& e, std::int64_t bi, std::int64_t, const tensor_params&) {
    return {e.tensors[1].get<float>(static_cast<std::uint64_t>(bi))};
  }
  static code_type load_code(const fm::encoded_weight& e, std::int64_t i, std::int64_t j) {
    return static_cast<code_type>(e.tensors[0].bytes[static_cast<std::size_t>(i * e.cols + j)]);
  }
};

struct proxy {
  static constexpr std::string_view name = "archetype_proxy";
  using needs = st::list<st::sse>;
  double operator()(const pq::stats::linear_stats&, std::string_view, const pq::stats::format_cost& c) const {
    return c.sse;
  }
};

struct saliency {
  static constexpr std::string_view name = "archetype_saliency";
  using needs = st::list<st::reap>;
  double operator()(const pq::saliency::expert_view& e) const { return static_cast<double>(e.acc.count); }
};

struct solver {
  static constexpr std::string_view name = "archetype_solver";
  pq::solvers::solution solve(const pq::solvers::flat_problem& f, std::int64_t budget,
                              const pq::solvers::solve_options& o) const {
    return pq::solvers::exact{}.solve(f, budget, o);
  }
};

}  // namespace archetype

// The concepts hold, and so do the named checks (which are stricter about messages only).
static_assert(fm::format<archetype::format> && fm::check_format<archetype::format>());
static_assert(pq::proxy::delta_loss_proxy<archetype::proxy> && pq::proxy::check_proxy<archetype::proxy>());
static_assert(pq::saliency::saliency_score<archetype::saliency> && pq::saliency::check_saliency<archetype::saliency>());
static_assert(pq::solvers::solver<archetype::solver> && pq::solvers::check_solver<archetype::solver>());
// The erased types model the same concepts.
static_assert(pq::proxy::delta_loss_proxy<pq::proxy::any_proxy>);
static_assert(pq::saliency::saliency_score<pq::saliency::any_saliency>);
static_assert(pq::solvers::solver<pq::solvers::any_solver>);
// Defaults of the optional format facts.
static_assert(fm::data_type_of<archetype::format>() == "prismaquant");
static_assert(fm::accepts_of<archetype::format>() == fm::source_set::all());
static_assert(fm::lossless_for_of<archetype::format>() == fm::source_set::none());
static_assert(fm::group_size_of<archetype::format>() == -1);
// A recipe of archetypes, and what it derives.
using archetype_recipe = pq::recipe<fm::format_list<archetype::format, fm::bf16_passthrough>, archetype::proxy,
                                    archetype::saliency, archetype::solver>;
static_assert(std::is_same_v<archetype_recipe::cost_request, pq::cost::request<st::sse, st::max_abs>>);
static_assert(archetype_recipe::needs::mask == st::list<st::sse, st::reap>::mask);
static_assert(archetype_recipe::probe_needs::mask == st::list<st::reap>::mask);
// The seed recipe: fisher_trace reads the Fisher sum and the SSE, reap_dropout the REAP sums.
static_assert(pq::recipe<>::probe_needs::mask == st::list<st::fisher, st::reap>::mask);

TEST_CASE("archetypes work where a user's policies must") {
  // format: round trip, registry entry with its facts
  std::vector<float> w = {1.0f, -0.2f, 0.7f, -1.0f, 0.0f, 0.3f};
  const fm::weight_view v(w.data(), 2, 3, "w");
  const auto back = fm::decode<archetype::format>(fm::encode<archetype::format>(v));
  CHECK(back == std::vector<float>{1.0f, 0.0f, 1.0f, -1.0f, 0.0f, 0.0f});
  const auto entry = fm::make_entry<archetype::format>();
  CHECK(entry.element_bits == 8);
  CHECK(entry.group_size() == -1);
  CHECK(entry.allows(fm::source_format::fp8_block128));

  // proxy, saliency, solver erased: the same values, names and needs
  pq::stats::linear_stats s;
  pq::stats::format_cost c;
  c.sse = 2.5;
  const pq::proxy::any_proxy p = archetype::proxy{};
  CHECK(p(s, "X", c) == 2.5);
  CHECK(p.name() == "archetype_proxy");
  CHECK(p.needs() == st::list<st::sse>::mask);
  const pq::solvers::any_solver sv = archetype::solver{};
  pq::solvers::problem prob{{{"a", 10, {{"X", 5, 1.0}, {"Y", 10, 0.0}}}}};
  CHECK(pq::solvers::solve(sv, prob, 10).dloss == 0.0);
  CHECK(pq::solvers::solve<archetype::solver>(prob, 5).dloss == 1.0);

  // a toolset (the command line's registries) takes them all
  auto t = pq::cli::builtin_toolset();
  t.formats.push_back(entry);
  t.proxies.emplace_back(archetype::proxy{});
  t.saliencies.emplace_back(archetype::saliency{});
  t.solvers.emplace_back(archetype::solver{});
  REQUIRE_NOTHROW(t.check_unique());
  CHECK(t.proxy("archetype_proxy").name() == "archetype_proxy");
  CHECK(t.solver("archetype_solver").name() == "archetype_solver");
  CHECK_THROWS_WITH(t.saliency("nope"), Catch::Contains("archetype_saliency"));
}

TEST_CASE("a recipe of archetypes runs the whole allocation") {
  // Costs for the archetype format next to BF16 (bytes from its storage_bytes).
  auto m = fixture::make(51, 1, 4, 2, /*fp8_source=*/false, {"BF16"});
  for (auto& [name, lc] : m.costs.linears) {
    pq::stats::format_cost fc = lc.formats.at("BF16");
    fc.bytes = static_cast<std::int64_t>(archetype::format::storage_bytes(lc.out_features, lc.in_features));
    fc.sse = 1e-3 * static_cast<double>(fc.n);
    fc.max_abs_err = 0.1;
    fc.sse_row.clear();
    lc.formats.emplace("ARCHETYPE", fc);
  }
  const auto in = fixture::inputs(m);
  const auto sweep = archetype_recipe{}.sweep(in, pq::allocate::bits({6.0, 9.0, 12.0, 17.0}), {.prune_ratios = {0.0, 0.25}});
  REQUIRE(sweep.chosen >= 0);
  CHECK(sweep.proxy == "archetype_proxy");
  CHECK(sweep.saliency == "archetype_saliency");
  CHECK(sweep.solver == "archetype_solver");
  // at 9 bits (ARCHETYPE is 8 bits + a scale per row, BF16 16) most Linears are ARCHETYPE
  const auto& r = sweep.rows[1];
  REQUIRE(r.feasible);
  CHECK(r.layers_by_fmt.count("ARCHETYPE"));
  CHECK(pq::allocate::layer_config_entry(pq::formats::find("ARCHETYPE", sweep.formats))["data_type"] == "prismaquant");
}
