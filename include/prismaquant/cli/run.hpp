#pragma once
// The command line of a `prismaquant` executable: the library commands (cost, allocate,
// solve) plus every command the executable registered (cli/command.hpp), with one error
// contract (docs/errors.md): any failure, argument parsing included, prints one line
// `prismaquant: error: <file, option or object>: <problem>` on stderr and exits 1; --help
// prints the help and exits 0. Option values are checked by cli/options.hpp validators.
//
// Your own executable, with your own policies next to the library's:
//
//   int main(int argc, char** argv) { return prismaquant::cli::run<my_format, my_proxy>(argc, argv); }
//
// Each extra type joins the registry of its axis (a format, a Δloss proxy, a saliency score or
// a solver: its concept decides; anything else is a named compile error), so `cost --formats
// MY_FORMAT`, `allocate --proxy mine` and `solve --solver mine` reach it. The cost pass of such
// an executable is compiled for the seed formats plus the extra formats (--formats all means
// those); for other lists build a toolset (make_toolset<...>(), then add cost_pass_for<List>() from cli/cpu_cost_pass.hpp)
// and call run(argc, argv, tools).
#include <prismaquant/cli/allocate.hpp>
#include <prismaquant/cli/command.hpp>
#include <prismaquant/cli/cost.hpp>
#include <prismaquant/cli/cpu_cost_pass.hpp>
#include <prismaquant/cli/solve.hpp>
#include <prismaquant/cli/toolset.hpp>
#include <prismaquant/core/error.hpp>
#include <prismaquant/formats/list.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <new>
#include <regex>
#include <string>

