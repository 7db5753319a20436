#!/usr/bin/env python3
"""JSON-lines text -> a token file for `prismaquant probe` / `prismaquant eval`.

Input: one JSON object per line with the document text in "text" (--text-field) and, optionally,
its calibration domain in "domain" (--domain-field). Blank lines are skipped.

Output: raw little-endian unsigned integers, row-major [rows, seq_len], no header — the layout of
the shipped models' calib_tokens.bin / eval_tokens.bin. Element type uint16 (--dtype u16, the
default; an id >= 65536 is an error) or uint32 (--dtype u32, for vocabularies beyond 65536 such
as MiniMax-M2's 200064 — only for readers that take uint32 token files).

Tokenizers:
  --tokenizer DIR_OR_NAME   the model's own tokenizer (transformers AutoTokenizer; a local
                            checkpoint folder works offline). A document is
                            tokenizer(text, add_special_tokens=True).input_ids, followed by the
                            tokenizer's eos_token_id unless --no-eos (and if it has one).
  --byte-level              the rule of prismaquant's shipped tiny models (no transformers
                            needed): ids 0-255 = the UTF-8 bytes, 256 = <bos>, 257 = <eos>;
                            a document is <bos> bytes... <eos> (<eos> dropped with --no-eos).

Rows: per domain, the domain's documents are concatenated in file order into one stream,
which is cut into consecutive rows of --seq-len tokens (an incomplete last row is dropped).
--rows N takes the first N rows of every domain (error if a domain has fewer); without it
every complete row is written (then the domains need not have equal row counts, but
`--domains` of the probe splits rows into equal parts: give --rows for that).
--domains a,b,c writes the domains in that order (lines of other domains are ignored; a named
domain without lines is an error). Without --domains every line is used, in one stream, and
the domain field is ignored. The domains and row counts are printed on stderr, the way to tell
`prismaquant probe --domains`.

Examples:
  python/tokenize_jsonl.py calib.jsonl --out calib.bin --tokenizer /models/MiniMax-M2.7 \\
      --dtype u32 --seq-len 2048 --domains code,prose,math --rows 32
  python/tokenize_jsonl.py calib.jsonl --out calib.bin --byte-level --domains code,prose,math --rows 32

Bad input: one line `tokenize_jsonl: error: <file or option>: <problem>`, exit 1, nothing
written (the output is written to a temporary file and renamed).
"""
import argparse, json, os, struct, sys, tempfile

BYTE_BOS, BYTE_EOS = 256, 257


class Bad(Exception):
    pass


def byte_level_encoder(eos: bool):
    def enc(text: str):
        return [BYTE_BOS, *text.encode("utf-8"), *([BYTE_EOS] if eos else [])]
    return enc


