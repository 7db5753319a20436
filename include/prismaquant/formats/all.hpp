#pragma once
// Every built-in format, the generic encode/decode drivers and the runtime registry.
#include <prismaquant/formats/encode.hpp>
#include <prismaquant/formats/format.hpp>
#include <prismaquant/formats/list.hpp>
#include <prismaquant/formats/registry.hpp>
