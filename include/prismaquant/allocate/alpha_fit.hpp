#pragma once
// The price of dropping an expert in loss units. The allocator prices expert j at α·S_j, with
// S_j in its saliency score's own units; `prismaquant validate` measures what dropping experts
// costs and fits, per score, the α that puts S in nats (alpha_fit.csv: least squares through
// the origin of measured Δloss on Σ S_j, over single drops and over whole prune sets). This
// reads that file: the α of one score, fitted over prune sets (what the allocator prices).
//
//   alpha_fit.csv   saliency,alpha_single,alpha_sets,alpha_given
//                   reap_dropout,4.7e-06,5.04e-05,0.15
#include <prismaquant/core/error.hpp>
#include <prismaquant/io/json.hpp>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace prismaquant::allocate {

inline double read_alpha_fit(const std::filesystem::path& path, const std::string& saliency) {
  const std::string where = path.string();
  std::istringstream in(strict_json::read_text(path));
  std::string line;
  if (!std::getline(in, line) || line != "saliency,alpha_single,alpha_sets,alpha_given")
    throw error(where, "not an alpha_fit.csv of prismaquant validate (header \"saliency,alpha_single,alpha_sets,alpha_given\")");
  std::vector<std::string> known;
  for (int row = 2; std::getline(in, line); ++row) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream s(line);
    for (std::string x; std::getline(s, x, ',');) f.push_back(x);
    if (f.size() != 4) throw error(where + ": line " + std::to_string(row), "expected 4 fields, got " + std::to_string(f.size()));
    if (f[0] != saliency) {
      known.push_back(f[0]);
      continue;
    }
    double a = NAN;
    const auto [end, ec] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), a);
    if (ec != std::errc{} || end != f[2].data() + f[2].size() || !std::isfinite(a) || a < 0.0)
      throw error(where + ": " + saliency, "alpha_sets \"" + f[2] + "\" is not a finite non-negative number (too few "
                                           "prune sets measured for this score?)");
    return a;
  }
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  throw error(where, "no row for saliency \"" + saliency + "\" (rows: " + (list.empty() ? "none" : list) + ")");
}

}  // namespace prismaquant::allocate
