"""Examples -> a `tf.data.Dataset` of raw strings and label ids (or scores).

Tokenizing and packing happen later, in the Keras preprocessing layer that runs
inside the `tf.data` pipeline; this dataset only carries text.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tasks.errors import DataError
from tasks.example import InputExample
from tasks.output_kind import OutputKind


def build_dataset(
    examples: Sequence[InputExample],
    label_list: Sequence[str],
    is_pair: bool,
    with_labels: bool = True,
    output_kind: OutputKind = OutputKind.CLASSES,
) -> tf.data.Dataset:
    """Builds a dataset with one element per example, in input order.

    Elements are `(features, label)`, or `features` alone when
    `with_labels=False`. `features` is `{"text_a": string}` plus
    `"text_b": string` when `is_pair` (an example without `text_b` gets "").
    `label` is the int32 index of the example's label in `label_list`, or,
    for `OutputKind.SCORE`, its float32 score, or, for `OutputKind.LABELS`,
    a float32 0/1 per label.

    Args:
        examples: the examples, e.g. from `DataProcessor.get_examples`.
        label_list: the task's labels; a label's index is its class id. Empty
            for scores.
        is_pair: whether to carry `text_b`.
        with_labels: whether to carry labels (False for prediction).
        output_kind: the task's `OutputKind`: class ids or scores.

    Raises:
        DataError: with `with_labels`, an example's label is not in `label_list`.
    """
    features = build_features(examples, is_pair)
    if not with_labels:
        return tf.data.Dataset.from_tensor_slices(features)
    return tf.data.Dataset.from_tensor_slices(
        (features, build_targets(examples, label_list, output_kind))
    )


def build_features(
    examples: Sequence[InputExample], is_pair: bool
) -> dict[str, tf.Tensor]:
    """`{"text_a": (n,) string}`, plus `"text_b"` when `is_pair` ("" if none)."""
    features = {"text_a": _string_tensor([example.text_a for example in examples])}
    if is_pair:
        text_b = [example.text_b or "" for example in examples]
        features["text_b"] = _string_tensor(text_b)
    return features


def build_targets(
    examples: Sequence[InputExample],
    label_list: Sequence[str],
    output_kind: OutputKind = OutputKind.CLASSES,
) -> np.ndarray:
    """(num_examples,) int32 class ids, float32 scores for `OutputKind.SCORE`, or
    (num_examples, num_labels) float32 0/1 for `OutputKind.LABELS`."""
    if output_kind is OutputKind.SCORE:
        return np.asarray(build_scores(examples), dtype=np.float32)
    if output_kind is OutputKind.LABELS:
        return build_label_indicators(examples, label_list)
    return np.asarray(build_label_ids(examples, label_list), dtype=np.int32)


def build_label_ids(
    examples: Sequence[InputExample], label_list: Sequence[str]
) -> list[int]:
    """The index in `label_list` of each example's label."""
    label_to_id = {label: index for index, label in enumerate(label_list)}
    label_ids = []
    for example in examples:
        if example.label not in label_to_id:
            raise DataError(
                f"Example {example.guid} has label {example.label!r}, which is not"
                f" in the task's labels {list(label_list)}. Fix the data, or"
                f" check that --task_name matches it. Received: label={example.label!r}"
            )
        label_ids.append(label_to_id[example.label])
    return label_ids


def build_label_indicators(
    examples: Sequence[InputExample], label_list: Sequence[str]
) -> np.ndarray:
    """(num_examples, num_labels) float32: 1 where the example has the label."""
    label_to_id = {label: index for index, label in enumerate(label_list)}
    indicators = np.zeros((len(examples), len(label_list)), np.float32)
    for row, example in enumerate(examples):
        for label in example.label:
            if label not in label_to_id:
                raise DataError(
                    f"Example {example.guid} has label {label!r}, which is not in"
                    f" the task's labels {list(label_list)}. Fix the data."
                    f" Received: label={example.label!r}"
                )
            indicators[row, label_to_id[label]] = 1.0
    return indicators


def build_scores(examples: Sequence[InputExample]) -> list[float]:
    """The score of each example of a regression task."""
    scores = []
    for example in examples:
        try:
            scores.append(float(example.label))
        except (TypeError, ValueError) as error:
            raise DataError(
                f"Example {example.guid} has label {example.label!r}, which is not"
                " a number; a regression task's labels are scores."
                f" Received: label={example.label!r}"
            ) from error
    return scores


def _string_tensor(texts: list[str]) -> tf.Tensor:
    """A 1-D string tensor, typed even when `texts` is empty."""
    return tf.constant(texts, dtype=tf.string, shape=[len(texts)])
