"""Print the packed token ids of each line of standard input.

    printf 'Is this Jacksonville?\\tNo it is not.\\n' | python -m app.tokenize \
        --vocab_file=uncased_L-12_H-768_A-12/vocab.txt --do_lower_case=true
    101 2003 2023 13057 1029 102 2053 2009 2003 2025 1012 102

A line is a text, or `text_a<TAB>text_b`. Each prints as one line of
space-separated ids without padding, cut to `--max_seq_length`, through the
same preprocessing layer as training and serving: to see how text is cut,
and to check parity with the original tokenizer. `--init_checkpoint` may
stand in for `--vocab_file` (its own vocabulary, case setting and the
original's case check).

`--format=json` prints instead, per line, the inputs of an export's
`serve_token_ids` signature, padded to `--max_seq_length` (the export's
`max_seq_length`, so that rows batch together):

    {"token_ids": [101, 2003, ...], "segment_ids": [0, ...], "padding_mask": [1, ...]}

which are the `instances` of a TF Serving REST request, for a server without
TensorFlow Text ops (serving EXPORT_DIR/token_ids/):

    python -m app.tokenize --vocab_file=vocab.txt --format=json < texts.txt \
        | jq -s '{signature_name: "serve_token_ids", instances: .}' \
        | curl -d @- http://localhost:8501/v1/models/bert:predict
"""

import json
import os
import sys
from collections.abc import Iterable, Iterator

from absl import flags

# Lines per call of the layer; a terminal gets each line at once.
BATCH_SIZE = 256
# The packed inputs, named as the export's serve_token_ids takes them.
INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def define_flags() -> flags.FlagValues:
    """This tool's flags, in a registry of their own (main.py has the same)."""
    values = flags.FlagValues()
    flags.DEFINE_string(
        "vocab_file", None, "The vocab.txt of the model.", flag_values=values
    )
    flags.DEFINE_string(
        "init_checkpoint",
        None,
        "Instead of (or with) --vocab_file: the checkpoint whose vocabulary "
        "to use (original, Hugging Face or keras-hub).",
        flag_values=values,
    )
    flags.DEFINE_string(
        "bert_config_file",
        None,
        "bert_config.json of an original checkpoint (default: beside it).",
        flag_values=values,
    )
    flags.DEFINE_bool(
        "do_lower_case",
        None,
        "Lowercase and strip accents (default: the checkpoint's setting, "
        "else True as in the original).",
        flag_values=values,
    )
    flags.DEFINE_bool(
        "allow_case_mismatch",
        False,
        "Tokenize even when --do_lower_case contradicts the checkpoint's own "
        "case setting.",
        flag_values=values,
    )
    flags.DEFINE_integer(
        "max_seq_length",
        128,
        "The maximum total input sequence length after WordPiece tokenization.",
        lower_bound=3,
        flag_values=values,
    )
    flags.DEFINE_enum(
        "format",
        "ids",
        ["ids", "json"],
        "ids: the unpadded ids, space-separated; json: token_ids, segment_ids "
        "and padding_mask padded to --max_seq_length, the inputs of an "
        "export's serve_token_ids signature.",
        flag_values=values,
    )
    return values


def parse_flags(argv: list[str]) -> flags.FlagValues:
    """Parsed flags, or flags.Error with a message that says what to pass."""
    values = define_flags()
    values(argv)
    if not (values.vocab_file or values.init_checkpoint):
        raise flags.Error("Pass --vocab_file=PATH or --init_checkpoint=PATH")
    return values


def build_preprocessor(values: flags.FlagValues):
    """The pipeline's ClassifierPreprocessor for these flags."""
    from app.preprocessing import ClassifierPreprocessor
    from checkpoints import read_pretrained, validate_case_matches_checkpoint

    vocabulary, do_lower_case = values.vocab_file, values.do_lower_case
    if values.init_checkpoint:
        pretrained = read_pretrained(
            values.init_checkpoint, values.vocab_file, values.bert_config_file
        )
        vocabulary = pretrained.vocabulary
        if do_lower_case is None:
            do_lower_case = pretrained.lowercase
    do_lower_case = do_lower_case is not False  # the original's default: True
    validate_case_matches_checkpoint(
        do_lower_case, values.init_checkpoint, values.allow_case_mismatch
    )
    return ClassifierPreprocessor(vocabulary, values.max_seq_length, do_lower_case)


def read_lines(binary) -> Iterator[str]:
    """Lines split at newline bytes only; a line that is not UTF-8 is a
    DataError naming it, as the runner's file readers report it (the
    original `convert_to_unicode` dropped such bytes silently)."""
    from tasks.tsv import decode_line

    for line_number, line in enumerate(binary, start=1):
        yield decode_line(line, "<stdin>", line_number)


def batches(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def packed_rows(preprocessor, lines: list[str]) -> list[dict]:
    """The packed inputs of each line, padded; texts and pairs are packed apart.

    Each row is {"token_ids", "segment_ids", "padding_mask"}: int lists.
    """
    import tensorflow as tf

    rows = [line.rstrip("\r\n").split("\t", 1) for line in lines]
    result = [None] * len(rows)
    for width in (1, 2):
        indices = [i for i, row in enumerate(rows) if len(row) == width]
        if not indices:
            continue
        names = ("text_a", "text_b")[:width]
        features = {
            name: tf.constant([rows[i][column] for i in indices])
            for column, name in enumerate(names)
        }
        outputs = preprocessor(features)
        columns = [tf.cast(outputs[name], tf.int32).numpy() for name in INPUT_NAMES]
        for row_number, i in enumerate(indices):
            result[i] = {
                name: column[row_number].tolist()
                for name, column in zip(INPUT_NAMES, columns)
            }
    return result


def format_row(row: dict, output_format: str) -> str:
    """One output line: unpadded ids, or the row as JSON."""
    if output_format == "json":
        return json.dumps(row, separators=(", ", ": "))
    ids = [i for i, mask in zip(row["token_ids"], row["padding_mask"]) if mask]
    return " ".join(map(str, ids))


def main(argv: list[str], stdin=None, stdout=None) -> int:
    """Tokenizes stdin (bytes) to stdout; a mistake prints one line, returns 1."""
    stdin, stdout = stdin or sys.stdin.buffer, stdout or sys.stdout
    if "--help" in argv[1:] or "-h" in argv[1:]:
        print(__doc__ + "\n" + define_flags().get_help(), file=stdout)
        return 0
    try:
        values = parse_flags(argv)
    except flags.Error as error:
        print(f"ERROR: {error}\nSee --help for the flags.", file=sys.stderr)
        return 1
    from checkpoints import CheckpointError
    from tasks import DataError

    try:
        preprocessor = build_preprocessor(values)
        size = 1 if stdin.isatty() else BATCH_SIZE
        for lines in batches(read_lines(stdin), size):
            for row in packed_rows(preprocessor, lines):
                print(format_row(row, values.format), file=stdout)
            stdout.flush()
    except (CheckpointError, DataError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv))
