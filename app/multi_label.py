"""Multi-label scores and the decision threshold (`--multi_label`).

A label is predicted when its sigmoid probability reaches the threshold:
`--multi_label_threshold`, or with `tuned` the threshold on a grid of
hundredths that maximises micro-F1 on the dev set. The threshold is logged,
reported as `eval_threshold`, used for predictions.tsv and stored in the
export.
"""

import json
import logging
import os

import numpy as np

from app.config import RunConfig, multi_label_threshold

logger = logging.getLogger(__name__)

# Candidate thresholds for `tuned`: 0.01, 0.02, ..., 0.99.
THRESHOLD_GRID = np.round(np.arange(1, 100) / 100, 2)


def micro_f1(targets: np.ndarray, predictions: np.ndarray) -> float:
    """F1 over every (example, label) decision pooled; 0 with no positives at all."""
    targets, predictions = np.asarray(targets, bool), np.asarray(predictions, bool)
    true_positives = np.sum(targets & predictions)
    wrong = np.sum(targets != predictions)  # false positives + false negatives
    denominator = 2 * true_positives + wrong
    return float(2 * true_positives / denominator) if denominator else 0.0


def macro_f1(targets: np.ndarray, predictions: np.ndarray) -> float:
    """The mean of the labels' F1 scores (a label never true nor predicted: 0)."""
    import sklearn.metrics  # here, not at the top: loading it slows every run

    return float(
        sklearn.metrics.f1_score(
            np.asarray(targets, bool),
            np.asarray(predictions, bool),
            average="macro",
            zero_division=0,
        )
    )


def subset_accuracy(targets: np.ndarray, predictions: np.ndarray) -> float:
    """The share of examples whose predicted label set is exactly the true one."""
    same = np.asarray(targets, bool) == np.asarray(predictions, bool)
    return float(np.mean(np.all(same, axis=1)))


def hamming_loss(targets: np.ndarray, predictions: np.ndarray) -> float:
    """The share of (example, label) decisions that are wrong."""
    return float(np.mean(np.asarray(targets, bool) != np.asarray(predictions, bool)))


def predict_labels(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """(examples, labels) bool: each label whose probability reaches `threshold`."""
    return np.asarray(probabilities) >= threshold


def tune_threshold(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """The grid threshold with the best micro-F1; of ties, the one nearest 0.5."""
    scores = np.array(
        [micro_f1(targets, predict_labels(probabilities, t)) for t in THRESHOLD_GRID]
    )
    best = np.flatnonzero(scores == scores.max())
    nearest = best[np.argmin(np.abs(THRESHOLD_GRID[best] - 0.5))]
    return float(THRESHOLD_GRID[nearest])


def resolve_threshold(
    config: RunConfig, probabilities: np.ndarray, targets: np.ndarray
) -> float:
    """The flag's threshold, or with `tuned` the best one on these dev outputs."""
    fixed = multi_label_threshold(config)
    if fixed is not None:
        return fixed
    threshold = tune_threshold(probabilities, targets)
    logger.info(
        "--multi_label_threshold=tuned: %.2f gives the best dev micro-F1 (%.4f;"
        " %.4f at 0.5).",
        threshold,
        micro_f1(targets, predict_labels(probabilities, threshold)),
        micro_f1(targets, predict_labels(probabilities, 0.5)),
    )
    return threshold


def decision_threshold(config: RunConfig) -> float:
    """The threshold predictions and the export use.

    A number as given; `tuned` (which needs --do_eval) as this run's evaluation
    chose it, read back from its eval_results.json.
    """
    fixed = multi_label_threshold(config)
    if fixed is not None:
        return fixed
    path = os.path.join(config.output_dir, "eval_results.json")
    with open(path, encoding="utf-8") as file:
        return float(json.load(file)["eval_threshold"])
