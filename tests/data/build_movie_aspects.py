"""Builds a multi-label set from the demo's Rotten Tomatoes sentences.

Each sentence gets its sentiment (`positive` or `negative`, from the human
scores behind data/movie_reviews) and every aspect whose keywords it uses
(`acting`, `story`, `humor`, `visuals`, `music`). The aspect labels are keyword
rules, so a model can learn them from the words alone; the sentiment is the
human judgement. Writes train.jsonl (labels as JSON lists), dev.csv and
test.csv (labels joined by `|`) into --output_dir:

    python tests/data/build_movie_aspects.py --source=data/movie_reviews \\
        --output_dir=/tmp/aspects [--train_rows=40 --dev_rows=16 --test_rows=8]

tests/data/movie_aspects/ holds the first rows of each split (the flags above).
"""

import argparse
import csv
import json
import os
import re

ASPECTS = {
    "acting": r"act(?:ing|or|ors|ress)|performances?|cast|role",
    "story": r"story|plot|script|screenplay|narrative|writing|written",
    "humor": r"funny|comedy|comic|humou?r|laughs?|hilarious|jokes?",
    "visuals": r"visual(?:ly|s)?|cinematography|camera|images?|photograph\w*|looks",
    "music": r"music|musical|songs?|score|soundtrack",
}
PATTERNS = {
    name: re.compile(rf"\b(?:{words})\b", re.I) for name, words in ASPECTS.items()
}


def labels_of(sentence: str, label: str) -> list[str]:
    """The sentiment, then the aspects the sentence names, in ASPECTS order."""
    sentiment = "positive" if label == "1" else "negative"
    return [sentiment] + [name for name, p in PATTERNS.items() if p.search(sentence)]


def read_split(path: str, labels_path: str | None = None) -> list[tuple[str, str]]:
    """(sentence, label) rows of a movie_reviews split (test: labels beside it)."""
    with open(path, encoding="utf-8") as file:
        rows = [line.rstrip("\n").split("\t") for line in file][1:]
    if labels_path is None:
        return [(sentence, label) for sentence, label in rows]
    with open(labels_path, encoding="utf-8") as file:
        labels = [line.rstrip("\n").split("\t")[1] for line in file][1:]
    return [(row[1], label) for row, label in zip(rows, labels)]


def write_jsonl(path: str, rows) -> None:
    with open(path, "w", encoding="utf-8") as file:
        for sentence, label in rows:
            record = {"text": sentence, "labels": labels_of(sentence, label)}
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_csv(path: str, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "labels"])
        for sentence, label in rows:
            writer.writerow([sentence, "|".join(labels_of(sentence, label))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="data/movie_reviews")
    parser.add_argument("--output_dir", required=True)
    for split in ("train", "dev", "test"):
        parser.add_argument(f"--{split}_rows", type=int, default=None)
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    source = args.source
    splits = {
        "train": read_split(os.path.join(source, "train.tsv")),
        "dev": read_split(os.path.join(source, "dev.tsv")),
        "test": read_split(
            os.path.join(source, "test.tsv"), os.path.join(source, "test_labels.tsv")
        ),
    }
    write_jsonl(
        os.path.join(args.output_dir, "train.jsonl"),
        splits["train"][: args.train_rows],
    )
    for split in ("dev", "test"):
        rows = splits[split][: getattr(args, f"{split}_rows")]
        write_csv(os.path.join(args.output_dir, f"{split}.csv"), rows)


if __name__ == "__main__":
    main()
