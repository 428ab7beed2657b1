"""Evaluation metrics, computed once per example over the whole evaluation set.

`task_metrics` gives a task everything papers report for it: the original's
keys (`eval_accuracy`, `eval_loss`, `loss`), the task's own metrics (CoLA:
Matthews correlation; MRPC, QQP: F1; STS-B: Pearson and Spearman), the same
per group (MNLI matched/mismatched, XNLI languages), and per-class precision,
recall, F1 and the confusion matrix.

scikit-learn and SciPy are imported by the metrics that use them, so a run
whose task needs neither never loads them (app/lean_imports.py).
"""

import re
from collections.abc import Sequence

import numpy as np

from app.multi_label import (
    hamming_loss,
    macro_f1,
    micro_f1,
    predict_labels,
    subset_accuracy,
)
from tasks import DataProcessor, InputExample, OutputKind
from tasks.dataset import build_targets

_EPSILON = 1e-12  # keeps log(0) finite for a probability that underflowed


def accuracy(targets: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.mean(targets == predictions))


def f1(targets: np.ndarray, predictions: np.ndarray) -> float:
    """F1 of class 1, the positive class of MRPC and QQP ("1")."""
    import sklearn.metrics

    return float(
        sklearn.metrics.f1_score(targets, predictions, pos_label=1, zero_division=0)
    )


