#pragma once
// What the library commands of one executable can run: its formats, Δloss proxies, saliency
// scores and solvers by name (the runtime registries: erased policies), and the compiled cost
// passes (each a compile-time format list instantiated once). `builtin_toolset()` holds the
// library's policies; cli::run<extra...> (cli/run.hpp) adds a user's.
#include <prismaquant/core/error.hpp>
#include <prismaquant/cli/cost_pass.hpp>
#include <prismaquant/formats/registry.hpp>
#include <prismaquant/proxies/registry.hpp>
#include <prismaquant/saliency/scores.hpp>
#include <prismaquant/solvers/registry.hpp>

#include <functional>
#include <span>
#include <string>
#include <vector>

namespace prismaquant::cli {

struct toolset {
  std::vector<formats::format_entry> formats;
  std::vector<proxy::any_proxy> proxies;
  std::vector<saliency::any_saliency> saliencies;
  std::vector<solvers::any_solver> solvers;
  // Smallest first: `cost` runs the first pass that measures every requested format.
  std::vector<cost_pass> cost_passes;
  // The same on a CUDA GPU (`cost --device cuda`); empty in a build without CUDA.
  std::vector<cost_pass> device_cost_passes;

  const formats::format_entry& format(std::string_view name, const std::string& where = "format") const {
    return formats::find(name, formats, where);
  }
  const proxy::any_proxy& proxy(std::string_view name) const { return find_policy(proxies, name, "--proxy", "proxy"); }
  const saliency::any_saliency& saliency(std::string_view name) const {
    return find_policy(saliencies, name, "--saliency", "saliency");
  }
  const solvers::any_solver& solver(std::string_view name) const {
    return find_policy(solvers, name, "--solver", "solver");
  }
  template <class T>
  static std::string names(const std::vector<T>& v) {
    return policy_names(v);
  }
  // The names of one axis, for an option's check (cli/options.hpp check::one_of).
  template <class T>
  static std::vector<std::string> name_list(const std::vector<T>& v) {
    std::vector<std::string> out;
    for (const auto& x : v) out.emplace_back(name_of(x));
    return out;
  }
  // Two policies of one axis with the same name would make names ambiguous.
  void check_unique() const {
    auto unique = [](const auto& v, const char* what) {
      for (std::size_t i = 0; i < v.size(); ++i)
        for (std::size_t j = i + 1; j < v.size(); ++j)
          if (name_of(v[i]) == name_of(v[j]))
            throw error("toolset", std::string("two ") + what + " named \"" + std::string(name_of(v[i])) + "\"");
    };
    unique(formats, "formats");
    unique(proxies, "proxies");
    unique(saliencies, "saliency scores");
    unique(solvers, "solvers");
  }

 private:
  static std::string_view name_of(const formats::format_entry& f) { return f.name; }
  template <class T>
  static std::string_view name_of(const T& x) {
    return x.name();
  }
};

// The library's formats (formats::registry()), proxies, scores and solvers; no cost pass.
inline toolset builtin_toolset() {
  toolset t;
  t.formats = formats::registry();
  t.proxies = proxy::builtin_proxy_list();
  t.saliencies = saliency::builtin_saliency_list();
  t.solvers = solvers::builtin_solver_list();
  return t;
}

}  // namespace prismaquant::cli
