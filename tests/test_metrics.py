"""Metrics against values worked out by hand, and the result files they fill."""

import json
import math

import numpy as np
import pytest

from app.metrics import (
    accuracy,
    classification_metrics,
    f1,
    main_metric_key,
    matthews_correlation,
    pearson,
    per_class_metrics,
    regression_metrics,
    scalar_metrics,
    spearman,
    task_metrics,
)
from app.results import (
    format_eval_json,
    format_eval_results,
    format_predictions,
    format_submission,
    format_test_results,
)
from tasks import (
    ColaProcessor,
    CsvProcessor,
    InputExample,
    MnliProcessor,
    MrpcProcessor,
    OutputKind,
    StsbProcessor,
    TaskOptions,
    XnliProcessor,
)

# === Single metrics ===


def test_matthews_correlation_by_hand():
    # TP=2, TN=2, FP=1, FN=1: (2*2 - 1*1) / sqrt(3*3*3*3) = 1/3.
    targets = np.array([1, 1, 1, 0, 0, 0])
    predictions = np.array([1, 1, 0, 0, 0, 1])
    assert matthews_correlation(targets, predictions) == pytest.approx(1 / 3)


def test_matthews_correlation_of_a_constant_prediction_is_zero():
    assert matthews_correlation(np.array([0, 1, 1]), np.array([1, 1, 1])) == 0.0


def test_f1_and_accuracy_by_hand():
    # TP=2, FP=1, FN=1: precision 2/3, recall 2/3, F1 2/3; 3 of 5 right.
    targets = np.array([1, 1, 1, 0, 0])
    predictions = np.array([1, 1, 0, 1, 0])
    assert f1(targets, predictions) == pytest.approx(2 / 3)
    assert accuracy(targets, predictions) == pytest.approx(3 / 5)


def test_pearson_and_spearman_by_hand():
    targets = np.array([1.0, 2.0, 3.0, 4.0])
    predictions = np.array([1.0, 3.0, 2.0, 10.0])
    # Deviations (-1.5, -.5, .5, 1.5) and (-3, -1, -2, 6): 13 / sqrt(5 * 50).
    assert pearson(targets, predictions) == pytest.approx(13 / math.sqrt(250))
    # Ranks (1, 2, 3, 4) and (1, 3, 2, 4): 1 - 6 * 2 / (4 * 15) = 0.8.
    assert spearman(targets, predictions) == pytest.approx(0.8)


def test_correlation_of_a_constant_is_zero():
    assert pearson(np.array([1.0, 2.0]), np.array([3.0, 3.0])) == 0.0
    assert spearman(np.array([1.0]), np.array([1.0])) == 0.0


def test_classification_metrics_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    label_ids = np.array([0, 1, 1])
    metrics = classification_metrics(probabilities, label_ids, batch_size=2)
    losses = [-math.log(0.9), -math.log(0.8), -math.log(0.4)]
    assert metrics == pytest.approx(
        {
            "eval_accuracy": 2 / 3,
            "eval_loss": sum(losses) / 3,
            # The original's `loss`: the mean of per-batch means.
            "loss": ((losses[0] + losses[1]) / 2 + losses[2]) / 2,
        }
    )


def test_regression_metrics_by_hand():
    # Squared errors 0, 1, 4; batches of 2: means 0.5 and 4.
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0]), np.ones(3), batch_size=2)
    assert metrics == pytest.approx({"eval_loss": 5 / 3, "loss": 2.25})


def test_per_class_metrics_by_hand():
    targets = np.array([0, 0, 1, 2, 2, 2])
    predictions = np.array([0, 1, 1, 2, 2, 0])
    metrics = per_class_metrics(targets, predictions, ["a", "b", "not c"])
    assert metrics.pop("eval_confusion_matrix") == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert metrics == pytest.approx(
        {
            "eval_precision_a": 1 / 2,
            "eval_recall_a": 1 / 2,
            "eval_f1_a": 1 / 2,
            "eval_precision_b": 1 / 2,
            "eval_recall_b": 1.0,
            "eval_f1_b": 2 / 3,
            # Label names are made safe for keys and TensorBoard tags.
            "eval_precision_not_c": 1.0,
            "eval_recall_not_c": 2 / 3,
            "eval_f1_not_c": 0.8,
        }
    )