namespace prismaquant::cli {

// The commands the library implements.
inline std::vector<command> library_commands() {
  return {{"allocate", "Choose a format per Linear (and experts to drop) from stats + costs files", setup_allocate},
          {"cost", "Measure every Linear's round-trip error in each format (one read per weight); write the costs file",
           setup_cost},
          {"solve", "Solve one multiple-choice knapsack: a problem JSON and a byte or bit budget -> a solution JSON",
           setup_solve}};
}

namespace detail {

// Which axis an extra policy belongs to: the piece only that axis has decides, then the
// axis's own check names anything else that is missing.
template <class T>
concept format_like = requires {
  T::block_rows;
  T::block_cols;
};
template <class T>
concept proxy_like = proxy::has_proxy_call<T>;
template <class T>
concept saliency_like = saliency::has_saliency_call<T>;
template <class T>
concept solver_like = requires(const T& s, const solvers::flat_problem& f, std::int64_t b, const solvers::solve_options& o) {
  s.solve(f, b, o);
};

template <class T>
void add_policy(toolset& t) {
  if constexpr (format_like<T>) {
    static_assert(formats::check_format<T>());
    t.formats.push_back(formats::make_entry<T>());
  } else if constexpr (proxy_like<T>) {
    t.proxies.emplace_back(T{});
  } else if constexpr (saliency_like<T>) {
    t.saliencies.emplace_back(T{});
  } else if constexpr (solver_like<T>) {
    t.solvers.emplace_back(T{});
  } else {
    static_assert(prismaquant::detail::dependent_false<T>,
                  "cli::run<extra...>: an extra policy must be a format (block_rows, block_cols, ...), a Δloss proxy "
                  "(operator()(linear_stats, fmt, format_cost)), a saliency score (operator()(expert_view)) or a "
                  "solver (solve(flat_problem, budget, solve_options))");
  }
}

// The seed formats followed by the extra formats among T...
template <class L, class... T>
struct with_formats {
  using type = L;
};
template <class... F, class T, class... Rest>
struct with_formats<formats::format_list<F...>, T, Rest...> {
  using type = typename with_formats<
      std::conditional_t<format_like<T>, formats::format_list<F..., T>, formats::format_list<F...>>, Rest...>::type;
};

// CLI11's message as "<option or argument>: <problem>".
inline std::string parse_error_line(const CLI::ParseError& e, const CLI::App& app, int argc, char** argv) {
  const std::string m = e.what();
  std::smatch g;
  auto subcommands = [&] {
    std::string s;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      s += (s.empty() ? "" : ", ") + sub->get_name();
    return s;
  };
  if (m == "A subcommand is required") {
    if (argc > 1 && argv[1][0] != '-') return std::string(argv[1]) + ": unknown subcommand (one of: " + subcommands() + ")";
    return "subcommand: missing (one of: " + subcommands() + ")";
  }
  if (std::regex_match(m, g, std::regex(R"((\S+) is required)"))) return g[1].str() + ": is required";
  if (std::regex_match(m, g, std::regex(R"((\S+) excludes (\S+))")))
    return g[1].str() + ": cannot be given together with " + g[2].str();
  if (std::regex_match(m, g, std::regex(R"((\S+) requires (\S+))"))) return g[1].str() + ": needs " + g[2].str();
  if (std::regex_match(m, g, std::regex(R"(The following arguments? (?:was|were) not expected: (.*))")))
    return g[1].str() + ": unexpected argument (see --help)";
  if (std::regex_match(m, g, std::regex(R"(The value (.*) is not an allowed value for (\S+))")))
    return g[2].str() + ": \"" + g[1].str() + "\" is not a valid value";
  if (std::regex_match(m, g, std::regex(R"(Could not convert: (\S+) = (.*))")))
    return g[1].str() + ": \"" + g[2].str() + "\" is not a valid value";
  if (std::regex_match(m, g, std::regex(R"(Expected exactly (\d+) arguments? to (\S+), got (\d+))")))
    return g[2].str() + ": expected " + g[1].str() + " value(s), got " + g[3].str();
  if (std::regex_match(m, g, std::regex(R"(Expected at least (\d+) arguments? to (\S+), got (\d+))")))
    return g[2].str() + ": expected at least " + g[1].str() + " value(s), got " + g[3].str();
  if (std::regex_match(m, g, std::regex(R"(([-\w]+): (.*))"))) return m;  // already "<option>: <problem>"
  return "arguments: " + m;
}

inline int fail(std::string line) {
  std::replace(line.begin(), line.end(), '\n', ' ');  // one line, whatever the source
  std::fprintf(stderr, "prismaquant: error: %s\n", line.c_str());
  return 1;
}

}  // namespace detail

// The library's policies plus `Extra...`, and one cost pass: the seed formats and the extra
// formats.
template <class... Extra>
toolset make_toolset() {
  toolset t = builtin_toolset();
  (detail::add_policy<Extra>(t), ...);
  t.check_unique();
  t.cost_passes.push_back(cost_pass_for<typename detail::with_formats<formats::seed_formats, Extra...>::type>());
  return t;
}

namespace detail {

// Parses and runs one command line. Argument errors are thrown as prismaquant::error (one
// line naming the option); a command's own errors propagate; --help prints and returns 0.
inline int dispatch(int argc, char** argv, const toolset& tools) {
  CLI::App app{"prismaquant: mixed-precision quantization allocation with joint MoE expert pruning"};
  app.require_subcommand(1);
  std::vector<command> cmds = library_commands();
  for (const auto& c : registered_commands()) cmds.push_back(c);
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::map<CLI::App*, std::function<int()>> runners;
  try {
    for (auto& c : cmds) {
      CLI::App* sub = app.add_subcommand(c.name, c.help);
      runners[sub] = c.setup(*sub, tools);
    }
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    throw error(parse_error_line(e, app, argc, argv));
  } catch (const std::exception& e) {
    throw error("arguments", e.what());
  }
  for (auto& [sub, run] : runners)
    if (sub->parsed()) return run() == 0 ? 0 : 1;
  throw error("subcommand", "missing");
}

}  // namespace detail

// Runs one command line in-process (args[0] is the program name) and returns its exit code;
// errors are thrown, never printed, so a caller that runs commands as steps (`prismaquant
// pipeline`) reports them once.
inline int invoke(const std::vector<std::string>& args, const toolset& tools) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  return detail::dispatch(static_cast<int>(copy.size()), argv.data(), tools);
}

inline int run(int argc, char** argv, const toolset& tools) {
  try {
    return detail::dispatch(argc, argv, tools);
  } catch (const std::filesystem::filesystem_error& e) {
    return detail::fail((e.path1().empty() ? std::string("file") : e.path1().string()) + ": " + e.code().message());
  } catch (const std::bad_alloc&) {
    return detail::fail("memory: out of memory");
  } catch (const std::exception& e) {
    return detail::fail(e.what());
  }
}

// The command line with the library's policies and yours.
template <class... Extra>
int run(int argc, char** argv) {
  try {
    const toolset tools = make_toolset<Extra...>();
    return run(argc, argv, tools);
  } catch (const std::exception& e) {  // e.g. two policies of one axis with the same name
    return detail::fail(e.what());
  }
}

}  // namespace prismaquant::cli
