"""Code says what and why; figures, machines and dates live in docs/.

Docstrings, comments and flag help in the product's code must not cite
throughput, memory sizes, milliseconds, CPU models or dates, and the README
stays a front page.
"""

import ast
import io
import pathlib
import re
import tokenize

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECKED = ["main.py", "app", "tasks", "checkpoints"]
README_MAX_WORDS = 1200

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
FIGURES = {
    "throughput": re.compile(
        r"\b(?:ex|examples?|sentences?|pairs?|tokens?|steps?|batch(?:es)?|it)"
        r"\s*/\s*(?:s|sec|second)\b"
        r"|\b(?:examples?|sentences?|tokens?) (?:a|per) second\b"
        r"|\bG?FLOP/s\b"
        rf"|\b{_NUMBER}\s?x\s+(?:faster|slower|quicker|as\s+fast|the\s+speed)\b"
        r"|\b\d+\.\d+\s?x\b(?!\w)"
        rf"|\b(?:faster|slower)\s+by\s+{_NUMBER}\s?x\b",
        re.IGNORECASE,
    ),
    "memory size": re.compile(r"\b(?:KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)\b"),
    "milliseconds": re.compile(
        rf"\b{_NUMBER}\s?(?:ms|µs|us)\b|\b(?:milli|micro)seconds?\b", re.IGNORECASE
    ),
    "CPU model": re.compile(
        r"\b(?:Xeon|EPYC|Ryzen|Threadripper|Opteron|Athlon|Pentium|Celeron"
        r"|Graviton|Neoverse|Ampere\s+Altra|Core\s+i[3579]|Zen\s?[1-5]"
        r"|Skylake|Cascade\s+Lake|Ice\s+Lake|Cooper\s+Lake"
        r"|(?:Sapphire|Emerald|Granite)\s+Rapids|Apple\s+M[1-4])\b",
        re.IGNORECASE,
    ),
    "date": re.compile(r"\b(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b"),
}

# Calls whose string arguments are help text a user reads: absl flags,
# argparse, app.config's `setting(default, help)`, dataclass fields and any
# helper named after flags. Names and defaults ride along; they cite nothing.
_HELP_KEYWORDS = {"help", "help_text", "description"}
_FLAG_CALL = re.compile(
    r"^(?:DEFINE\w*|add_argument|setting|field|\w*flag\w*)$", re.IGNORECASE
)


def figures_in(text):
    """Yields (kind, matched text) for every figure `text` cites."""
    for kind, pattern in FIGURES.items():
        for match in pattern.finditer(text):
            yield kind, match.group(0)


def _strings(node):
    """The literal text of a string expression: constants, f-string parts, `+`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _strings(node.left) + _strings(node.right)
    return []


def _call_name(call):
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _help_texts(tree):
    """(line, text) of flag help: flag-defining calls, `help=` and {"help": ...}."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _FLAG_CALL.match(_call_name(node)):
                for arg in node.args:
                    for text in _strings(arg):
                        yield arg.lineno, text
            for keyword in node.keywords:
                if keyword.arg in _HELP_KEYWORDS:
                    for text in _strings(keyword.value):
                        yield keyword.value.lineno, text
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value in _HELP_KEYWORDS:
                    for text in _strings(value):
                        yield value.lineno, text