def test_a_class_never_predicted_has_zero_precision():
    metrics = per_class_metrics(np.array([0, 1]), np.array([0, 0]), ["x", "y"])
    assert metrics["eval_precision_y"] == 0.0
    assert metrics["eval_recall_y"] == 0.0


# === Task metrics ===


def example(label, group=None):
    return InputExample("dev-0", "a", "b", label, None, group)


def one_hot(indices, depth, confidence=0.8):
    rest = (1 - confidence) / (depth - 1)
    probabilities = np.full((len(indices), depth), rest)
    probabilities[np.arange(len(indices)), indices] = confidence
    return probabilities


def test_cola_reports_matthews_correlation():
    examples = [example(label) for label in "111000"]
    outputs = one_hot([1, 1, 0, 0, 0, 1], 2)
    metrics = task_metrics(ColaProcessor(), examples, outputs, ["0", "1"], 8)
    assert metrics["eval_matthews_correlation"] == pytest.approx(1 / 3)
    assert metrics["eval_accuracy"] == pytest.approx(4 / 6)
    assert metrics["eval_loss"] == pytest.approx(
        -(4 * math.log(0.8) + 2 * math.log(0.2)) / 6
    )
    assert main_metric_key(ColaProcessor()) == "eval_matthews_correlation"


def test_mrpc_reports_f1_and_accuracy():
    examples = [example(label) for label in "11100"]
    metrics = task_metrics(
        MrpcProcessor(), examples, one_hot([1, 1, 0, 1, 0], 2), ["0", "1"], 8
    )
    assert (metrics["eval_f1"], metrics["eval_accuracy"]) == pytest.approx((2 / 3, 0.6))
    assert main_metric_key(MrpcProcessor()) == "eval_f1"


