"""Whole runs of the new tasks and outputs on the tiny model.

Each test runs `main.main` in this process with a command line's flags
(tests/test_main.py's `run_main`); tests/test_main.py runs the command line
itself in a process of its own.
"""

import json
import os
import pathlib

import numpy as np
import pytest

from tests.conftest import copy_of, global_state_restored
from tests.glue_fixtures import write_mnli, write_stsb, write_xnli
from tests.test_main import run_main

ROOT = pathlib.Path(__file__).parent.parent
SMS_DIR = ROOT / "tests" / "data" / "sms_spam"


def read_tsv(path) -> list[list[str]]:
    return [line.split("\t") for line in pathlib.Path(path).read_text().splitlines()]


def test_csv_task_end_to_end_on_real_sms_spam(huggingface_dir, tmp_path):
    output_dir = tmp_path / "out"
    result = run_main(
        "--task_name=csv",
        f"--data_dir={SMS_DIR}",
        "--train_file=train.csv",
        "--dev_file=dev.csv",
        "--test_file=test.csv",
        "--text_a_column=text",
        "--label_column=spam",
        "--id_column=0",
        "--do_train",
        "--do_eval",
        "--do_predict",
        f"--init_checkpoint={huggingface_dir}",
        "--max_seq_length=32",
        "--train_batch_size=32",
        "--num_train_epochs=1",
        f"--output_dir={output_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (output_dir / "labels.txt").read_text() == "0\n1\n"

    report = json.loads((output_dir / "data_report.json").read_text())
    assert report["splits"]["train"]["examples"] == 200
    assert report["splits"]["train"]["labels"] == {"0": 167, "1": 33}
    assert report["splits"]["dev"]["labels"] == {"0": 54, "1": 6}
    assert report["splits"]["test"]["examples"] == 40
    assert "[UNK] tokens" in (output_dir / "data_report.txt").read_text()

    metrics = json.loads((output_dir / "eval_results.json").read_text())
    assert metrics["global_step"] == 6  # int(200 / 32 * 1)
    assert sum(map(sum, metrics["eval_confusion_matrix"])) == 60  # each once
    for key in ("eval_accuracy", "eval_loss", "loss", "eval_f1_1", "eval_recall_0"):
        assert 0.0 <= metrics[key] < 10.0
    text_keys = {
        line.split(" = ")[0]
        for line in (output_dir / "eval_results.txt").read_text().splitlines()
    }
    assert text_keys == set(metrics)

    rows = read_tsv(output_dir / "predictions.tsv")
    assert rows[0] == ["id", "prediction", "probability_0", "probability_1"]
    test_lines = (SMS_DIR / "test.csv").read_text(encoding="utf-8").splitlines()
    assert [row[0] for row in rows[1:]] == [
        line.split(",")[0] for line in test_lines[1:]
    ]
    probabilities = np.array([[float(p) for p in row[2:]] for row in rows[1:]])
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    assert [row[1] for row in rows[1:]] == [str(i) for i in probabilities.argmax(-1)]
    test_results = np.array(read_tsv(output_dir / "test_results.tsv"), dtype=float)
    np.testing.assert_allclose(test_results, probabilities, atol=1e-6)


@pytest.fixture
def run_main_in_process():
    """`run_main` as (exit status, stderr)."""

    def run(*argv):
        result = run_main(*argv)
        return result.returncode, result.stderr

    return run


def tiny_run_flags(huggingface_dir, data_dir, output_dir, *extra) -> list[str]:
    """Evaluate and predict with the untrained tiny model (no training)."""
    return [
        f"--data_dir={data_dir}",
        f"--output_dir={output_dir}",
        f"--init_checkpoint={huggingface_dir}",
        "--max_seq_length=32",
        "--eval_batch_size=2",
        "--predict_batch_size=2",
        *extra,
    ]


def stsb_training_flags(huggingface_dir, tmp_path, output_name, *extra) -> list[str]:
    """One epoch of the tiny model on the STS-B fixture, in batches of 2."""
    return [
        *tiny_run_flags(huggingface_dir, tmp_path / "STS-B", tmp_path / output_name),
        "--task_name=sts-b",
        "--do_train",
        "--train_batch_size=2",
        "--num_train_epochs=1",
        *extra,
    ]


def served_scores(export_dir, text_a: list[str], text_b: list[str]) -> np.ndarray:
    """The STS-B scores an exported SavedModel serves for these sentence pairs."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the export's tokenizer ops)

    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    outputs = serve(text_a=tf.constant(text_a), text_b=tf.constant(text_b))
    return outputs["score"].numpy()


def test_mnli_matched_mismatched_ax_and_glue_submission(
    run_main_in_process, huggingface_dir, tmp_path
):
    data_dir = tmp_path / "glue" / "MNLI"
    write_mnli(data_dir)  # AX in glue/diagnostic/, as GLUE's script puts it
    submission_dir = tmp_path / "submission"
    status, stderr = run_main_in_process(
        *tiny_run_flags(huggingface_dir, data_dir, tmp_path / "out"),
        "--task_name=MNLI",
        "--do_eval",
        "--do_predict",
        f"--glue_submission_dir={submission_dir}",
    )
    assert status == 0, stderr[-3000:]
    output_dir = tmp_path / "out"
    metrics = json.loads((output_dir / "eval_results.json").read_text())
    assert {"eval_accuracy_matched", "eval_accuracy_mismatched"} <= set(metrics)
    assert metrics["eval_accuracy"] == metrics["eval_accuracy_matched"]
    assert sum(map(sum, metrics["eval_confusion_matrix"])) == 2  # matched only

    # The original's file: matched only; predictions.tsv: every set.
    assert len(read_tsv(output_dir / "test_results.tsv")) == 2
    predictions = read_tsv(output_dir / "predictions.tsv")
    assert [row[:2] for row in predictions] == [
        ["id", "set"],
        ["0", "matched"],
        ["5", "matched"],
        ["3", "mismatched"],
        ["0", "ax"],
    ]
    labels = {"contradiction", "entailment", "neutral"}
    for name, indices in (("MNLI-m", ["0", "5"]), ("MNLI-mm", ["3"]), ("AX", ["0"])):
        rows = read_tsv(submission_dir / f"{name}.tsv")
        assert rows[0] == ["index", "prediction"]
        assert [row[0] for row in rows[1:]] == indices
        assert {row[1] for row in rows[1:]} <= labels
    assert sorted(os.listdir(submission_dir)) == ["AX.tsv", "MNLI-m.tsv", "MNLI-mm.tsv"]


def test_xnli_all_languages_to_xtreme_files(
    run_main_in_process, huggingface_dir, tmp_path
):
    write_xnli(tmp_path / "XNLI")
    status, stderr = run_main_in_process(
        *tiny_run_flags(huggingface_dir, tmp_path / "XNLI", tmp_path / "out"),
        "--task_name=xnli",
        "--xnli_language=all",
        "--do_predict",
        f"--glue_submission_dir={tmp_path / 'submission'}",
    )
    assert status == 0, stderr[-3000:]
    predictions = read_tsv(tmp_path / "out" / "predictions.tsv")
    assert [row[:2] for row in predictions] == [
        ["id", "language"],
        ["0", "zh"],
        ["1", "de"],
    ]
    for language in ("zh", "de"):
        lines = (tmp_path / "submission" / "xnli" / f"test-{language}.tsv").read_text()
        assert lines.count("\n") == 1
        assert lines.strip() in {"contradiction", "entailment", "neutral"}


@pytest.fixture(scope="module")
def trained_stsb(huggingface_dir, tmp_path_factory):
    """One STS-B run that trains, evaluates, predicts, submits and exports.

    Returns its folder (STS-B/, out/, submission/), its `run_main` result, and
    the numbers of trainable weights and optimizer variables of the model it
    trained. Tests read the folder; one that runs in it works on a copy.
    """
    folder = tmp_path_factory.mktemp("trained_stsb")
    write_stsb(folder / "STS-B")
    flags_ = stsb_training_flags(
        huggingface_dir,
        folder,
        "out",
        "--do_eval",
        "--do_predict",
        f"--glue_submission_dir={folder / 'submission'}",
    )
    with global_state_restored(), pytest.MonkeyPatch.context() as monkeypatch:
        built = record_built_models(monkeypatch)
        result = run_main(*flags_)
    counts = {
        "weights": len(built[0].trainable_variables),
        "optimizer_variables": len(built[0].optimizer.variables),
    }
    return folder, result, counts


def record_built_models(monkeypatch) -> list:
    """The models the runs build from now on, in order."""
    from app import training

    built = []
    build = training.build_trainable_classifier

    def record(*args, **kwargs):
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(training, "build_trainable_classifier", record)
    return built


@pytest.mark.xdist_group("trained_stsb")  # one worker builds the fixture
def test_stsb_trains_evaluates_and_predicts_scores(trained_stsb):
    folder, result, _ = trained_stsb  # regression trains with mean squared error
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((folder / "out" / "eval_results.json").read_text())
    assert metrics["global_step"] > 0
    assert {"eval_pearson", "eval_spearman", "eval_loss", "loss"} <= set(metrics)
    assert "eval_accuracy" not in metrics
    rows = read_tsv(folder / "submission" / "STS-B.tsv")
    assert rows[0] == ["index", "prediction"] and rows[1][0] == "0"
    float(rows[1][1])
    assert len(read_tsv(folder / "out" / "test_results.tsv")[0]) == 1  # one score
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the export's tokenizer ops)

    serve = tf.saved_model.load(str(folder / "out" / "export"))
    outputs = serve.signatures["serving_default"].structured_outputs
    assert list(outputs) == ["score"]


@pytest.mark.parametrize(
    "train_text, fragment",
    [
        ("text,label\na,1\nb,x\n", "line 3: label 'x' is text"),
        ("text,label\na,1\n,0\n", "line 3: text_a is empty"),
        ("text,label\na\n", "line 2: too few columns"),
        ("review,label\na,1\n", "no column 'text' for --text_a_column"),
    ],
)
def test_bad_input_exits_1_and_writes_nothing(
    train_text, fragment, run_main_in_process, huggingface_dir, tmp_path
):
    (tmp_path / "train.csv").write_text(train_text)
    output_dir = tmp_path / "out"
    status, stderr = run_main_in_process(
        "--task_name=csv",
        f"--data_dir={tmp_path}",
        "--train_file=train.csv",
        "--do_train",
        f"--init_checkpoint={huggingface_dir}",
        f"--output_dir={output_dir}",
    )
    assert status == 1
    assert f"ERROR: {tmp_path / 'train.csv'}" in stderr and fragment in stderr
    assert not output_dir.exists()


def test_new_label_at_predict_time_exits_1(
    run_main_in_process, huggingface_dir, tmp_path
):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "labels.txt").write_text("ham\nspam\n")
    (tmp_path / "test.jsonl").write_text('{"text": "a", "label": "eggs"}\n')
    status, stderr = run_main_in_process(
        "--task_name=csv",
        f"--test_file={tmp_path / 'test.jsonl'}",
        "--do_predict",
        f"--init_checkpoint={huggingface_dir}",
        f"--output_dir={output_dir}",
    )
    assert status == 1
    assert "test.jsonl, line 1: label 'eggs' is not in the label list" in stderr
    assert sorted(os.listdir(output_dir)) == ["labels.txt"]


def test_auto_precision_evaluates_in_bfloat16_on_cpus_that_have_it(
    run_main_in_process, huggingface_dir, tmp_path, monkeypatch
):
    from app import strategy

    # A CPU whose rule trains in float32 and predicts in bfloat16: an AMD CPU
    # with AVX512_BF16 (AMX CPUs train in bfloat16 too).
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: AuthenticAMD\nflags\t\t: avx512f avx512_bf16\n")
    monkeypatch.setattr(strategy, "CPUINFO_PATH", str(cpuinfo))
    write_stsb(tmp_path / "STS-B")
    status, stderr = run_main_in_process(
        *stsb_training_flags(
            huggingface_dir, tmp_path, "out", "--do_eval", "--do_predict"
        )
    )
    assert status == 0, stderr[-3000:]
    assert "Precision: float32 (--precision=auto" in stderr
    assert "Evaluation and prediction: mixed_bfloat16" in stderr
    assert "Batches at once = 2" in stderr  # a CPU-only process
    metrics = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert metrics["global_step"] > 0 and np.isfinite(metrics["eval_loss"])
    predicted = np.array(read_tsv(tmp_path / "out" / "test_results.tsv"), float)

    # The export computes in float32; bfloat16 predictions stay close to it.
    test_rows = read_tsv(tmp_path / "STS-B" / "test.tsv")[1:]
    served = served_scores(
        tmp_path / "out" / "export",
        [row[-2] for row in test_rows],
        [row[-1] for row in test_rows],
    )
    np.testing.assert_allclose(predicted, served, atol=0.05)

    # A run that picks its checkpoint by evaluating during training evaluates
    # it again in the same precision, so its results match that choice.
    status, stderr = run_main_in_process(
        *stsb_training_flags(
            huggingface_dir,
            tmp_path,
            "periodic",
            "--eval_every_steps=1",
            "--do_eval",
            "--export_formats=none",
        )
    )
    assert status == 0, stderr[-3000:]
    assert "Precision: float32 (--precision=auto" in stderr
    assert "Evaluation and prediction: mixed_bfloat16" not in stderr


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_evaluates_and_exports_float32(
    run_main_in_process, huggingface_dir, tmp_path, precision, dtype_policy
):
    # The run sets the process's policy; the fixture restores it afterwards.
    write_stsb(tmp_path / "STS-B")
    status, stderr = run_main_in_process(
        *stsb_training_flags(
            huggingface_dir,
            tmp_path,
            "out",
            f"--precision={precision}",
            "--do_eval",
            "--do_predict",
        )
    )
    assert status == 0, stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert metrics["global_step"] > 0 and np.isfinite(metrics["eval_loss"])
    assert np.isfinite(
        np.array(read_tsv(tmp_path / "out" / "test_results.tsv"), float)
    ).all()
    score = served_scores(tmp_path / "out" / "export", ["A man plays."], ["A man."])
    assert np.isfinite(score).all()


@pytest.mark.xdist_group("trained_stsb")  # one worker builds the fixture
def test_a_run_that_does_not_train_evaluates_the_checkpoint_without_adam_slots(
    trained_stsb, huggingface_dir, tmp_path, monkeypatch
):
    folder, result, counts = trained_stsb
    assert result.returncode == 0, result.stderr[-3000:]
    trained = json.loads((folder / "out" / "eval_results.json").read_text())
    weights = counts["weights"]
    assert counts["optimizer_variables"] >= 2 * weights  # m and v

    output_dir = copy_of(folder / "out", tmp_path)
    export_again = tmp_path / "export_again"
    built = record_built_models(monkeypatch)
    result = run_main(
        *tiny_run_flags(huggingface_dir, folder / "STS-B", output_dir),
        "--task_name=sts-b",
        "--do_eval",
        f"--export_dir={export_again}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    again = json.loads((output_dir / "eval_results.json").read_text())
    assert len(built[0].optimizer.variables) < weights  # no slots, step count kept
    assert again["global_step"] == trained["global_step"] > 0
    assert again["eval_loss"] == pytest.approx(trained["eval_loss"], abs=1e-6)

    # Its export serves what the training run's export serves.
    trained_export, again_export = (
        served_scores(export_dir, ["a b c", "d"], ["c", "e f"])
        for export_dir in (folder / "out" / "export", export_again)
    )
    np.testing.assert_allclose(again_export, trained_export, atol=1e-6)
