#pragma once
// The public API of prismaquant, in one include.
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/minifloat.hpp>
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/formats/all.hpp>
#include <prismaquant/cost/reference.hpp>
#include <prismaquant/stats/stats_file.hpp>
#include <prismaquant/stats/costs_file.hpp>
#include <prismaquant/proxies/registry.hpp>
#include <prismaquant/proxies/calibrated_gain.hpp>
#include <prismaquant/saliency/domains.hpp>
#include <prismaquant/allocate/outputs.hpp>
#include <prismaquant/io/safetensors.hpp>