def test_mnli_original_keys_are_matched_and_each_set_is_reported():
    labels = ["contradiction", "entailment", "neutral"]
    examples = [
        example("entailment", "matched"),
        example("neutral", "matched"),
        example("neutral", "mismatched"),
        example("contradiction", "mismatched"),
        example("neutral", "mismatched"),
    ]
    outputs = one_hot([1, 0, 2, 2, 1], 3)
    metrics = task_metrics(MnliProcessor(), examples, outputs, labels, 8)
    assert metrics["eval_accuracy"] == pytest.approx(0.5)  # matched, as the original
    assert metrics["eval_accuracy_matched"] == pytest.approx(0.5)
    assert metrics["eval_accuracy_mismatched"] == pytest.approx(1 / 3)
    assert metrics["eval_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.1)) / 2)
    # Per-class metrics and the confusion matrix cover matched, each example once.
    assert metrics["eval_confusion_matrix"] == [[0, 0, 0], [0, 1, 0], [1, 0, 0]]


def test_xnli_all_reports_accuracy_per_language():
    labels = ["contradiction", "entailment", "neutral"]
    examples = [
        example("neutral", "ar"),
        example("neutral", "de"),
        example("entailment", "de"),
        example("neutral", "ar"),
    ]
    outputs = one_hot([2, 2, 0, 0], 3)
    metrics = task_metrics(XnliProcessor("all"), examples, outputs, labels, 8)
    assert metrics["eval_accuracy"] == pytest.approx(0.5)  # every language
    assert metrics["eval_accuracy_ar"] == pytest.approx(0.5)
    assert metrics["eval_accuracy_de"] == pytest.approx(0.5)
    assert sum(map(sum, metrics["eval_confusion_matrix"])) == 4


def test_one_language_gets_no_per_language_keys():
    examples = [example("neutral", "zh"), example("entailment", "zh")]
    labels = ["contradiction", "entailment", "neutral"]
    metrics = task_metrics(XnliProcessor(), examples, one_hot([2, 2], 3), labels, 8)
    assert "eval_accuracy_zh" not in metrics


def test_stsb_reports_pearson_spearman_and_mean_squared_error():
    examples = [example(score) for score in ("1", "2", "3", "4")]
    scores = np.array([[1.0], [3.0], [2.0], [10.0]])
    metrics = task_metrics(StsbProcessor(), examples, scores, [], batch_size=8)
    assert metrics == pytest.approx(
        {
            "eval_pearson": 13 / math.sqrt(250),
            "eval_spearman": 0.8,
            "eval_loss": (0 + 1 + 1 + 36) / 4,
            "loss": (0 + 1 + 1 + 36) / 4,
        }
    )


def test_custom_task_reports_per_class_metrics():
    processor = CsvProcessor(TaskOptions(labels=("ham", "spam")))
    examples = [example("ham"), example("spam"), example("spam")]
    metrics = task_metrics(
        processor, examples, one_hot([0, 1, 0], 2), ["ham", "spam"], 8
    )
    assert metrics["eval_recall_spam"] == pytest.approx(0.5)
    assert metrics["eval_confusion_matrix"] == [[1, 0], [1, 1]]


def test_scalar_metrics_leave_out_the_matrix_and_step():
    metrics = {"eval_accuracy": 0.5, "eval_confusion_matrix": [[1]], "global_step": 3}
    assert scalar_metrics(metrics) == {"eval_accuracy": 0.5}


# === Result files ===


def test_eval_results_keep_the_original_format_and_json_matches():
    metrics = {"loss": 0.5, "eval_accuracy": 0.75, "global_step": 6}
    metrics["eval_confusion_matrix"] = [[1, 0], [1, 2]]
    assert format_eval_results(metrics) == (
        "eval_accuracy = 0.75\n"
        "eval_confusion_matrix = [[1, 0], [1, 2]]\n"
        "global_step = 6\n"
        "loss = 0.5\n"
    )
    assert json.loads(format_eval_json(metrics)) == metrics


def test_test_results_are_the_original_probability_lines():
    text = format_test_results(np.array([[0.25, 0.75], [0.5, 0.5]]), 2)
    assert text == "0.25\t0.75\n0.5\t0.5\n"
    with pytest.raises(RuntimeError, match="Predicted 2 rows for 3 test examples"):
        format_test_results(np.zeros((2, 2)), 3)


def test_predictions_have_a_header_ids_labels_and_probabilities():
    examples = [
        InputExample("test-0", "a", example_id="id-7"),
        InputExample("test-1", "b"),
    ]
    text = format_predictions(
        examples, np.array([[0.25, 0.75], [0.5, 0.5]]), ["no", "yes"]
    )
    assert text == (
        "id\tprediction\tprobability_no\tprobability_yes\n"
        "id-7\tyes\t0.25\t0.75\n"
        "1\tno\t0.5\t0.5\n"  # no id: the row number in the split
    )


def test_predictions_of_groups_and_of_regression():
    examples = [InputExample("test-0", "a", example_id="0", group="mismatched")]
    text = format_predictions(
        examples, np.array([[0.1, 0.2, 0.7]]), ["c", "e", "n"], "set"
    )
    assert text.splitlines()[1] == "0\tmismatched\tn\t0.1\t0.2\t0.7"
    text = format_predictions(
        examples, np.array([[3.25]]), [], output_kind=OutputKind.SCORE
    )
    assert text == "id\tprediction\n0\t3.25\n"


def test_glue_submission_rows():
    examples = [
        InputExample("test-1", "a", example_id="0"),
        InputExample("test-2", "b", example_id="1"),
    ]
    outputs = np.array([[0.9, 0.1], [0.3, 0.7]])
    labels = ["entailment", "not_entailment"]
    assert format_submission(examples, outputs, labels) == (
        "index\tprediction\n0\tentailment\n1\tnot_entailment\n"
    )
    scores = np.array([[4.5], [0.125]])
    assert format_submission(examples, scores, [], output_kind=OutputKind.SCORE) == (
        "index\tprediction\n0\t4.5\n1\t0.125\n"
    )


def test_xtreme_submission_is_one_label_per_line():
    examples = [InputExample("test-1", "a"), InputExample("test-2", "b")]
    outputs = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    labels = ["contradiction", "entailment", "neutral"]
    text = format_submission(examples, outputs, labels, "xtreme")
    assert text == "neutral\ncontradiction\n"
