#!/usr/bin/env python3
"""Turn JSON-lines text into a prismaquant token file with a model's own tokenizer.

A token file is raw uint16 little-endian, row-major [rows, seq_len] (no header), what
`prismaquant probe --calib` and `prismaquant eval --tokens` read; a vocabulary beyond 65536 ids
(MiniMax-M2.7: 200064) is written as uint32 (pass `--token-dtype uint32` to the probe). Each input line is a JSON
object with a text field (default "text"); documents are tokenized with the checkpoint's
tokenizer (transformers.AutoTokenizer), joined with the tokenizer's EOS (documents are cut at
row boundaries, as the shipped files are), and cut into rows of seq_len tokens. Several input
files are written one after another in the order given, so `--domains` can split the rows:
give each domain's file and the same number of rows per file (--rows-per-file).

Usage (with .venv-ref, which has transformers):
  python python/tokens_from_jsonl.py --model /path/to/MiniMax-M2.7 --seq-len 4096 \
      --rows-per-file 16 code.jsonl prose.jsonl math.jsonl --out calib.bin   # uint32: 200k vocab
"""
import argparse
import json
import sys

import numpy as np


def rows_from(path, tok, seq_len, field, limit):
    buf, rows = [], []
    eos = tok.eos_token_id
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                text = json.loads(line)[field]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                sys.exit(f"{path}:{n}: not a JSON object with a \"{field}\" string ({e})")
            ids = tok(text, add_special_tokens=True)["input_ids"]
            buf.extend(ids)
            if eos is not None:
                buf.append(eos)
            while len(buf) >= seq_len and (limit is None or len(rows) < limit):
                rows.append(buf[:seq_len])
                buf = buf[seq_len:]
            if limit is not None and len(rows) >= limit:
                break
    if limit is not None and len(rows) < limit:
        sys.exit(f"{path}: only {len(rows)} rows of {seq_len} tokens, --rows-per-file asks for {limit}")
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="JSON-lines files, one per domain, in --domains order")
    p.add_argument("--model", required=True, help="checkpoint folder or hub id with a tokenizer")
    p.add_argument("--out", required=True, help="token file to write")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--field", default="text", help="JSON field holding the text (default: text)")
    p.add_argument("--rows-per-file", type=int, default=None, help="exactly this many rows from each input")
    p.add_argument("--dtype", choices=["auto", "uint16", "uint32"], default="auto",
                   help="token id width (auto: uint16 when the vocabulary fits)")
    a = p.parse_args()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(a.model)
    dtype = a.dtype if a.dtype != "auto" else ("uint16" if len(tok) <= 65536 else "uint32")
    if dtype == "uint16" and len(tok) > 65536:
        sys.exit(f"{a.model}: vocabulary of {len(tok)} does not fit uint16 token ids (use --dtype uint32)")
    rows = []
    for path in a.inputs:
        rows.extend(rows_from(path, tok, a.seq_len, a.field, a.rows_per_file))
    if not rows:
        sys.exit("no complete row of tokens in the inputs")
    arr = np.asarray(rows, dtype="<u2" if dtype == "uint16" else "<u4")
    tmp = a.out + ".tmp"
    arr.tofile(tmp)
    import os

    os.replace(tmp, a.out)
    print(f"{a.out}: {arr.shape[0]} rows x {a.seq_len} {dtype} tokens")


if __name__ == "__main__":
    main()