def matthews_correlation(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Matthews correlation; 0 where it is undefined (a constant input)."""
    import sklearn.metrics

    return float(sklearn.metrics.matthews_corrcoef(targets, predictions))


def pearson(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Pearson correlation; 0 where it is undefined (a constant input)."""
    import scipy.stats

    return _correlation(scipy.stats.pearsonr, targets, predictions)


def spearman(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Spearman rank correlation; 0 where it is undefined (a constant input)."""
    import scipy.stats

    return _correlation(scipy.stats.spearmanr, targets, predictions)


# Metric name (as in `DataProcessor.metric_names`) -> fn(targets, predictions).
METRICS = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews_correlation": matthews_correlation,
    "pearson": pearson,
    "spearman": spearman,
    # Multi-label: over (examples, labels) 0/1 targets and predictions.
    "micro_f1": micro_f1,
    "macro_f1": macro_f1,
    "subset_accuracy": subset_accuracy,
    "hamming_loss": hamming_loss,
}


def main_metric_key(processor: DataProcessor) -> str:
    """The result key of the metric a task is scored by, e.g. `eval_f1` for MRPC."""
    return f"eval_{processor.metric_names[0]}"


def classification_metrics(
    probabilities: np.ndarray, label_ids: np.ndarray, batch_size: int
) -> dict:
    """The original's eval keys: eval_accuracy, eval_loss and loss.

    `eval_loss` is the mean cross-entropy over examples; `loss` is the mean of
    the per-batch mean losses, as the original's estimator reports it.

    Args:
        probabilities: (num_examples, num_labels) class probabilities.
        label_ids: (num_examples,) true class indices.
        batch_size: int. The evaluation batch size, for `loss`.
    """
    label_ids = np.asarray(label_ids, dtype=np.int64)
    picked = probabilities[np.arange(len(label_ids)), label_ids]
    per_example_loss = -np.log(np.maximum(picked, _EPSILON))
    return {
        "eval_accuracy": accuracy(label_ids, probabilities.argmax(-1)),
        "eval_loss": float(per_example_loss.mean()),
        "loss": _mean_of_batch_means(per_example_loss, batch_size),
    }


def regression_metrics(
    scores: np.ndarray, targets: np.ndarray, batch_size: int
) -> dict:
    """eval_loss (mean squared error over examples) and loss (mean of batch means).

    Args:
        scores: (num_examples,) predicted scores.
        targets: (num_examples,) true scores.
        batch_size: int. The evaluation batch size, for `loss`.
    """
    squared_errors = (np.asarray(scores, np.float64) - targets) ** 2
    return {
        "eval_loss": float(squared_errors.mean()),
        "loss": _mean_of_batch_means(squared_errors, batch_size),
    }


def multi_label_metrics(
    probabilities: np.ndarray,
    targets: np.ndarray,
    labels: Sequence[str],
    threshold: float,
    batch_size: int,
) -> dict:
    """eval_loss, loss, eval_threshold and each label's precision, recall and F1.

    `eval_loss` is the binary cross-entropy averaged over labels, then over
    examples (unweighted, whatever --class_weights trained with); `loss` the
    mean of the per-batch means.

    Args:
        probabilities: (num_examples, num_labels) sigmoid probabilities.
        targets: (num_examples, num_labels) 0/1 true labels.
        labels: the label names, for the per-label keys.
        threshold: a label is predicted when its probability reaches it.
        batch_size: int. The evaluation batch size, for `loss`.
    """
    clipped = np.clip(np.asarray(probabilities, np.float64), _EPSILON, 1 - _EPSILON)
    per_example_loss = -np.mean(
        targets * np.log(clipped) + (1 - targets) * np.log(1 - clipped), axis=1
    )
    metrics = {
        "eval_loss": float(per_example_loss.mean()),
        "loss": _mean_of_batch_means(per_example_loss, batch_size),
        "eval_threshold": float(threshold),
    }
    true = np.asarray(targets, bool)
    predicted = np.asarray(predict_labels(probabilities, threshold), bool)
    hits = (true & predicted).sum(axis=0)
    metrics.update(
        _per_label_scores(labels, hits, predicted.sum(axis=0), true.sum(axis=0))
    )
    return metrics


def per_class_metrics(
    label_ids: np.ndarray, predicted_ids: np.ndarray, labels: Sequence[str]
) -> dict:
    """eval_precision_LABEL, eval_recall_LABEL, eval_f1_LABEL, eval_confusion_matrix.

    The confusion matrix is a list of rows, one per true label in label order,
    counting the predictions of each label. A class never predicted has
    precision 0.
    """
    matrix = confusion_matrix(label_ids, predicted_ids, len(labels))
    metrics = _per_label_scores(
        labels, np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1)
    )
    metrics["eval_confusion_matrix"] = matrix.tolist()
    return metrics


def _per_label_scores(labels, hits, predicted, true) -> dict:
    """eval_precision/recall/f1_LABEL from per-label counts of right
    predictions, predictions and true examples; 0 where a count is 0, as
    sklearn's precision_recall_fscore_support(zero_division=0)."""
    precision = _divide(hits, predicted)
    recall = _divide(hits, true)
    f1_scores = _divide(2.0 * hits, np.asarray(true, np.float64) + predicted)
    metrics = {}
    for index, label in enumerate(labels):
        name = metric_key_part(label)
        metrics[f"eval_precision_{name}"] = float(precision[index])
        metrics[f"eval_recall_{name}"] = float(recall[index])
        metrics[f"eval_f1_{name}"] = float(f1_scores[index])
    return metrics


def confusion_matrix(
    label_ids: np.ndarray, predicted_ids: np.ndarray, num_classes: int
) -> np.ndarray:
    """(num_classes, num_classes) counts: row the true class, column the predicted."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(label_ids), np.asarray(predicted_ids)), 1)
    return matrix


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator in float64, 0 where the denominator is 0."""
    result = np.zeros(len(denominator), dtype=np.float64)
    nonzero = denominator != 0
    result[nonzero] = np.asarray(numerator, np.float64)[nonzero] / denominator[nonzero]
    return result


def task_metrics(
    processor: DataProcessor,
    examples: Sequence[InputExample],
    outputs: np.ndarray,
    labels: Sequence[str],
    batch_size: int,
    threshold: float = 0.5,
) -> dict:
    """Every metric of a task over its evaluation examples, each counted once.

    The original's keys and the per-class metrics cover the headline group
    (MNLI: matched) or every example; the task's metrics are also given per
    group, as `eval_NAME_GROUP`, when the examples come in several groups.

    Args:
        processor: the task's processor (metric names, groups, output kind).
        examples: the evaluation examples, in the order of `outputs`.
        outputs: (num_examples, num_labels) probabilities (softmax, or
            sigmoids for `OutputKind.LABELS`), or (num_examples, 1) scores
            (`OutputKind.SCORE`).
        labels: the task's label list (empty for scores).
        batch_size: int. The evaluation batch size, for `loss`.
        threshold: `OutputKind.LABELS`: a label is predicted when its
            probability reaches it.
    """
    return metrics_from_targets(
        processor,
        build_targets(examples, labels, processor.output_kind),
        outputs,
        labels,
        batch_size,
        threshold=threshold,
        groups=np.asarray([example.group for example in examples], dtype=object),
    )


def metrics_from_targets(
    processor: DataProcessor,
    targets: np.ndarray,
    outputs: np.ndarray,
    labels: Sequence[str],
    batch_size: int,
    threshold: float = 0.5,
    groups: np.ndarray | None = None,
) -> dict:
    """`task_metrics` from arrays: a streamed dev split holds no examples.

    Args:
        targets: (num_examples,) class ids or scores, or (num_examples,
            num_labels) 0/1 per label (`tasks.dataset.build_targets`).
        groups: (num_examples,) each example's group, or None where the
            examples come in no groups (the csv task).
        The others: as `task_metrics`'s.
    """
    outputs = np.asarray(outputs)
    if groups is None:
        groups = np.full(len(targets), None, dtype=object)
    headline = _headline_mask(groups, processor.headline_group)
    if processor.output_kind is OutputKind.SCORE:
        predictions = outputs[:, 0]
        metrics = regression_metrics(
            predictions[headline], targets[headline], batch_size
        )
    elif processor.output_kind is OutputKind.LABELS:
        predictions = predict_labels(outputs, threshold)
        metrics = multi_label_metrics(
            outputs[headline], targets[headline], labels, threshold, batch_size
        )
    else:
        predictions = outputs.argmax(-1)
        metrics = classification_metrics(
            outputs[headline], targets[headline], batch_size
        )
        metrics.update(
            per_class_metrics(targets[headline], predictions[headline], labels)
        )
    for name in processor.metric_names:
        value = METRICS[name](targets[headline], predictions[headline])
        metrics[f"eval_{name}"] = value
    metrics.update(_group_metrics(processor, groups, targets, predictions))
    return metrics


def _headline_mask(groups: np.ndarray, headline_group: str | None) -> np.ndarray:
    """Which examples the original's keys cover: the headline group, or all."""
    headline = groups == headline_group
    if headline_group is None or not headline.any():
        return np.ones(len(groups), dtype=bool)
    return headline


def _group_metrics(processor, groups, targets, predictions) -> dict:
    """`eval_NAME_GROUP` for each metric and group, where there are several groups."""
    distinct_groups = list(dict.fromkeys(group for group in groups if group))
    if len(distinct_groups) < 2:
        return {}
    metrics = {}
    for group in distinct_groups:
        in_group = groups == group
        for name in processor.metric_names:
            key = f"eval_{name}_{metric_key_part(group)}"
            metrics[key] = METRICS[name](targets[in_group], predictions[in_group])
    return metrics


def scalar_metrics(metrics: dict) -> dict:
    """The metrics that are single numbers (for TensorBoard), not matrices."""
    return {
        key: value
        for key, value in metrics.items()
        if isinstance(value, int | float) and key != "global_step"
    }


def metric_key_part(name: str) -> str:
    """A label or group name made safe for result keys and TensorBoard tags."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))


def _mean_of_batch_means(values: np.ndarray, batch_size: int) -> float:
    batch_means = [
        values[start : start + batch_size].mean()
        for start in range(0, len(values), batch_size)
    ]
    return float(np.mean(batch_means))


def _correlation(function, targets: np.ndarray, predictions: np.ndarray) -> float:
    targets = np.asarray(targets, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if len(targets) < 2 or np.ptp(targets) == 0 or np.ptp(predictions) == 0:
        return 0.0
    return float(function(targets, predictions)[0])
