#pragma once
// The public API of prismaquant, in one include.
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/minifloat.hpp>
#include <prismaquant/core/codecs.hpp>
#include <prismaquant/formats/all.hpp>
#include <prismaquant/cost/reference.hpp>
