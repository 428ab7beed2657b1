"""What both workers share: flags, the data file, batch order and the result line.

Imports neither TensorFlow nor torch: each worker runs in its own venv.
"""

import argparse
import csv
import json
import resource
import sys

import numpy as np

PHASES = ("tokenize", "predict", "train")
# "bucketed": ours only, the product's default: training batches of similar
# length (`--bucket_by_length`), prediction sorted by length.
PADDINGS = ("dynamic", "static", "bucketed")
PRECISIONS = ("float32", "bfloat16")
RESULT_PREFIX = "BENCH_RESULT "
LABELS = ("0", "1")


# Flags that `run.py` takes and hands on to every worker unchanged.
SHARED_FLAGS = (
    "model_dir",
    "data_file",
    "batch_size",
    "max_seq_length",
    "learning_rate",
    "warmup_steps",
    "train_steps",
    "predict_examples",
    "tokenize_examples",
    "seed",
)


def add_shared_flags(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The measurement's sizes: the same on both sides of every comparison."""
    parser.add_argument("--model_dir", required=required, help="Hugging Face folder")
    parser.add_argument("--data_file", required=required, help="SST-2 style TSV")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=2e-5)
    parser.add_argument("--warmup_steps", type=int, default=3, help="untimed")
    parser.add_argument("--train_steps", type=int, default=20, help="timed")
    parser.add_argument("--predict_examples", type=int, default=512)
    parser.add_argument("--tokenize_examples", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=12345)


def build_worker_parser(description: str) -> argparse.ArgumentParser:
    """Flags of one measurement in one worker process."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--phase", choices=PHASES, required=True)
    parser.add_argument("--padding", choices=PADDINGS, default="dynamic")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    add_shared_flags(parser)
    return parser


def read_examples(data_file: str) -> tuple[list[str], list[int]]:
    """Sentences and label ids of an SST-2 style TSV (`sentence`, `label`).

    Read as GLUE files are read (no quote characters); a file without a
    `label` column (a test split) gets label 0 everywhere.
    """
    with open(data_file, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    header, rows = rows[0], rows[1:]
    if "sentence" not in header:
        raise SystemExit(
            f"{data_file}:1 has no `sentence` column; expected an SST-2 style TSV "
            f"with the header `sentence<TAB>label`. Received: header={header}"
        )
    text = header.index("sentence")
    label = header.index("label") if "label" in header else None
    sentences = [row[text] for row in rows]
    labels = [0 if label is None else LABELS.index(row[label]) for row in rows]
    return sentences, labels


def sentence_pairs(sentences: list[str]) -> tuple[list[str], list[str]]:
    """Each sentence paired with the next one, for the two-segment packing path."""
    return sentences, sentences[1:] + sentences[:1]


def training_indices(
    num_examples: int, batch_size: int, num_steps: int, seed: int
) -> np.ndarray:
    """Example indices of every training step, as the product orders them.

    The rule of `app.input_pipeline.training_order` (a permutation seeded by
    `seed + epoch` per epoch), so that both sides train on the same batches;
    `ours.py` checks that the two agree.
    """
    num_epochs = max(1, -(-num_steps * batch_size // num_examples))
    order = np.concatenate(
        [
            np.random.RandomState(seed + e).permutation(num_examples)
            for e in range(num_epochs)
        ]
    )
    return order[: num_steps * batch_size]


def peak_rss_mib() -> float:
    """The peak resident memory of this process so far (Linux: KiB -> MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """The resident memory of this process now, from /proc (Linux)."""
    with open("/proc/self/status", encoding="ascii") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_result(result: dict) -> None:
    """One JSON line that `run.py` picks out of the worker's output."""
    result = {**result, "peak_rss_mib": peak_rss_mib()}
    if "loaded_rss_mib" in result:  # what the measured work added to the model
        result["peak_above_loaded_mib"] = (
            result["peak_rss_mib"] - result["loaded_rss_mib"]
        )
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
