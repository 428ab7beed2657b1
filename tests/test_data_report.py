"""The data report: counts worked out by hand on the tiny vocabulary."""

import json

import pytest

from app.input_pipeline import pack_splits
from app.preprocessing import ClassifierPreprocessor
from app.reporting import build_data_report, format_data_report, format_data_report_json
from tasks import InputExample, OutputKind
from tests.bert_weights import TINY_VOCABULARY

# Its module and session fixtures are built once: keep its tests on one worker.
pytestmark = pytest.mark.xdist_group("test_data_report")


@pytest.fixture(scope="module")
def preprocessor():
    return ClassifierPreprocessor(TINY_VOCABULARY, sequence_length=6)


def report_of(splits, preprocessor, is_pair, max_seq_length, *args, **kwargs):
    """The report of `splits` packed by `preprocessor`, as a run builds it."""
    output_kind = kwargs.get("output_kind", OutputKind.CLASSES)
    labels = [] if output_kind is OutputKind.SCORE else ["0", "1"]
    packed = pack_splits(splits, labels, is_pair, preprocessor, output_kind)
    return build_data_report(splits, packed, is_pair, max_seq_length, *args, **kwargs)


# WordPieces: the dog is hairy . (5); the [UNK] is happy (4, "zebra" unknown);
# jack ##son ##ville (3); a (1). Packed with [CLS] and [SEP]: 7, 6, 5, 3.
SENTENCES = [
    ("the dog is hairy .", "1"),
    ("The zebra is happy", "0"),
    ("jacksonville", "1"),
    ("a", "1"),
]


def sentences(split="train"):
    return [
        InputExample(f"{split}-{i}", text, None, label)
        for i, (text, label) in enumerate(SENTENCES)
    ]


def test_single_sentences_by_hand(preprocessor):
    report = report_of(
        {"train": sentences()}, preprocessor, False, 6, task_name="sst-2"
    )
    assert report == {
        "task": "sst-2",
        "max_seq_length": 6,
        "splits": {
            "train": {
                "examples": 4,
                "labels": {"0": 1, "1": 3},
                # Sorted lengths 3, 5, 6, 7: the 50th percentile is the 2nd.
                "token_length": {
                    "p50": 5,
                    "p90": 7,
                    "p95": 7,
                    "p99": 7,
                    "min": 3,
                    "max": 7,
                    "mean": 5.25,
                },
                "truncated": 1,
                "tokens": 13,
                "unknown_tokens": 1,
                "unknown_rate": 1 / 13,
            }
        },
    }


def test_pairs_count_both_texts_and_three_special_tokens(preprocessor):
    # is this jack ##son ##ville ? (6) + no it is not . (5) + 3 = 14.
    pair = InputExample("dev-0", "is this jacksonville ?", "no it is not .", "1")
    report = report_of({"dev": [pair]}, preprocessor, True, 6)
    summary = report["splits"]["dev"]
    assert summary["token_length"]["max"] == 14
    assert (summary["tokens"], summary["truncated"]) == (11, 1)


def test_test_labels_are_placeholders_and_groups_are_counted(preprocessor):
    examples = [
        InputExample("test-0", "a", None, "0", None, "matched"),
        InputExample("test-1", "a", None, "0", None, "mismatched"),
        InputExample("test-2", "a", None, "0", None, "mismatched"),
    ]
    summary = report_of({"test": examples}, preprocessor, False, 6)["splits"]
    assert "labels" not in summary["test"]
    assert summary["test"]["groups"] == {"matched": 1, "mismatched": 2}


def test_regression_scores(preprocessor):
    examples = [InputExample(f"t-{i}", "a", None, s) for i, s in enumerate("053")]
    summary = report_of(
        {"train": examples}, preprocessor, False, 6, output_kind=OutputKind.SCORE
    )["splits"]["train"]
    assert summary["scores"] == {"min": 0.0, "mean": pytest.approx(8 / 3), "max": 5.0}


def test_text_and_json_forms(preprocessor):
    report = report_of({"train": sentences()}, preprocessor, False, 6, "x")
    assert json.loads(format_data_report_json(report)) == report
    assert format_data_report(report) == (
        "Data report: task x, max_seq_length 6\n"
        "train: 4 examples\n"
        "  labels: 0: 1 (25.0%), 1: 3 (75.0%)\n"
        "  token length: p50 5, p90 7, p95 7, p99 7, max 7 (mean 5.2, with"
        " [CLS]/[SEP])\n"
        "  truncated to 6: 1 (25.0%)\n"
        "  [UNK] tokens: 1 of 13 (7.69%)\n"
    )
