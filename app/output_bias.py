"""Where a multi-label classifier's output biases start: each label's log-odds.

With zero biases every sigmoid starts at 0.5. Where most labels are rare, the
first steps' gradient mostly says "lower every rare label"; a bias moves about
one learning rate per step (Adam), far too little to reach log-odds of -2 to
-4 in a fine-tuning run, so the encoder is bent instead: the pooled output of
every text is pushed to one place whose logits fit the priors, and the model
predicts the priors whatever the text, frequent labels included. Starting each
bias at the constant that minimises the training loss removes that push (as
Keras' imbalanced-data tutorial and Karpathy's "init well" advise):

    bias_l = log((w_l * positives_l + 1) / (negatives_l + 1))

`w_l` is the label's positive weight (`--class_weights`; 1 unweighted), so
`balanced` weights give 0, where their loss is already balanced; the 1s keep a
label that is never (or always) positive finite. Single-label tasks keep the
original's zero biases.
"""

import collections
from collections.abc import Sequence

import numpy as np

from tasks import OutputKind


def starting_output_bias(
    output_kind: OutputKind,
    labels: Sequence[str],
    train_counts: tuple[collections.Counter, int] | None,
    positive_weights: dict[str, float] | None = None,
) -> dict[str, float] | None:
    """`label_log_odds` for a multi-label run that trains; None (zeros) otherwise.

    `train_counts`: the training examples per label, and how many there are.
    """
    if output_kind is not OutputKind.LABELS or not train_counts or not train_counts[1]:
        return None
    return label_log_odds(labels, *train_counts, positive_weights)


def label_log_odds(
    labels: Sequence[str],
    positives: collections.Counter,
    total: int,
    positive_weights: dict[str, float] | None = None,
) -> dict[str, float]:
    """Each label's starting bias, in label order (formula above).

    `positives`: the examples that hold each label, of `total`.
    """
    weights = positive_weights or {}
    return {
        label: float(
            np.log(
                (weights.get(label, 1.0) * positives[label] + 1)
                / (total - positives[label] + 1)
            )
        )
        for label in labels
    }


def describe(biases: dict[str, float]) -> str:
    """One log line: each label's starting bias."""
    listed = ", ".join(f"{label} {bias:.3f}" for label, bias in biases.items())
    return (
        "Output biases start at each label's log-odds in the training data"
        f" (app/output_bias.py): {listed}."
    )
