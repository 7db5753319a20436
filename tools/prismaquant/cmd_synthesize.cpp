// `prismaquant synthesize --out DIR [--layers N] [--experts E] [...]`: write a MiniMax-M2
// checkpoint with random FP8-block weights at chosen (by default the real MiniMax-M2.7)
// shapes — for trying the pipeline at full size without the real weights.
#include "command.hpp"
#include <prismaquant/cli/options.hpp>

#include <prismaquant/io/output_set.hpp>
#include <prismaquant/model/synthetic.hpp>

#include <cstdio>

namespace pq = prismaquant;

namespace {

const pq::tool::registration reg{
    "synthesize", "Write a MiniMax-M2-layout checkpoint with random FP8-block weights (real shapes by default)",
    [](CLI::App& sub) {
      auto o = std::make_shared<pq::model::synthetic_minimax_options>();
      auto out = std::make_shared<std::string>();
      auto no_embed = std::make_shared<bool>(false);
      namespace check = pq::cli::check;
      const auto dim = check::integer(1, 1 << 24);
      sub.add_option("--out", *out, "output folder (new, or one holding an earlier checkpoint)")
          ->required()
          ->check(check::output_folder());
      sub.add_option("--layers", o->layers, "decoder layers")->capture_default_str()->transform(dim);
      sub.add_option("--experts", o->experts, "experts per layer")->capture_default_str()->transform(dim);
      sub.add_option("--top-k", o->top_k, "experts per token")->capture_default_str()->transform(dim);
      sub.add_option("--hidden", o->hidden, "hidden size")->capture_default_str()->transform(dim);
      sub.add_option("--heads", o->heads, "query heads")->capture_default_str()->transform(dim);
      sub.add_option("--kv-heads", o->kv_heads, "key/value heads")->capture_default_str()->transform(dim);
      sub.add_option("--head-dim", o->head_dim, "head dimension")->capture_default_str()->transform(dim);
      sub.add_option("--intermediate", o->intermediate, "expert intermediate size")
          ->capture_default_str()
          ->transform(dim);
      sub.add_option("--vocab", o->vocab, "vocabulary size")->capture_default_str()->transform(dim);
      sub.add_option("--seed", o->seed, "random seed")->capture_default_str()->transform(check::integer(0, INT64_MAX));
      sub.add_option("--shard-bytes", o->max_shard_bytes, "start a new shard past this many bytes")
          ->capture_default_str()
          ->transform(check::integer(1, INT64_MAX));
      sub.add_flag("--no-embeddings", *no_embed, "leave out embed_tokens, lm_head and the final norm");
      return [=] {
        if (o->top_k > o->experts) throw pq::error("--top-k", "larger than --experts");
        o->embeddings = !*no_embed;
        o->progress = [](std::size_t done, std::size_t total) {
          if (done % 64 == 0 || done == total) std::fprintf(stderr, "\rsynthesize: %zu/%zu tensors", done, total);
          if (done == total) std::fprintf(stderr, "\n");
        };
        // The whole checkpoint appears at once; an earlier one in --out is replaced, any other
        // content is an error (io/output_set.hpp).
        pq::output_set set(*out, pq::publish_mode::replace_folder, [](const std::filesystem::path& p) {
          const auto n = p.filename().string();
          return n == "config.json" || p.extension() == ".safetensors" || n == "model.safetensors.index.json";
        }, "--out " + *out);
        pq::model::write_synthetic_minimax(set.staging(), *o);
        set.publish();
        std::printf("wrote %s\n", out->c_str());
        return 0;
      };
    }};

}  // namespace
