"""python/tokenize_jsonl.py with a model's own tokenizer (--tokenizer, transformers AutoTokenizer).
A small word-level tokenizer is built offline with the `tokenizers` package and saved as a
tokenizer folder; the expected ids are computed here from its vocabulary, independently of
transformers. Needs transformers: in this interpreter, else in the repository's .venv-ref
(PQ_REF_PYTHON overrides); exit 77 (skipped) when neither has it."""
import json, os, subprocess, sys, tempfile

src = os.environ.get("PQ_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
script = os.path.join(src, "python", "tokenize_jsonl.py")


def has_transformers(py):
    return subprocess.run([py, "-c", "import transformers, tokenizers"], capture_output=True).returncode == 0


py = None
for cand in (os.environ.get("PQ_REF_PYTHON"), sys.executable, os.path.join(src, ".venv-ref", "bin", "python")):
    if cand and os.path.exists(cand) and has_transformers(cand):
        py = cand
        break
if py is None:
    print("skipped: transformers is not importable (here or in .venv-ref)")
    sys.exit(77)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


VOCAB = {"[UNK]": 0, "<s>": 1, "</s>": 2, "the": 3, "cat": 4, "sat": 5, "x": 6, "=": 7, "1": 8,
         "+": 9, "2": 10, "def": 11, "f": 12, "(": 13, ")": 14, ":": 15, "rare": 70000}
MAKE = r"""
import sys
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast
vocab = %r
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="[UNK]").save_pretrained(sys.argv[1])
""" % VOCAB


def expected(text, eos=True):
    return [1] + [VOCAB.get(w, 0) for w in text.split()] + ([2] if eos else [])


def read(path, width):
    data = open(path, "rb").read()
    return [int.from_bytes(data[i:i + width], "little") for i in range(0, len(data), width)]


with tempfile.TemporaryDirectory() as d:
    tdir = os.path.join(d, "tok")
    r = subprocess.run([py, "-c", MAKE, tdir], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: cannot build the test tokenizer:", r.stderr[-500:])
        sys.exit(1)
    docs = [("the cat sat", "prose"), ("def f ( x ) :", "code"), ("x = 1 + 2", "math"),
            ("the cat sat the cat", "prose"), ("def f ( ) : x", "code"), ("1 + 1 = 2 unknownword", "math")]
    inp = os.path.join(d, "in.jsonl")
    with open(inp, "w") as f:
        for t, dom in docs:
            f.write(json.dumps({"content": t, "kind": dom}) + "\n")
    out = os.path.join(d, "out.bin")
    r = subprocess.run([py, script, inp, "--out", out, "--tokenizer", tdir, "--seq-len", "4", "--rows", "2",
                        "--domains", "code,math,prose", "--text-field", "content", "--domain-field", "kind"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"tokenizer run succeeds: {r.stderr[-800:]}")
    if r.returncode == 0:
        want = []
        for dom in ("code", "math", "prose"):
            stream = [t for text, k in docs if k == dom for t in expected(text)]
            want += stream[:8]
        check(read(out, 2) == want, f"ids = tokenizer(text) (+<bos> from the template) + <eos>, per domain: {read(out, 2)} vs {want}")
    with open(inp, "a") as f:
        f.write(json.dumps({"content": "rare rare rare rare", "kind": "prose"}) + "\n")
    r = subprocess.run([py, script, inp, "--out", out, "--tokenizer", tdir, "--seq-len", "4",
                        "--text-field", "content", "--no-eos"], capture_output=True, text=True)
    check(r.returncode == 1 and "70000" in r.stderr and "u32" in r.stderr, f"id >= 65536 refused in u16: {r.stderr!r}")
    r = subprocess.run([py, script, inp, "--out", out, "--tokenizer", tdir, "--seq-len", "4", "--dtype", "u32",
                        "--text-field", "content", "--no-eos"], capture_output=True, text=True)
    stream = [t for text, _ in docs for t in expected(text, eos=False)] + expected("rare rare rare rare", eos=False)
    check(r.returncode == 0 and read(out, 4) == stream[:len(stream) // 4 * 4], f"u32 keeps ids >= 65536: {r.stderr[-300:]}")
    r = subprocess.run([py, script, inp, "--out", out, "--tokenizer", os.path.join(d, "nope"), "--text-field", "content"],
                       capture_output=True, text=True)
    check(r.returncode == 1 and r.stderr.startswith("tokenize_jsonl: error:") and "nope" in r.stderr,
          f"missing tokenizer folder: one-line error, got {r.stderr[-300:]!r}")

print("FAILED" if failures else "ok", len(failures))
sys.exit(1 if failures else 0)
