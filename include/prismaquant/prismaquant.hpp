#pragma once
// The public API of prismaquant, in one include.
#include <prismaquant/core/config.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/core/minifloat.hpp>
#include <prismaquant/core/codecs.hpp>
