#pragma once
// Calibration / evaluation token files and how they are cut into batches.
//
// A token file is raw uint16 little-endian, row-major [rows, seq_len], no header (the shipped
// models/*/calib_tokens.bin; python/tokens_from_jsonl.py writes one from text). Vocabularies
// beyond 65536 ids (MiniMax-M2.7: 200064) need uint32 ids: the same layout with 4-byte tokens
// (`--token-dtype uint32`).
// `domains` splits the rows into equal consecutive parts in the order named ("default" when
// none is named); a batch is `batch_rows` consecutive rows of one domain, the last batch of a
// domain may be short; batches are numbered in file order.
#include <prismaquant/core/error.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace prismaquant::engine {

struct token_file {
  std::filesystem::path path;
  std::int64_t rows = 0, seq_len = 0;
  std::vector<std::uint32_t> ids;  // [rows × seq_len]
  std::uint64_t checksum = 0;      // FNV-1a 64 of the file's bytes (identifies it in stats files)

  const std::uint32_t* row(std::int64_t r) const { return ids.data() + r * seq_len; }
};

// Reads and checks a token file: non-empty, a whole number of rows of seq_len tokens, every id
// below vocab, seq_len within the model's positions. Errors name the file (or the option).
inline token_file read_token_file(const std::filesystem::path& path, std::int64_t seq_len, std::int64_t vocab,
                                  std::int64_t max_positions, int token_bytes = 2) {
  const std::string where = path.string();
  if (seq_len < 2) throw error("--seq-len", std::to_string(seq_len) + " is too short (at least 2 tokens: one prediction)");
  if (seq_len > max_positions)
    throw error("--seq-len", std::to_string(seq_len) + " exceeds the model's max_position_embeddings " +
                                 std::to_string(max_positions));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw error(where, "no such token file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw error(where, "cannot open for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.empty()) throw error(where, "empty token file");
  if (token_bytes != 2 && token_bytes != 4) throw error("--token-dtype", "tokens are uint16 or uint32");
  const std::uint64_t row_bytes = static_cast<std::uint64_t>(token_bytes) * static_cast<std::uint64_t>(seq_len);
  if (bytes.size() % row_bytes)
    throw error(where, std::to_string(bytes.size()) + " bytes is not a whole number of rows of " +
                           std::to_string(seq_len) + (token_bytes == 2 ? " uint16" : " uint32") + " tokens (" +
                           std::to_string(row_bytes) + " bytes each)");
  token_file t;
  t.path = path;
  t.seq_len = seq_len;
  t.rows = static_cast<std::int64_t>(bytes.size() / row_bytes);
  t.ids.resize(bytes.size() / static_cast<std::size_t>(token_bytes));
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    h ^= static_cast<unsigned char>(bytes[i]);
    h *= 1099511628211ull;
  }
  t.checksum = h;
  for (std::size_t i = 0; i < t.ids.size(); ++i) {
    std::uint32_t v = 0;
    for (int k = token_bytes - 1; k >= 0; --k)
      v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(token_bytes) * i + static_cast<std::size_t>(k)]);
    if (static_cast<std::int64_t>(v) >= vocab)
      throw error(where, "token " + std::to_string(v) + " at row " + std::to_string(static_cast<std::int64_t>(i) / seq_len) +
                             ", position " + std::to_string(static_cast<std::int64_t>(i) % seq_len) +
                             " is not below the model's vocab_size " + std::to_string(vocab));
    t.ids[i] = v;
  }
  return t;
}

inline std::string checksum_string(std::uint64_t h) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// "code,prose,math" -> names; "" -> {"default"}.
inline std::vector<std::string> parse_domains(const std::string& csv) {
  if (csv.empty()) return {"default"};
  std::vector<std::string> v;
  std::set<std::string> seen;
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) throw error("--domains", "empty domain name in \"" + csv + "\"");
    if (!seen.insert(item).second) throw error("--domains", "\"" + item + "\" is named twice");
    v.push_back(item);
  }
  if (v.empty()) throw error("--domains", "no domain named");
  return v;
}

struct batch {
  int index = 0;   // in file order
  int domain = 0;  // index into batch_plan::domains
  std::int64_t first_row = 0, rows = 0;
};

struct batch_plan {
  std::vector<std::string> domains;
  std::vector<batch> batches;
  std::int64_t rows = 0, seq_len = 0, batch_rows = 0;
};

inline batch_plan plan_batches(const token_file& t, std::vector<std::string> domains, std::int64_t batch_rows) {
  if (batch_rows < 1) throw error("--batch", "must be at least 1 row");
  const std::int64_t D = static_cast<std::int64_t>(domains.size());
  if (t.rows % D)
    throw error(t.path.string(), std::to_string(t.rows) + " rows do not split into " + std::to_string(D) +
                                     " equal domains (--domains)");
  batch_plan p;
  p.domains = std::move(domains);
  p.rows = t.rows;
  p.seq_len = t.seq_len;
  p.batch_rows = batch_rows;
  const std::int64_t per = t.rows / D;
  for (std::int64_t d = 0; d < D; ++d)
    for (std::int64_t r = 0; r < per; r += batch_rows)
      p.batches.push_back({static_cast<int>(p.batches.size()), static_cast<int>(d), d * per + r,
                           std::min(batch_rows, per - r)});
  return p;
}

}  // namespace prismaquant::engine
