"""python/tokenize_jsonl.py in --byte-level mode (the shipped tiny models' tokenizer: ids 0-255
the UTF-8 bytes, 256 <bos>, 257 <eos>): packing per domain, domain order, --rows, uint16/uint32
little-endian output, and one-line errors that write nothing. Needs only the standard library."""
import json, os, subprocess, sys, tempfile

src = os.environ.get("PQ_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
script = os.path.join(src, "python", "tokenize_jsonl.py")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True)


def read(path, width):
    data = open(path, "rb").read()
    return [int.from_bytes(data[i:i + width], "little") for i in range(0, len(data), width)]


def doc(text, eos=True):
    return [256, *text.encode("utf-8"), *([257] if eos else [])]


with tempfile.TemporaryDirectory() as d:
    lines = [{"text": "def f(x):\n    return x", "domain": "code"},
             {"text": "Grüße, naïve café — 東京.", "domain": "prose"},
             {"text": "12 + 30 = 42", "domain": "math"},
             {"text": "class A: pass", "domain": "code"},
             {"text": "The quick brown fox.", "domain": "prose"},
             {"text": "7 * 6 = 42; 6 * 7 = 42", "domain": "math"},
             {"text": "ignored", "domain": "other"}]
    inp = os.path.join(d, "in.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for i, l in enumerate(lines):
            f.write(json.dumps(l, ensure_ascii=(i % 2 == 0)) + "\n")
            if i == 2:
                f.write("\n")  # blank lines are skipped
    out = os.path.join(d, "out.bin")

    # domain order math,code,prose; 2 rows of 8 per domain
    r = run(inp, "--out", out, "--byte-level", "--seq-len", "8", "--rows", "2", "--domains", "math,code,prose")
    check(r.returncode == 0, f"byte-level run succeeds: {r.stderr}")
    streams = {}
    for l in lines:
        streams.setdefault(l["domain"], []).extend(doc(l["text"]))
    want = streams["math"][:16] + streams["code"][:16] + streams["prose"][:16]
    check(read(out, 2) == want, "u16 output = <bos> bytes <eos> per document, 2 rows of 8 per domain, in --domains order")
    check(os.path.getsize(out) == 3 * 2 * 8 * 2, "file size = rows x seq_len x 2 bytes")
    check("--domains math,code,prose" in r.stderr, "stderr says which --domains to probe with")

    # one stream without --domains, every complete row, uint32, no eos
    r = run(inp, "--out", out, "--byte-level", "--seq-len", "16", "--dtype", "u32", "--no-eos")
    check(r.returncode == 0, f"u32 run succeeds: {r.stderr}")
    stream = [t for l in lines for t in doc(l["text"], eos=False)]
    check(read(out, 4) == stream[:(len(stream) // 16) * 16], "u32 output: one stream of every line, complete rows only")

    # errors: one line, exit 1, the previous output untouched
    before = open(out, "rb").read()
    for args, needle in [(["--rows", "50", "--domains", "code,prose,math"], "--rows 50"),
                         (["--domains", "code,poetry"], "poetry"),
                         (["--domains", "code,code"], "repeated"),
                         (["--seq-len", "1"], "--seq-len 1")]:
        r = run(inp, "--out", out, "--byte-level", *args)
        check(r.returncode == 1 and r.stderr.startswith("tokenize_jsonl: error:") and needle in r.stderr
              and r.stderr.count("\n") == 1, f"{args}: one-line error naming {needle!r}, got {r.stderr!r}")
    bad = os.path.join(d, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"text": "ok"}\n{"txt": "no text field"}\n')
    r = run(bad, "--out", out, "--byte-level")
    check(r.returncode == 1 and "bad.jsonl:2" in r.stderr, f"missing text field names file:line, got {r.stderr!r}")
    check(open(out, "rb").read() == before, "failed runs leave the output untouched")
    check(sorted(os.listdir(d)) == ["bad.jsonl", "in.jsonl", "out.bin"], "no temporary file left behind")

print("FAILED" if failures else "ok", len(failures))
sys.exit(1 if failures else 0)
