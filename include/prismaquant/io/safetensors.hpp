#pragma once
// safetensors I/O in one include: header validation, mapped reading of files and sharded
// checkpoints, atomic and streaming writing. See docs/safetensors.md.
#include <prismaquant/io/atomic_file.hpp>
#include <prismaquant/io/checkpoint.hpp>
#include <prismaquant/io/mapped_file.hpp>
#include <prismaquant/io/safetensors_file.hpp>
#include <prismaquant/io/safetensors_header.hpp>
#include <prismaquant/io/safetensors_writer.hpp>
