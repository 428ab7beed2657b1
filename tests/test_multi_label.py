"""--multi_label: reading label sets, the metrics and threshold worked by hand, and
one run end to end on real sentences (tests/data/movie_aspects)."""

import csv
import io
import json
import pathlib

import numpy as np
import pytest

from app import predict
from app.config import RunConfig, validate
from app.errors import ConfigError
from app.metrics import task_metrics
from app.multi_label import tune_threshold
from app.results import format_predictions
from tasks import CsvProcessor, DataError, InputExample, OutputKind, TaskOptions
from tests.test_main import run_main

# Its module fixture is built once: keep its tests on one worker.
pytestmark = pytest.mark.xdist_group("test_multi_label")

ASPECTS_DIR = pathlib.Path(__file__).parent / "data" / "movie_aspects"


def multi_label_task(train_file="train.csv", **options) -> CsvProcessor:
    options = {"text_a_column": "text", "label_column": "labels", **options}
    return CsvProcessor(TaskOptions(train_file=train_file, multi_label=True, **options))


def read(processor, folder, split="train"):
    return processor.get_examples(str(folder), split)


def write(path: pathlib.Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# === Reading label sets ===


def test_csv_labels_split_on_the_delimiter_and_json_lists(tmp_path):
    write(tmp_path / "train.csv", 'text,labels\nA,news|sport\nB, sport \nC,"[""x""]"\n')
    write(tmp_path / "train.jsonl", '{"text": "A", "labels": ["b", "a", "b"]}\n')
    examples = read(multi_label_task(), tmp_path)
    assert [example.label for example in examples] == [
        ("news", "sport"),
        ("sport",),
        ("x",),
    ]
    jsonl = read(multi_label_task("train.jsonl"), tmp_path)
    assert jsonl == [InputExample("train-0", "A", None, ("b", "a"))]
    resolved = multi_label_task().resolve_labels(examples, None)
    assert resolved.labels == ("news", "sport", "x")  # the sorted union
    assert resolved.output_kind is OutputKind.LABELS
    assert resolved.metric_names[0] == "micro_f1"  # ranks checkpoints


def test_other_delimiter_and_test_rows_without_labels(tmp_path):
    write(tmp_path / "train.tsv", "text\tlabels\nA\tnews;sport\n")
    write(tmp_path / "test.tsv", "text\tlabels\nA\t\nB\tnews\n")
    processor = multi_label_task("train.tsv", label_delimiter=";", test_file="test.tsv")
    assert read(processor, tmp_path)[0].label == ("news", "sport")
    assert [e.label for e in read(processor, tmp_path, "test")] == [(), ("news",)]


@pytest.mark.parametrize(
    "name, text, labels, message",
    [
        (
            "train.csv",
            "text,labels\nA,news\nB,\n",
            None,
            "line 3: the row has no labels",
        ),
        ("train.jsonl", '{"text": "A", "labels": []}\n', None, "line 1: the row has"),
        (
            "train.csv",
            "text,labels\nA,news|spam\n",
            ("news", "sport"),
            "line 2: label 'spam' is not in the label list",
        ),
        (
            "train.csv",
            'text,labels\nA,"[""news"", "\n',
            None,
            "line 2: the labels start with `\\[` but are not a JSON list",
        ),
        (
            "train.jsonl",
            '{"text": "A", "labels": [{"name": "news"}]}\n',
            None,
            "line 1: the label list holds something that is not a label",
        ),
    ],
)
def test_bad_label_sets_name_file_and_line(tmp_path, name, text, labels, message):
    path = write(tmp_path / name, text)
    with pytest.raises(DataError, match=f"^{path}, {message}"):
        read(multi_label_task(name, labels=labels), tmp_path)


def test_a_bad_row_exits_1_before_anything_is_written(tmp_path, huggingface_dir):
    path = write(tmp_path / "train.csv", "text,labels\nA,news\nB,\n")
    result = run_main(
        "--task_name=csv",
        f"--data_dir={tmp_path}",
        "--train_file=train.csv",
        "--label_column=labels",
        "--multi_label",
        "--do_train",
        f"--init_checkpoint={huggingface_dir}",
        f"--output_dir={tmp_path / 'out'}",
    )
    assert result.returncode == 1
    assert f"ERROR: {path}, line 3: the row has no labels" in result.stderr
    assert not (tmp_path / "out").exists()


def config(tmp_path, **overrides):
    values = dict(
        task_name="csv",
        output_dir=str(tmp_path),
        init_checkpoint="unused",
        do_train=True,
        train_file="t.csv",
        multi_label=True,
    )
    return RunConfig(**(values | overrides))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"multi_label_threshold": "1"}, "multi_label_threshold=1"),
        ({"multi_label_threshold": "half"}, "multi_label_threshold=half"),
        ({"multi_label_threshold": "tuned"}, "pass --do_eval and --dev_file"),
        ({"label_delimiter": ""}, "label_delimiter=''"),
        ({"task_name": "mrpc", "data_dir": "d", "train_file": None}, "--multi_label"),
    ],
)
def test_bad_flags(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(config(tmp_path, **overrides))


# === Metrics and threshold, worked by hand ===


def test_metrics_worked_by_hand():
    labels = ["a", "b", "c"]
    examples = [
        InputExample("dev-0", "x", None, ("a", "c")),
        InputExample("dev-1", "x", None, ("b",)),
        InputExample("dev-2", "x", None, ("a", "b")),
    ]
    probabilities = np.array(
        [[0.9, 0.2, 0.4], [0.1, 0.7, 0.6], [0.8, 0.5, 0.3]], np.float32
    )
    processor = multi_label_task(labels=tuple(labels))
    metrics = task_metrics(processor, examples, probabilities, labels, 2)
    # Predicted at 0.5: {a}, {b, c}, {a, b}; true {a, c}, {b}, {a, b}.
    # 4 true positives, 1 false positive (c), 1 false negative (c): 8 / 10.
    assert metrics["eval_micro_f1"] == pytest.approx(0.8)
    assert metrics["eval_macro_f1"] == pytest.approx((1 + 1 + 0) / 3)  # c: F1 0
    assert metrics["eval_subset_accuracy"] == pytest.approx(1 / 3)
    assert metrics["eval_hamming_loss"] == pytest.approx(2 / 9)
    assert (metrics["eval_precision_c"], metrics["eval_recall_c"]) == (0.0, 0.0)
    assert metrics["eval_f1_a"] == 1.0 and metrics["eval_threshold"] == 0.5
    targets = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    p = probabilities.astype(np.float64)
    per_example = -np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p), 1)
    assert metrics["eval_loss"] == pytest.approx(per_example.mean(), rel=1e-6)
    batch_means = [per_example[:2].mean(), per_example[2:].mean()]
    assert metrics["loss"] == pytest.approx(np.mean(batch_means), rel=1e-6)


