#!/usr/bin/env python3
"""Builds the byte-level training / calibration / evaluation corpora for the tiny MiniMax-M2.

Three domains of real text found on this machine (plus generated math):
  code  - Python standard-library source (top-level *.py of the interpreter's lib dir)
  prose - English text from /usr/share/common-licenses and /usr/share/doc
          (README*, *.txt, *.md, *.rst; gz decompressed; changelogs, NEWS, copyright,
          license and author lists and git's RelNotes excluded; a "looks like prose" filter drops data files)
  math  - arithmetic word problems generated here from a fixed seed (the answer is
          computed, so every worked solution is correct)

Tokenizer (byte-level): token id = byte value 0..255; 256 = <bos>, 257 = <eos>,
258 = <pad>, 259 = <unk> (reserved, never produced). Vocabulary 260. Each document is
<bos> bytes... <eos>.

Split (deterministic): every source file goes wholly to one split by sha256(relative
name) mod 100: 0-89 train, 90-94 calib, 95-99 eval. Math problems are generated from
three separate seeds, one per split. Outputs (uint16 little-endian token streams, one per
domain and split) plus manifest.json go to --out.
"""
import argparse, gzip, hashlib, json, os, random, sys
from pathlib import Path

BOS, EOS, PAD, UNK = 256, 257, 258, 259
VOCAB = 260
SPLITS = ("train", "calib", "eval")


def split_of(name: str) -> str:
    h = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 100
    return "train" if h < 90 else ("calib" if h < 95 else "eval")


def encode_doc(data: bytes) -> list:
    return [BOS, *data, EOS]


def code_files(pylib: Path):
    for p in sorted(pylib.glob("*.py")):
        if p.name.startswith("_sysconfigdata"):  # generated dict, not code anyone wrote
            continue
        yield "code/" + p.name, p.read_bytes()


EXCLUDE = ("changelog", "copyright", "news", "license", "licence", "authors", "thanks",
           "history", "credits", "contributors", "maintainers")


def looks_like_prose(b: bytes) -> bool:
    if len(b) < 400:
        return False
    try:
        t = b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    letters = sum(c.isalpha() for c in t)
    spaces = t.count(" ")
    # prose: mostly letters and spaces, few markup/punctuation characters, real words
    return letters / len(t) > 0.70 and spaces / len(t) > 0.12 and t.count("<") < len(t) / 200


def prose_files(max_file: int):
    out = []
    for p in sorted(Path("/usr/share/common-licenses").iterdir()):
        if p.is_file() and not p.is_symlink():
            out.append(("licenses/" + p.name, p.read_bytes()))
    root = Path("/usr/share/doc")
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        n = p.name.lower()
        base = n[:-3] if n.endswith(".gz") else n
        if any(x in base for x in EXCLUDE) or "RelNotes" in p.parts:  # release notes = changelogs
            continue
        if not (base.startswith("readme") or base.endswith((".txt", ".md", ".rst"))):
            continue
        try:
            b = gzip.decompress(p.read_bytes()) if n.endswith(".gz") else p.read_bytes()
        except (OSError, EOFError):
            continue
        b = b.replace(b"\r\n", b"\n")
        if not looks_like_prose(b):
            continue
        out.append(("doc/" + str(p.relative_to(root)), b[:max_file]))
    # identical files are common in /usr/share/doc (one README per binary package): keep one
    seen, uniq = set(), []
    for name, b in out:
        d = hashlib.sha256(b).digest()
        if d not in seen:
            seen.add(d)
            uniq.append((name, b))
    return uniq


NAMES = ["Alice", "Bob", "Carmen", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines",
         "Jamal", "Kate", "Luis", "Mei", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sam",
         "Tariq", "Uma", "Victor", "Wen", "Yara", "Zoe"]
ITEMS = ["apples", "books", "marbles", "stamps", "pencils", "cookies", "tickets", "coins",
         "shells", "stickers", "eggs", "cards", "bottles", "plants", "boxes"]


