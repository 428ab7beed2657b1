"""Long reviews whose label sits at the end: data for measuring `--long_text`.

Each document is near-neutral Rotten Tomatoes sentences (mean human score
within `--neutral_below` of 0) until they hold at least `--filler_tokens`
words and punctuation marks (each at least one WordPiece), then one clearly
scored sentence (at least `--decisive_from` from 0), which gives the label:
"1" for a positive score, "0" for a negative one. So a model that reads only
the first `--filler_tokens` tokens never sees the sentence that decides.
Splits draw their deciding sentences from disjoint sets, and dev and test
draw their filler from sentences that training never saw.

The source is the demo's (see `tasks.movie_reviews`):

    python -m tasks.long_reviews --source=.cache/movieReviewSnippets_GroundTruth.txt \\
        --output_dir=data/long_reviews

writes `train.tsv`, `dev.tsv` and `test.tsv` with a `text<TAB>label` header,
for `--task_name=csv`.
"""

import argparse
import os
import re
import sys
from collections.abc import Sequence

import numpy as np

from tasks.errors import DataError
from tasks.movie_reviews import read_scored_sentences, write_tsv

SPLITS = ("train", "dev", "test")
# The share of the neutral sentences kept for training's filler.
TRAIN_FILLER_SHARE = 0.7
_UNITS = re.compile(r"\w+|[^\w\s]")


def count_units(text: str) -> int:
    """Words and punctuation marks: a lower bound on WordPieces."""
    return len(_UNITS.findall(text))


def build_long_reviews(
    scored: Sequence[tuple[float, str]],
    sizes: dict[str, int],
    seed: int = 12345,
    filler_tokens: int = 130,
    neutral_below: float = 0.5,
    decisive_from: float = 1.0,
) -> dict[str, list[tuple[str, str]]]:
    """`(text, label)` documents per split, `sizes[split]` of each.

    Raises:
        DataError: too few deciding or neutral sentences for the sizes.
    """
    rng = np.random.RandomState(seed)
    neutral = [text for score, text in scored if abs(score) < neutral_below]
    decisive = [
        (text, "1" if score > 0 else "0")
        for score, text in scored
        if abs(score) >= decisive_from
    ]
    if len(decisive) < sum(sizes.values()) or len(neutral) < 2:
        raise DataError(
            f"The source has {len(decisive)} deciding and {len(neutral)} neutral"
            f" sentences; {sum(sizes.values())} documents need as many deciding"
            " sentences and at least 2 neutral ones. Ask for fewer documents."
        )
    decisive = [decisive[i] for i in rng.permutation(len(decisive))]
    neutral = [neutral[i] for i in rng.permutation(len(neutral))]
    cut = max(1, int(len(neutral) * TRAIN_FILLER_SHARE))
    fillers = {"train": neutral[:cut], "dev": neutral[cut:], "test": neutral[cut:]}
    documents, start = {}, 0
    for split in SPLITS:
        deciding = decisive[start : start + sizes.get(split, 0)]
        start += len(deciding)
        documents[split] = [
            (_document(fillers[split], sentence, filler_tokens, rng), label)
            for sentence, label in deciding
        ]
    return documents


def _document(filler: list[str], sentence: str, filler_tokens: int, rng) -> str:
    chosen = []
    while sum(map(count_units, chosen)) < filler_tokens:
        chosen.append(filler[rng.randint(len(filler))])
    return " ".join(chosen + [sentence])


def write_long_reviews(source_path: str, output_dir: str, **options) -> dict:
    """Writes train.tsv, dev.tsv and test.tsv; returns the documents per split."""
    documents = build_long_reviews(read_scored_sentences(source_path), **options)
    os.makedirs(output_dir, exist_ok=True)
    for split, rows in documents.items():
        write_tsv(os.path.join(output_dir, f"{split}.tsv"), ("text", "label"), rows)
    return {split: len(rows) for split, rows in documents.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.long_reviews",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source", required=True, help="path of movieReviewSnippets_GroundTruth.txt"
    )
    parser.add_argument("--output_dir", required=True, help="folder for the .tsv files")
    parser.add_argument("--train", type=int, default=800, help="documents")
    parser.add_argument("--dev", type=int, default=400, help="documents")
    parser.add_argument("--test", type=int, default=200, help="documents")
    parser.add_argument("--seed", type=int, default=12345, help="shuffle seed")
    parser.add_argument("--filler_tokens", type=int, default=130)
    parser.add_argument("--neutral_below", type=float, default=0.5)
    parser.add_argument("--decisive_from", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        counts = write_long_reviews(
            args.source,
            args.output_dir,
            sizes={split: getattr(args, split) for split in SPLITS},
            seed=args.seed,
            filler_tokens=args.filler_tokens,
            neutral_below=args.neutral_below,
            decisive_from=args.decisive_from,
        )
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(", ".join(f"{split}: {count}" for split, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
