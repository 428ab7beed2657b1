"""`--class_weights`: how much each class (or label's positives) counts in the loss.

- `none`: every example counts the same, as in the original.
- `balanced`: single-label tasks weight class c by `n / (k * n_c)` (n
  training examples, k classes, n_c of class c), scikit-learn's "balanced";
  multi-label tasks weight the positives of label l by `negatives_l /
  positives_l`, as `pos_weight` of PyTorch's BCEWithLogitsLoss is usually set.
  A class (label) without training examples (positives) keeps weight 1.
- FILE: `label<TAB>weight` lines, one for every label.

The weights shape the training loss only; `eval_loss` stays unweighted, so it
compares across settings.
"""

import collections
import math
import os
from collections.abc import Sequence

import tensorflow as tf

from tasks import DataError, OutputKind

NONE = "none"
BALANCED = "balanced"


def resolve_class_weights(
    setting: str,
    labels: Sequence[str],
    counts: tuple[collections.Counter, int] | None,
    output_kind: OutputKind,
) -> dict[str, float] | None:
    """Each label's weight, in label order, or None for `none` (or no training).

    Args:
        counts: the training split's examples per label (`label_counts`) and
            how many examples it holds; None for a run that does not train.

    Raises:
        DataError: a score task, or a weights FILE that is missing or
            malformed (named by file and line).
    """
    if counts is None or setting == NONE:
        return None
    if output_kind is OutputKind.SCORE:
        raise DataError(
            "--class_weights weights the classes of a classification task, but"
            " this task predicts a score. Drop --class_weights."
            f" Received: class_weights={setting}"
        )
    train_counts, num_examples = counts
    if setting == BALANCED:
        if output_kind is OutputKind.LABELS:
            return balanced_positive_weights(labels, train_counts, num_examples)
        return balanced_class_weights(labels, train_counts, num_examples)
    return read_weights_file(setting, labels)


def balanced_class_weights(
    labels: Sequence[str], counts: collections.Counter, total: int
) -> dict[str, float]:
    """`n / (k * n_c)` for each class c; 1 for a class without examples."""
    num_classes = len(labels)
    return {
        label: total / (num_classes * counts[label]) if counts[label] else 1.0
        for label in labels
    }


def balanced_positive_weights(
    labels: Sequence[str], positives: collections.Counter, total: int
) -> dict[str, float]:
    """`negatives / positives` of each label; 1 for a label never positive.

    `positives`: examples per label, a label counted once per example.
    """
    return {
        label: (total - positives[label]) / positives[label]
        if positives[label]
        else 1.0
        for label in labels
    }


def read_weights_file(path: str, labels: Sequence[str]) -> dict[str, float]:
    """The weights of a `label<TAB>weight` file, every label once, each positive."""
    if not tf.io.gfile.exists(path):
        raise DataError(
            f"--class_weights={path}: no such file. Pass none, balanced, or a"
            " file of `label<TAB>weight` lines. Received:"
            f" class_weights={path}"
        )
    with tf.io.gfile.GFile(path, "r") as file:
        lines = file.read().splitlines()
    weights = {}
    for line_number, line in enumerate(lines, start=1):
        if line.strip():
            label, weight = _parse_line(path, line_number, line, labels)
            if label in weights:
                raise DataError(
                    f"{path}, line {line_number}: label {label!r} is listed a"
                    " second time. Give each label one weight."
                    f" Received: line={line!r}"
                )
            weights[label] = weight
    missing = [label for label in labels if label not in weights]
    if missing:
        raise DataError(
            f"{path}: no weight for the label(s) {missing}. List every label of"
            f" the task ({list(labels)}), one `label<TAB>weight` line each."
        )
    return {label: weights[label] for label in labels}


def _parse_line(
    path: str, line_number: int, line: str, labels: Sequence[str]
) -> tuple[str, float]:
    where = f"{path}, line {line_number}"
    fields = line.split("\t")
    if len(fields) != 2:
        raise DataError(
            f"{where}: expected `label<TAB>weight`, found {len(fields)}"
            f" tab-separated field(s). Fix that line. Received: line={line!r}"
        )
    label, text = fields[0], fields[1].strip()
    if label not in labels:
        raise DataError(
            f"{where}: label {label!r} is not a label of the task"
            f" ({list(labels)}). Fix the label. Received: line={line!r}"
        )
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    if not (math.isfinite(weight) and weight > 0):
        raise DataError(
            f"{where}: the weight of {label!r} must be a positive number."
            f" Received: weight={text!r}"
        )
    return label, weight


def describe(setting: str, weights: dict[str, float] | None) -> str:
    """One log line: the setting and each label's weight."""
    if weights is None:
        return f"Class weights: {setting} (every example counts the same)."
    source = os.path.basename(setting) if setting != BALANCED else setting
    listed = ", ".join(f"{label} {weight:.4g}" for label, weight in weights.items())
    return f"Class weights ({source}): {listed}."