def _docstrings(tree):
    """(line, text) of every string that stands alone as a statement."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr):
            for text in _strings(node.value):
                yield node.lineno, text


def _comments(source):
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def prose_of(source):
    """Yields (line, where, text) for each docstring, comment and flag help."""
    tree = ast.parse(source)
    for line, text in _docstrings(tree):
        yield line, "docstring", text
    for line, text in _comments(source):
        yield line, "comment", text
    for line, text in _help_texts(tree):
        yield line, "flag help", text


def violations_in(source, name):
    """`name:line: kind in where: 'match'` for every figure the prose cites."""
    found = set()
    for line, where, text in prose_of(source):
        for offset, text_line in enumerate(text.splitlines() or [text]):
            for kind, match in figures_in(text_line):
                found.add((line + offset, f"{kind} in {where}: {match!r}"))
    return [f"{name}:{line}: {what}" for line, what in sorted(found)]


def checked_files():
    for entry in CHECKED:
        path = ROOT / entry
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize(
    "text, kind",
    [
        ("prediction 1.13x faster on two cores", "throughput"),
        ("ran at 0.6x as fast as float32", "throughput"),
        ("three at once: 1.07x)", "throughput"),
        ("trains at 92.8 ex/s", "throughput"),
        ("1,024 examples/s", "throughput"),
        ("reached 105 GFLOP/s", "throughput"),
        ("peaked 370 MiB lower", "memory size"),
        ("a multi-GB download", "memory size"),
        ("an update took 50 ms", "milliseconds"),
        ("a few milliseconds", "milliseconds"),
        ("on a 2-core Intel Xeon", "CPU model"),
        ("an AMD EPYC", "CPU model"),
        ("Zen 3 cores", "CPU model"),
        ("measured 2026-11-25", "date"),
    ],
)
def test_figures_are_found(text, kind):
    assert kind in [found_kind for found_kind, _ in figures_in(text)]


@pytest.mark.parametrize(
    "text",
    [
        "max_seq_length=128 keeps the original's default",
        "a batch of 32 examples, 128 tokens each",
        "(batch, sequence_length, hidden) x (hidden, hidden)",
        "items and terms; 2x2 matrix; ms-marco; mixed_bfloat16; 0x1F",
        "resumes after 3 steps; epsilon 1e-12; 0.1 dropout",
        "keras 3.15, tensorflow 2.21; `--num_train_epochs=3.0`",
    ],
)
def test_plain_text_is_not_flagged(text):
    assert list(figures_in(text)) == []


def test_docstrings_comments_and_flag_help_are_collected():
    source = (
        '"""Module, 10 ms."""\n'
        "import absl.flags as flags\n"
        "# comment, 20 ms\n"
        'flags.DEFINE_integer("steps", 1, "help, 30 ms")\n'
        'FIELD = dict(metadata={"help": "metadata help, 40 ms"})\n'
        'SETTING = setting(None, "config help, 45 ms")\n'
        "def f():\n"
        '    """Function,\n    50 ms."""\n'
        '    raise ValueError("an error message may say 60 ms")\n'
        'print("output may say 70 ms")\n'
    )
    assert violations_in(source, "x.py") == [
        "x.py:1: milliseconds in docstring: '10 ms'",
        "x.py:3: milliseconds in comment: '20 ms'",
        "x.py:4: milliseconds in flag help: '30 ms'",
        "x.py:5: milliseconds in flag help: '40 ms'",
        "x.py:6: milliseconds in flag help: '45 ms'",
        "x.py:9: milliseconds in docstring: '50 ms'",
    ]


def test_code_prose_cites_no_figures():
    """Benchmark figures, machines and dates belong in docs/, not in the code."""
    violations = []
    for path in checked_files():
        name = path.relative_to(ROOT).as_posix()
        violations += violations_in(path.read_text(encoding="utf-8"), name)
    assert violations == [], "move these to docs/:\n" + "\n".join(violations)


def test_readme_is_a_front_page():
    words = len((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert words <= README_MAX_WORDS, f"README.md has {words} words"


def test_readme_links_point_at_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t]
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []


# Flags of other programs that the docs show: ruff, tensorboard and absl's own.
OTHER_PROGRAMS_FLAGS = {"check", "logdir", "flagfile", "helpfull", "verbosity"}


def project_flags():
    """Every flag of main.py, of the tools in CHECKED and of bench/."""
    import dataclasses

    from app.config import RunConfig

    names = {field.name for field in dataclasses.fields(RunConfig)}
    for path in [*checked_files(), *sorted((ROOT / "bench").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            defines = isinstance(node, ast.Call) and re.match(
                r"DEFINE|add_argument$", _call_name(node)
            )
            if defines and node.args:
                names.update(name.lstrip("-") for name in _strings(node.args[0]))
    return names


def beam_pipeline_options():
    """The options of Beam's runners, which app.batch_predict passes on."""
    from apache_beam.options.pipeline_options import PipelineOptions

    return set(PipelineOptions([]).get_all_options())


def test_flags_the_docs_name_exist():
    documents = [ROOT / "README.md", ROOT / "bench" / "README.md"]
    documents += sorted((ROOT / "docs").glob("*.md"))
    known = project_flags() | OTHER_PROGRAMS_FLAGS | beam_pipeline_options()
    unknown = [
        f"{document.relative_to(ROOT)}: --{name}"
        for document in documents
        for name in sorted(
            set(re.findall(r"--([a-z][a-z0-9_]*)", document.read_text()))
        )
        if name not in known
    ]
    assert unknown == []
