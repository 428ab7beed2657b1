"""--class_weights: weights worked by hand, their file's errors, the weighted losses."""

import math

import numpy as np
import pytest

from app.class_weights import describe, resolve_class_weights
from app.losses import (
    WeightedBinaryCrossentropy,
    WeightedSparseCrossentropy,
    build_loss,
)
from tasks import DataError, InputExample, OutputKind
from tasks.custom import label_counts


def counts_of(train):
    """What the runner passes: examples per label, and how many examples."""
    return label_counts(train), len(train)


def examples(*labels):
    return [
        InputExample(f"train-{i}", "text", None, label)
        for i, label in enumerate(labels)
    ]


def test_balanced_single_label_weights_by_hand():
    train = examples(*["neg"] * 2, *["pos"] * 8)
    weights = resolve_class_weights(
        "balanced", ["neg", "pos"], counts_of(train), OutputKind.CLASSES
    )
    # n / (k * n_c): 10 / (2 * 2) and 10 / (2 * 8).
    assert weights == {"neg": 2.5, "pos": 0.625}


def test_balanced_multi_label_positive_weights_by_hand():
    train = examples(("a", "b"), ("b",), ("b",), ())
    weights = resolve_class_weights(
        "balanced", ["a", "b", "c"], counts_of(train), OutputKind.LABELS
    )
    # negatives / positives: a 3/1, b 1/3; c is never positive and keeps 1.
    assert weights == {"a": 3.0, "b": 1 / 3, "c": 1.0}


def test_none_and_no_training_mean_no_weights():
    train = examples("neg", "pos")
    assert (
        resolve_class_weights(
            "none", ["neg", "pos"], counts_of(train), OutputKind.CLASSES
        )
        is None
    )
    assert (
        resolve_class_weights("balanced", ["neg", "pos"], None, OutputKind.CLASSES)
        is None
    )
    assert (
        describe("none", None) == "Class weights: none (every example counts the same)."
    )


def test_weights_file_in_label_order(tmp_path):
    path = tmp_path / "weights.tsv"
    path.write_text("pos\t1\n\nneg\t4.5\n")
    weights = resolve_class_weights(
        str(path), ["neg", "pos"], counts_of(examples("neg")), OutputKind.CLASSES
    )
    assert weights == {"neg": 4.5, "pos": 1.0}
    assert (
        describe(str(path), weights) == "Class weights (weights.tsv): neg 4.5, pos 1."
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("neg\t1\npos\t0\n", "line 2: the weight of 'pos' must be a positive number"),
        (
            "neg\t1\npos\tlots\n",
            "line 2: the weight of 'pos' must be a positive number",
        ),
        ("neg\t1\nspam\t2\n", "line 2: label 'spam' is not a label of the task"),
        ("neg 1\npos\t2\n", "line 1: expected `label<TAB>weight`, found 1"),
        ("neg\t1\nneg\t2\n", "line 2: label 'neg' is listed a second time"),
        ("neg\t1\n", r"no weight for the label\(s\) \['pos'\]"),
    ],
)
def test_weights_file_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "weights.tsv"
    path.write_text(text)
    with pytest.raises(DataError, match=f"^{path}(, )?.*{message}"):
        resolve_class_weights(
            str(path), ["neg", "pos"], counts_of(examples("neg")), OutputKind.CLASSES
        )


def test_missing_file_and_score_task_are_refused(tmp_path):
    missing = str(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match="no such file"):
        resolve_class_weights(
            missing, ["neg", "pos"], counts_of(examples("neg")), OutputKind.CLASSES
        )
    with pytest.raises(DataError, match="this task predicts a score"):
        resolve_class_weights(
            "balanced", [], counts_of(examples("1.5")), OutputKind.SCORE
        )


def test_weighted_crossentropy_by_hand():
    probabilities = np.array([[0.5, 0.5], [0.2, 0.8]], np.float32)
    loss = WeightedSparseCrossentropy([2.0, 1.0])(np.array([0, 1]), probabilities)
    expected = (2 * math.log(2) - math.log(0.8)) / 2  # mean of weight * -log p_y
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_weighted_binary_crossentropy_by_hand_and_unweighted_as_keras():
    targets = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    probabilities = np.array([[0.8, 0.4], [0.1, 0.5]], np.float32)
    loss = WeightedBinaryCrossentropy([3.0, 1.0])(targets, probabilities)
    first = (-3 * math.log(0.8) - math.log(0.6)) / 2
    second = (-math.log(0.9) - math.log(0.5)) / 2
    assert float(loss) == pytest.approx((first + second) / 2, rel=1e-6)
    plain = build_loss(OutputKind.LABELS)(targets, probabilities)
    ones = WeightedBinaryCrossentropy([1.0, 1.0])(targets, probabilities)
    assert float(ones) == pytest.approx(float(plain), rel=1e-6)


@pytest.mark.parametrize("output_kind", [OutputKind.CLASSES, OutputKind.LABELS])
def test_the_compiled_model_trains_on_the_weighted_loss(output_kind):
    import keras

    from tests.bert_weights import build_tiny_classifier

    model = build_tiny_classifier(
        2, output_kind, cpu_speedups=False, class_weights=[4.0, 1.0]
    )
    inputs = {
        "token_ids": np.array([[2, 7, 3], [2, 9, 3]], "int32"),
        "segment_ids": np.zeros([2, 3], "int32"),
        "padding_mask": np.ones([2, 3], "int32"),
    }
    probabilities = keras.ops.convert_to_numpy(model(inputs)).astype(np.float64)
    if output_kind is OutputKind.CLASSES:
        targets = np.array([0, 1])
        per_example = -np.log(probabilities[[0, 1], targets]) * np.array([4.0, 1.0])
    else:
        targets = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
        positive = targets * np.log(probabilities) * np.array([4.0, 1.0])
        per_example = -(positive + (1 - targets) * np.log(1 - probabilities)).mean(-1)
    loss = model.compute_loss(inputs, targets, model(inputs))
    assert float(loss) == pytest.approx(per_example.mean(), rel=1e-5)
    assert np.isfinite(model.train_on_batch(inputs, targets)[0])