def test_tuned_threshold_maximises_micro_f1():
    probabilities = np.array([[0.9, 0.3], [0.6, 0.2], [0.4, 0.1]])
    targets = np.array([[1, 1], [1, 0], [0, 0]])
    # Micro-F1 by threshold: (0.1, 0.2] 6/8, (0.2, 0.3] 6/7, (0.3, 0.4] 4/6,
    # (0.4, 0.6] 4/5. Of 0.21 ... 0.30, the one nearest 0.5.
    assert tune_threshold(probabilities, targets) == 0.3


def test_predictions_join_the_labels_at_the_threshold():
    examples = [
        InputExample("test-0", "x"),
        InputExample("test-1", "y", None, (), "id7"),
    ]
    outputs = np.array([[0.5, 0.2, 0.75], [0.1, 0.2, 0.3]], np.float32)
    text = format_predictions(
        examples, outputs, ["a", "b", "c"], None, OutputKind.LABELS, 0.5, ";"
    )
    assert text == (
        "id\tprediction\tprobability_a\tprobability_b\tprobability_c\n"
        "0\ta;c\t0.5\t0.2\t0.75\n"
        "id7\t\t0.1\t0.2\t0.3\n"
    )


# === One run on real sentences ===


@pytest.fixture(scope="module")
def aspects_run(tmp_path_factory, huggingface_dir):
    output_dir = tmp_path_factory.mktemp("aspects") / "out"
    result = run_main(
        "--task_name=csv",
        f"--data_dir={ASPECTS_DIR}",
        "--train_file=train.jsonl",
        "--dev_file=dev.csv",
        "--test_file=test.csv",
        "--label_column=labels",
        "--multi_label",
        "--multi_label_threshold=tuned",
        "--class_weights=balanced",
        "--max_predict_samples=5",
        "--do_train",
        "--do_eval",
        "--do_predict",
        f"--init_checkpoint={huggingface_dir}",
        "--max_seq_length=32",
        "--train_batch_size=8",
        "--learning_rate=1e-3",
        "--num_train_epochs=1",
        "--eval_every_epoch",
        f"--output_dir={output_dir}",
    )
    assert result.returncode == 0, result.stderr
    return result, output_dir


