#pragma once
// The public API of prismaquant, in one include (host code; CUDA users include the
// PQ_HD headers of core/ and formats/ and kernels/cost.cuh directly).
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/dtype.hpp>
#include <prismaquant/core/minifloat.hpp>
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/core/exact_sum.hpp>
#include <prismaquant/stats/statistic.hpp>
#include <prismaquant/formats/all.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/cost/engine.hpp>
#include <prismaquant/stats/stats_file.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/proxies/registry.hpp>
#include <prismaquant/proxies/calibrated_gain.hpp>
#include <prismaquant/saliency/domains.hpp>
#include <prismaquant/solvers/registry.hpp>
#include <prismaquant/allocate/allocate.hpp>
#include <prismaquant/allocate/outputs.hpp>
#include <prismaquant/recipe.hpp>
#include <prismaquant/io/safetensors.hpp>
#include <prismaquant/model/open.hpp>
#include <prismaquant/model/synthetic.hpp>
