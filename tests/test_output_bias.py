"""Multi-label output biases start at each label's log-odds, worked by hand."""

import math

import numpy as np
import pytest

from app.class_weights import resolve_class_weights
from app.output_bias import label_log_odds, starting_output_bias
from tasks import InputExample, OutputKind
from tasks.custom import label_counts


def examples(*label_sets):
    return [
        InputExample(f"train-{i}", "text", None, labels)
        for i, labels in enumerate(label_sets)
    ]


TRAIN = examples(("a", "b"), ("b",), ("b",), ())  # a: 1 of 4, b: 3 of 4, c: none
COUNTS = (label_counts(TRAIN), len(TRAIN))


def test_log_odds_by_hand():
    biases = label_log_odds(["a", "b", "c"], *COUNTS)
    # log((positives + 1) / (negatives + 1))
    assert biases == pytest.approx(
        {"a": math.log(2 / 4), "b": math.log(4 / 2), "c": math.log(1 / 5)}
    )
    assert list(biases) == ["a", "b", "c"]  # label order, as the outputs


def test_weighted_log_odds_and_balanced_weights_give_zero():
    weighted = label_log_odds(["a", "b"], *COUNTS, {"a": 5.0, "b": 1.0})
    assert weighted == pytest.approx({"a": math.log(6 / 4), "b": math.log(4 / 2)})
    balanced = resolve_class_weights(
        "balanced", ["a", "b", "c"], COUNTS, OutputKind.LABELS
    )
    biases = starting_output_bias(OutputKind.LABELS, ["a", "b", "c"], COUNTS, balanced)
    # Balanced positives weigh as much as the negatives; c keeps weight 1.
    assert biases == pytest.approx({"a": 0.0, "b": 0.0, "c": math.log(1 / 5)})


def test_single_label_and_runs_without_training_keep_zero_biases():
    assert starting_output_bias(OutputKind.CLASSES, ["a", "b"], COUNTS) is None
    assert starting_output_bias(OutputKind.LABELS, ["a", "b"], None) is None


@pytest.mark.parametrize("cpu_speedups", [False, True])
def test_the_built_model_starts_at_the_biases(cpu_speedups):
    from app.training import model_copy
    from tests.bert_weights import build_tiny_classifier

    biases = [-2.5, 0.0, 1.5]
    model = build_tiny_classifier(
        3, OutputKind.LABELS, cpu_speedups=cpu_speedups, output_bias=biases
    )
    inputs = {
        "token_ids": np.array([[2, 7, 3]], "int32"),
        "segment_ids": np.zeros([1, 3], "int32"),
        "padding_mask": np.ones([1, 3], "int32"),
    }
    output_layer = model.get_layer(OutputKind.LABELS.output_name)
    np.testing.assert_array_equal(output_layer.bias.numpy(), biases)
    output_layer.kernel.assign(np.zeros_like(output_layer.kernel.numpy()))
    expected = 1 / (1 + np.exp(-np.array([biases])))  # sigmoid of the bias alone
    np.testing.assert_allclose(model.predict(inputs, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model_copy(model)(inputs), expected, rtol=1e-6)