def test_the_run_scores_predicts_and_exports_label_sets(aspects_run):
    result, output_dir = aspects_run
    labels = (output_dir / "labels.txt").read_text().split()
    assert labels == ["acting", "humor", "negative", "positive", "story", "visuals"]
    metrics = json.loads((output_dir / "eval_results.json").read_text())
    for key in ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "loss"):
        assert 0 <= metrics[f"eval_{key}"] <= max(1, metrics["eval_loss"])
    assert {f"eval_f1_{label}" for label in labels} <= set(metrics)
    threshold = metrics["eval_threshold"]
    assert f"--multi_label_threshold=tuned: {threshold:.2f} gives" in result.stderr
    best = json.loads((output_dir / "best" / "best_checkpoint.json").read_text())
    assert best["metric_key"] == "eval_micro_f1"
    record = json.loads((output_dir / "run_config.json").read_text())
    assert record["flags"]["max_predict_samples"] == 5
    # 40 rows: positive in 21, so its positives weigh 19 / 21.
    assert record["class_weights"]["positive"] == pytest.approx(19 / 21)
    assert "Class weights (balanced): acting " in result.stderr
    # Balanced positives weigh as much as the negatives: their log-odds are 0.
    assert record["output_bias"] == pytest.approx(dict.fromkeys(labels, 0.0))
    assert "Output biases start at each label's log-odds" in result.stderr

    probabilities = np.loadtxt(output_dir / "test_results.tsv", delimiter="\t")
    assert probabilities.shape == (5, 6)
    with open(output_dir / "predictions.tsv", encoding="utf-8") as file:
        rows = list(csv.reader(file, delimiter="\t"))
    assert rows[0] == ["id", "prediction"] + [f"probability_{x}" for x in labels]
    expected = ["|".join(np.array(labels)[row >= threshold]) for row in probabilities]
    assert [row[1] for row in rows[1:]] == expected
    report = json.loads((output_dir / "data_report.json").read_text())
    assert report["splits"]["train"]["labels"]["positive"] == 21

    export_dir = output_dir / "export"
    metadata = json.loads((export_dir / predict.METADATA_PATH).read_text())
    assert (metadata["output_kind"], metadata["threshold"]) == ("labels", threshold)
    stdin = io.BytesIO(b"".join(f"{row[0]}\n".encode() for row in _test_texts()))
    stdout = io.StringIO()
    assert predict.main(["predict", f"--model_dir={export_dir}"], stdin, stdout) == 0
    header, *printed = [line.split("\t") for line in stdout.getvalue().splitlines()]
    assert header == ["label"] + [f"probability_{label}" for label in labels]
    assert [row[0] for row in printed] == expected
    served = np.array([[float(x) for x in row[1:]] for row in printed])
    np.testing.assert_allclose(served, probabilities, atol=1e-5)


def _test_texts():
    with open(ASPECTS_DIR / "test.csv", encoding="utf-8") as file:
        return list(csv.reader(file))[1:6]