def hf_encoder(name: str, eos: bool):
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise Bad(f"--tokenizer: transformers is not importable ({e}); use the python of .venv-ref")
    try:
        tok = AutoTokenizer.from_pretrained(name)
    except Exception as e:  # the tokenizer's own loader decides what a valid folder is
        raise Bad(f"{name}: cannot load a tokenizer ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    eos_id = tok.eos_token_id if eos else None

    def enc(text: str):
        ids = list(tok(text, add_special_tokens=True)["input_ids"])
        return ids + ([eos_id] if eos_id is not None else [])
    return enc


def read_documents(path, text_field, domain_field, domains):
    """{domain: [text, ...]} in file order; one domain "default" when domains is None."""
    docs = {d: [] for d in domains} if domains else {"default": []}
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise Bad(f"{path}: {e.strerror}")
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise Bad(f"{path}:{n}: not a JSON object ({e.msg if hasattr(e, 'msg') else e})")
            if not isinstance(obj, dict) or not isinstance(obj.get(text_field), str):
                raise Bad(f"{path}:{n}: needs a string field \"{text_field}\"")
            if domains is None:
                docs["default"].append(obj[text_field])
                continue
            d = obj.get(domain_field)
            if not isinstance(d, str):
                raise Bad(f"{path}:{n}: needs a string field \"{domain_field}\" (--domains was given)")
            if d in docs:
                docs[d].append(obj[text_field])
    for d, texts in docs.items():
        if not texts:
            raise Bad(f"{path}: no document of domain \"{d}\"")
    return docs


def make_rows(docs, encode, seq_len, rows, limit):
    """[(domain, [row, ...])] in domain order; each row a list of seq_len ids."""
    out = []
    for d, texts in docs.items():
        stream = []
        need = None if rows is None else rows * seq_len
        for t in texts:
            stream.extend(encode(t))
            if need is not None and len(stream) >= need:
                break
        have = len(stream) // seq_len
        if rows is not None and have < rows:
            raise Bad(f"--rows {rows}: domain \"{d}\" has only {have} complete rows of {seq_len} tokens")
        if have == 0:
            raise Bad(f"--seq-len {seq_len}: domain \"{d}\" has fewer than {seq_len} tokens")
        n = have if rows is None else rows
        block = stream[:n * seq_len]
        bad = next((x for x in block if not 0 <= x < limit), None)
        if bad is not None:
            raise Bad(f"--dtype: token id {bad} does not fit ({'use --dtype u32' if limit == 1 << 16 else 'out of range'})")
        out.append((d, [block[i * seq_len:(i + 1) * seq_len] for i in range(n)]))
    return out


def write_atomic(path, data: bytes):
    d = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tokenize_jsonl.", dir=d)
    except OSError as e:
        raise Bad(f"{path}: {e.strerror}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="JSON-lines file")
    ap.add_argument("--out", required=True, help="token file to write")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--tokenizer", help="model folder or hub name for transformers.AutoTokenizer")
    g.add_argument("--byte-level", action="store_true", help="ids 0-255 bytes, 256 <bos>, 257 <eos>")
    ap.add_argument("--seq-len", type=int, default=256, help="tokens per row (default 256)")
    ap.add_argument("--rows", type=int, default=None, help="rows per domain (default: every complete row)")
    ap.add_argument("--domains", default=None, help="comma-separated domain order (default: one stream)")
    ap.add_argument("--text-field", default="text")
    ap.add_argument("--domain-field", default="domain")
    ap.add_argument("--dtype", choices=("u16", "u32"), default="u16")
    ap.add_argument("--no-eos", action="store_true", help="do not append <eos> to each document")
    a = ap.parse_args(argv)
    try:
        if a.seq_len < 2:
            raise Bad(f"--seq-len {a.seq_len}: must be at least 2")
        if a.rows is not None and a.rows < 1:
            raise Bad(f"--rows {a.rows}: must be at least 1")
        domains = None
        if a.domains is not None:
            domains = a.domains.split(",")
            if any(not d for d in domains) or len(set(domains)) != len(domains):
                raise Bad(f"--domains {a.domains}: empty or repeated name")
        docs = read_documents(a.input, a.text_field, a.domain_field, domains)
        encode = byte_level_encoder(not a.no_eos) if a.byte_level else hf_encoder(a.tokenizer, not a.no_eos)
        limit = 1 << (16 if a.dtype == "u16" else 32)
        parts = make_rows(docs, encode, a.seq_len, a.rows, limit)
        fmt = "<" + ("H" if a.dtype == "u16" else "I")
        data = b"".join(struct.pack(f"{fmt[0]}{len(r)}{fmt[1]}", *r) for _, rows in parts for r in rows)
        write_atomic(a.out, data)
    except Bad as e:
        print(f"tokenize_jsonl: error: {e}", file=sys.stderr)
        return 1
    total = sum(len(r) for _, r in parts)
    print(f"{a.out}: {total} rows x {a.seq_len} ({a.dtype}); " +
          ", ".join(f"{d} {len(r)}" for d, r in parts) +
          (f"; probe with --domains {','.join(d for d, _ in parts)}" if domains else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
