#pragma once
// Checked option values for the `prismaquant` commands: CLI11 validators whose messages
// follow the tool's error contract (CLI11 puts the option's name first, main.cpp the
// "prismaquant: error: " prefix), so a bad value is rejected before any work starts.
//
//   sub.add_option("--time-limit", a->time_limit)->check(check::number(0, 1e9, check::open_low));
//   sub.add_option("--target-bytes", a->bytes)->transform(check::integer(0, INT64_MAX));
//   sub.add_option("--problem", a->problem)->required()->check(check::existing_file());
//
// number(): finite, inside the range (NaN and Inf never are). integer(): a decimal integer, or
// a number written with an exponent that is an exact integer (90e9), inside the range; the
// value is rewritten to plain decimal for CLI11's own conversion, so no double ever reaches
// an integer unchecked. Attach it with ->transform(): ->check() makes CLI11 drop the rewrite.
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace prismaquant::cli::check {

enum bounds : unsigned { closed = 0, open_low = 1, open_high = 2, open_both = 3 };

namespace detail {
inline std::string show(double v) {
  if (v == std::numeric_limits<double>::max()) return "inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
inline std::string interval(double lo, double hi, unsigned b) {
  return std::string(b & open_low ? "(" : "[") + show(lo) + ", " + show(hi) + (b & open_high ? ")" : "]");
}
// The whole string as a double (strtod: decimal, exponent, "nan", "inf"); false if it is not one.
inline bool parse_double(const std::string& s, double& v) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}
}  // namespace detail

// A finite number in the range (bounds open or closed).
inline CLI::Validator number(double lo, double hi, unsigned b = closed) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        double v;
        if (!detail::parse_double(s, v)) return "\"" + s + "\" is not a number";
        if (!std::isfinite(v)) return "\"" + s + "\" is not a finite number";
        if (v < lo || v > hi || ((b & open_low) && v == lo) || ((b & open_high) && v == hi))
          return s + " is out of range " + detail::interval(lo, hi, b);
        return {};
      },
      "NUMBER in " + detail::interval(lo, hi, b), "number");
}

// An integer in [lo, hi]; "90e9" is read as 90000000000 (exact integers only).
inline CLI::Validator integer(long long lo, long long hi) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        long long v = 0;
        const char* b = s.data();
        const char* e = s.data() + s.size();
        if (!s.empty() && s[0] == '+') ++b;
        auto r = std::from_chars(b, e, v);
        if (r.ec == std::errc::result_out_of_range) return s + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
        if (r.ec != std::errc{} || r.ptr != e) {
          double d;
          if (!detail::parse_double(s, d)) return "\"" + s + "\" is not an integer";
          if (!std::isfinite(d) || d != std::floor(d)) return "\"" + s + "\" is not an integer";
          // 2^63 is the first double beyond long long: compare before converting.
          if (d < static_cast<double>(lo) || d >= 9223372036854775808.0 || d > static_cast<double>(hi))
            return s + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
          v = static_cast<long long>(d);
        }
        if (v < lo || v > hi) return s + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
        s = std::to_string(v);
        return {};
      },
      "INTEGER in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", "integer");
}

// An input file that exists and is not a folder.
inline CLI::Validator existing_file() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::error_code ec;
        const auto st = std::filesystem::status(s, ec);
        if (!std::filesystem::exists(st)) return s + ": no such file";
        if (std::filesystem::is_directory(st)) return s + ": is a folder, not a file";
        return {};
      },
      "FILE", "existing file");
}

// An input folder that exists.
inline CLI::Validator existing_folder() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::error_code ec;
        const auto st = std::filesystem::status(s, ec);
        if (!std::filesystem::exists(st)) return s + ": no such folder";
        if (!std::filesystem::is_directory(st)) return s + ": is a file, not a folder";
        return {};
      },
      "DIR", "existing folder");
}

// An input that exists: a file or a folder (a checkpoint given either way).
inline CLI::Validator existing_path() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::error_code ec;
        if (!std::filesystem::exists(std::filesystem::status(s, ec))) return s + ": no such file or folder";
        return {};
      },
      "PATH", "existing path");
}

// An output file: not an existing folder (its files are published by the command).
inline CLI::Validator output_file() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::error_code ec;
        if (s.empty()) return "empty path";
        if (s.back() == '/' || std::filesystem::is_directory(std::filesystem::status(s, ec)))
          return s + ": is a folder; give the output file's name";
        return {};
      },
      "FILE", "output file");
}

// An output folder: not an existing file.
inline CLI::Validator output_folder() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::error_code ec;
        if (s.empty()) return "empty path";
        const auto st = std::filesystem::status(s, ec);
        if (std::filesystem::exists(st) && !std::filesystem::is_directory(st)) return s + ": is a file, not a folder";
        return {};
      },
      "DIR", "output folder");
}

// One of the given names.
inline CLI::Validator one_of(std::vector<std::string> names) {
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        for (const auto& n : names)
          if (n == s) return {};
        return "unknown value \"" + s + "\" (known: " + list + ")";
      },
      "one of: " + list, "name");
}

}  // namespace prismaquant::cli::check
