"""`python -m app.tokenize`: stdin lines to packed ids, and clear flag errors."""

import io
import os
import subprocess
import sys

import pytest

from app import tokenize
from tests.bert_weights import TINY_VOCABULARY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNCASED_VOCAB = os.path.join(ROOT, "tests", "data", "vocab_uncased.txt")


def run(argv, text=""):
    stdout = io.StringIO()
    code = tokenize.main(["tokenize", *argv], io.BytesIO(text.encode()), stdout)
    return code, stdout.getvalue().splitlines()


def test_texts_and_pairs_print_unpadded_ids(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in TINY_VOCABULARY))
    lines = "Is this Jacksonville?\tNo it is not.\nThe dog\n\nthe cat\t\n"
    code, output = run([f"--vocab_file={vocab}", "--do_lower_case=true"], lines)
    assert code == 0
    assert output == [
        "2 9 30 26 27 28 23 3 29 25 9 14 21 3",  # [CLS] is this jack ##son ...
        "2 5 7 3",
        "2 3",
        "2 5 8 3",  # an empty text_b packs as a single text, as the original
    ]


def test_long_pairs_are_cut_to_max_seq_length():
    line = "the quick brown fox jumps over the lazy dog\tand runs away\n"
    code, output = run([f"--vocab_file={UNCASED_VOCAB}", "--max_seq_length=10"], line)
    assert code == 0
    # 9 + 3 tokens into 7: the original's _truncate_seq_pair keeps 4 + 3.
    assert output == ["101 1996 4248 2829 4419 102 1998 3216 2185 102"]


def test_case_follows_the_flag():
    lines = "Naïve CAFÉ\n"
    _, lowercased = run([f"--vocab_file={UNCASED_VOCAB}"], lines)
    _, cased = run([f"--vocab_file={UNCASED_VOCAB}", "--nodo_lower_case"], lines)
    assert lowercased == ["101 15743 7668 102"] and cased == ["101 100 100 102"]


def test_init_checkpoint_gives_the_vocabulary(huggingface_dir):
    code, output = run([f"--init_checkpoint={huggingface_dir}"], "the hairy dog\n")
    assert (code, output) == (0, ["2 5 11 7 3"])


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "Pass --vocab_file=PATH or --init_checkpoint=PATH"),
        (["--vocab_file=v.txt", "--max_seq_length=2"], "not integer >= 3"),
        (["--vocab_file=v.txt", "--do_lower_case=maybe"], "Non-boolean argument"),
        (["--vocab_file=v.txt", "--max_len=5"], "Unknown command line flag"),
        (["--vocab_file=missing/vocab.txt"], "missing/vocab.txt not found"),
    ],
)
def test_bad_flags_exit_1_with_one_clear_line(argv, message, capsys):
    code, output = run(argv)
    error = capsys.readouterr().err
    assert (code, output) == (1, [])
    assert error.startswith("ERROR: ") and message in error
    assert "Traceback" not in error


def test_as_a_module_with_a_bad_flag():
    result = subprocess.run(
        [sys.executable, "-m", "app.tokenize", "--max_seq_length=x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: flag --max_seq_length=x")
    assert "Traceback" not in result.stderr


def test_a_line_that_is_not_utf8_exits_1_naming_it(tmp_path, capsys):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in TINY_VOCABULARY))
    stdout = io.StringIO()
    stdin = io.BytesIO(b"the dog\nthe caf\xe9\nthe cat\n")
    code = tokenize.main(["tokenize", f"--vocab_file={vocab}"], stdin, stdout)
    assert (code, stdout.getvalue()) == (1, "")
    assert capsys.readouterr().err == (
        "ERROR: <stdin>, line 2: the line is not valid UTF-8 (invalid "
        "continuation byte at byte 7 of the line). Data files must be UTF-8 "
        "encoded; convert the file, e.g. with `iconv -f latin1 -t utf-8`. "
        "Received: bytes=b'the caf\\xe9\\n'\n"
    )


def test_a_checkpoint_folder_refuses_the_opposite_case(huggingface_dir, capsys):
    argv = [f"--init_checkpoint={huggingface_dir}", "--nodo_lower_case"]
    code, output = run(argv, "the dog\n")
    assert (code, output) == (1, [])
    assert "says `do_lower_case: true`" in capsys.readouterr().err
    code, output = run([*argv, "--allow_case_mismatch"], "the dog\n")
    assert (code, output) == (0, ["2 5 7 3"])