def problem(rng: random.Random) -> str:
    a, b = rng.sample(NAMES, 2)
    it = rng.choice(ITEMS)
    k = rng.randrange(7)
    if k == 0:
        x, y, z = rng.randint(5, 99), rng.randint(1, 60), rng.randint(1, 40)
        z = min(z, x + y)
        r1 = x + y; r2 = r1 - z
        q = f"{a} has {x} {it}. {a} buys {y} more and then gives {z} to {b}. How many {it} does {a} have now?"
        s = f"{x} + {y} = {r1}. {r1} - {z} = {r2}. The answer is {r2}."
    elif k == 1:
        n, p = rng.randint(2, 12), rng.randint(2, 25)
        r = n * p
        q = f"A box holds {p} {it}. {a} fills {n} boxes. How many {it} is that in total?"
        s = f"{n} * {p} = {r}. The answer is {r}."
    elif k == 2:
        n, g = rng.randint(2, 12), rng.randint(2, 20)
        t = n * g
        q = f"{a} shares {t} {it} equally among {n} friends. How many {it} does each friend get?"
        s = f"{t} / {n} = {g}. The answer is {g}."
    elif k == 3:
        price, n, paid = rng.randint(2, 30), rng.randint(2, 9), 0
        cost = price * n
        paid = cost + rng.randint(0, 50)
        paid = ((paid + 9) // 10) * 10
        r = paid - cost
        q = f"One of the {it} costs {price} dollars. {a} buys {n} of them and pays with {paid} dollars. How much change does {a} get?"
        s = f"{n} * {price} = {cost}. {paid} - {cost} = {r}. The answer is {r}."
    elif k == 4:
        x, y = rng.randint(10, 500), rng.randint(10, 500)
        r = x + y
        q = f"{a} collected {x} {it} last year and {y} {it} this year. How many {it} did {a} collect in both years?"
        s = f"{x} + {y} = {r}. The answer is {r}."
    elif k == 5:
        x = rng.randint(2, 40); m = rng.randint(2, 6); d = rng.randint(1, x * m)
        r1 = x * m; r2 = r1 - d
        q = f"{b} has {x} {it}. {a} has {m} times as many. Then {a} loses {d} of them. How many {it} does {a} have left?"
        s = f"{x} * {m} = {r1}. {r1} - {d} = {r2}. The answer is {r2}."
    else:
        x, y, z = rng.randint(1, 99), rng.randint(1, 99), rng.randint(1, 99)
        r = x + y + z
        q = f"{a} counts {x} {it} on Monday, {y} on Tuesday and {z} on Wednesday. What is the total?"
        s = f"{x} + {y} = {x + y}. {x + y} + {z} = {r}. The answer is {r}."
    return f"Question: {q}\nAnswer: {s}\n"


def math_docs(seed: int, n_docs: int):
    rng = random.Random(seed)
    for i in range(n_docs):
        # a document is a short worksheet of 3-6 problems
        yield f"math/{seed}/{i}", "".join(problem(rng) for _ in range(rng.randint(3, 6))).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--pylib", default="/root/.pyenv/versions/3.11.7/lib/python3.11",
                    help="standard-library folder whose top-level *.py files are the code domain")
    ap.add_argument("--max-prose-file", type=int, default=96 * 1024,
                    help="bytes kept per prose file (stops one manual from dominating)")
    ap.add_argument("--math-docs", type=int, default=6000, help="train worksheets")
    args = ap.parse_args()
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    import numpy as np

    docs = {"code": list(code_files(Path(args.pylib))), "prose": prose_files(args.max_prose_file)}
    manifest = {"vocab": VOCAB, "bos": BOS, "eos": EOS, "pad": PAD, "unk": UNK,
                "pylib": args.pylib, "domains": {}}
    for dom in ("code", "prose", "math"):
        if dom == "math":
            per = {"train": list(math_docs(1, args.math_docs)),
                   "calib": list(math_docs(2, args.math_docs // 18)),
                   "eval": list(math_docs(3, args.math_docs // 18))}
        else:
            per = {s: [] for s in SPLITS}
            for name, b in docs[dom]:
                per[split_of(name)].append((name, b))
        manifest["domains"][dom] = {}
        for s in SPLITS:
            toks = [t for _, b in per[s] for t in encode_doc(b)]
            arr = np.asarray(toks, dtype="<u2")
            arr.tofile(out / f"{dom}_{s}.bin")
            manifest["domains"][dom][s] = {
                "files": len(per[s]), "tokens": int(arr.size),
                "sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
                "names": [n for n, _ in per[s]] if dom != "math" else []}
            print(f"{dom:5s} {s:5s} files {len(per[s]):5d} tokens {arr.size:9d}")
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.rename(out / "manifest.json")


if __name__ == "__main__":
    main()
