"""main.py end to end with the original's flags, and its errors for bad input.

Two `python main.py` processes prove the command line itself: the session's
`trained_mrpc` run (train, evaluate, predict, export) and one bad command
line. Every other check runs `main.main` in this process (`run_main`), which
is what those processes run after parsing their flags.
"""

import contextlib
import dataclasses
import io
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import MRPC_ROWS, copy_of, write_mrpc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN_PATH = os.path.join(ROOT, "main.py")


@dataclasses.dataclass
class MainResult:
    """How `python main.py FLAGS` ended: its exit status and what it wrote to stderr."""

    returncode: int
    stderr: str


def run_main(*flags) -> MainResult:
    """Runs `main.main` in this process on `python main.py FLAGS`'s flags.

    `stderr` holds what main prints there and the log lines a command-line
    run prints there. The flags go back to their defaults afterwards, and
    Keras' global state is cleared (conftest's `restore_global_state` puts
    back the rest).
    """
    import keras
    from absl import flags as absl_flags

    import main

    stderr = io.StringIO()
    log_lines = logging.StreamHandler(stderr)
    log_lines.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(log_lines)
    root.setLevel(logging.INFO)  # main's basicConfig level
    try:
        remaining = absl_flags.FLAGS([MAIN_PATH, *map(str, flags)])
        with contextlib.redirect_stderr(stderr):
            returncode = main.main(remaining)
    finally:
        absl_flags.FLAGS.unparse_flags()
        root.removeHandler(log_lines)
        keras.backend.clear_session()
    return MainResult(returncode, stderr.getvalue())


def run_main_subprocess(*flags, timeout=600) -> subprocess.CompletedProcess:
    """`python main.py FLAGS` in a process of its own."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, MAIN_PATH, *map(str, flags)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def original_flags(data_dir, init_checkpoint, output_dir, *extra):
    """A command line written for the original run_classifier.py."""
    return [
        "--task_name=MRPC",
        "--do_train=true",
        "--do_eval=true",
        "--do_predict=true",
        f"--data_dir={data_dir}",
        f"--vocab_file={os.path.join(init_checkpoint, 'vocab.txt')}",
        f"--init_checkpoint={init_checkpoint}",
        "--max_seq_length=32",
        "--train_batch_size=2",
        "--learning_rate=2e-5",
        "--num_train_epochs=2.0",
        "--save_checkpoints_steps=2",
        f"--output_dir={output_dir}",
        *extra,
    ]


def read_eval_results(path):
    with open(path) as file:
        lines = file.read().splitlines()
    assert lines == sorted(lines)
    return dict(line.split(" = ") for line in lines)


def test_end_to_end_with_the_original_flags(trained_mrpc):
    result, output_dir = trained_mrpc
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr

    results = read_eval_results(output_dir / "eval_results.txt")
    # The original's keys, plus MRPC's F1 and per-class metrics (issue 4).
    assert {"eval_accuracy", "eval_loss", "global_step", "loss"} <= set(results)
    assert "eval_f1" in results
    assert results["global_step"] == "6"  # int(6 / 2 * 2.0)
    assert 0.0 <= float(results["eval_accuracy"]) <= 1.0
    assert float(results["eval_loss"]) > 0

    rows = (output_dir / "test_results.tsv").read_text().splitlines()
    probabilities = np.array([[float(p) for p in row.split("\t")] for row in rows])
    assert probabilities.shape == (5, 2)  # one line per test example
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)

    checkpoints = sorted(os.listdir(output_dir))
    assert "checkpoint" in checkpoints
    assert "model.ckpt-6.index" in checkpoints
    assert "model.ckpt-2.index" in checkpoints  # every --save_checkpoints_steps
    assert os.listdir(output_dir / "logs" / "train")
    assert os.listdir(output_dir / "logs" / "eval")
    assert (output_dir / "export" / "saved_model.pb").exists()


def test_a_bad_command_line_exits_1_with_one_line_and_no_traceback(tmp_path):
    result = run_main_subprocess(
        "--task_name=mrpc", f"--data_dir={tmp_path}", f"--output_dir={tmp_path}/out"
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "ERROR: At least one of `do_train`, `do_eval` or `do_predict` must be "
        "True. Pass --do_train, --do_eval and/or --do_predict."
    ]
    assert not (tmp_path / "out").exists()


def test_eval_only_restores_the_trained_checkpoint(
    trained_mrpc, shared_mrpc_dir, huggingface_dir, tmp_path
):
    first = read_eval_results(trained_mrpc[1] / "eval_results.txt")
    output_dir = copy_of(trained_mrpc[1], tmp_path)
    flags = original_flags(shared_mrpc_dir, huggingface_dir, output_dir)
    flags = [f for f in flags if not f.startswith(("--do_train", "--do_predict"))]
    result = run_main(*flags)
    assert result.returncode == 0, result.stderr[-3000:]
    second = read_eval_results(output_dir / "eval_results.txt")
    assert second["global_step"] == "6"
    assert second["eval_accuracy"] == first["eval_accuracy"]
    assert abs(float(second["eval_loss"]) - float(first["eval_loss"])) < 1e-5


def test_a_run_that_does_not_train_is_built_in_the_precision_it_predicts_in(
    trained_mrpc, shared_mrpc_dir, huggingface_dir, tmp_path, monkeypatch
):
    """--precision=auto predicting in mixed_bfloat16 after float32 training
    (here: an AMD CPU with AVX512_BF16) builds that model from the start: no
    float32 model to copy from."""
    from app import strategy, training
    from tests.test_strategy import AMD_AVX512_BF16, write_cpuinfo

    cpuinfo = write_cpuinfo(tmp_path, AMD_AVX512_BF16)
    monkeypatch.setattr(strategy, "CPUINFO_PATH", cpuinfo)
    copies = []
    monkeypatch.setattr(training, "single_process_copy", copies.append)
    output_dir = copy_of(trained_mrpc[1], tmp_path)
    flags = original_flags(shared_mrpc_dir, huggingface_dir, output_dir)
    flags = [f for f in flags if not f.startswith(("--do_train", "--do_eval"))]
    result = run_main(*flags, "--export_formats=none")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Evaluation and prediction: mixed_bfloat16" in result.stderr
    assert copies == []
    read = lambda path: np.loadtxt(path, delimiter="\t")  # noqa: E731
    np.testing.assert_allclose(
        read(output_dir / "test_results.tsv"),
        read(trained_mrpc[1] / "test_results.tsv"),
        atol=2e-2,  # bfloat16 products against the float32 run
    )


def assert_clean_error(result, *fragments):
    """Exit status 1, no traceback, and every fragment in stderr."""
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr[-3000:]


def test_unknown_task_lists_the_known_ones(mrpc_dir, huggingface_dir, tmp_path):
    flags = original_flags(mrpc_dir, huggingface_dir, tmp_path / "out")
    result = run_main(*flags, "--task_name=qnlx")
    assert_clean_error(result, "Task not found: qnlx", "cola, mnli, mrpc")


def test_no_action_gives_the_original_message(mrpc_dir, huggingface_dir, tmp_path):
    flags = original_flags(mrpc_dir, huggingface_dir, tmp_path / "out")
    flags = [f for f in flags if not f.startswith("--do_")]
    result = run_main(*flags)
    assert_clean_error(
        result, "At least one of `do_train`, `do_eval` or `do_predict` must be True."
    )


def test_missing_data_file_is_named(huggingface_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_main(
        *original_flags(tmp_path / "empty", huggingface_dir, tmp_path / "o")
    )
    assert_clean_error(result, os.path.join(str(tmp_path / "empty"), "train.tsv"))


def test_row_with_too_few_columns_names_file_and_line(huggingface_dir, tmp_path):
    data_dir = write_mrpc(tmp_path / "MRPC")
    with open(os.path.join(data_dir, "train.tsv"), "a") as file:
        file.write("1\t7\t8\tonly one sentence\n")
    result = run_main(*original_flags(data_dir, huggingface_dir, tmp_path / "out"))
    assert_clean_error(result, "train.tsv", f"line {len(MRPC_ROWS) + 2}")


def test_label_outside_the_list_names_file_line_and_labels(huggingface_dir, tmp_path):
    rows = MRPC_ROWS[:2] + [("maybe", "the dog", "the cat")]
    data_dir = write_mrpc(tmp_path / "MRPC", rows)
    result = run_main(*original_flags(data_dir, huggingface_dir, tmp_path / "out"))
    assert_clean_error(result, "train.tsv", "line 4", "maybe", "'0', '1'")


def test_sequence_too_long_for_the_checkpoint(mrpc_dir, huggingface_dir, tmp_path):
    flags = original_flags(mrpc_dir, huggingface_dir, tmp_path / "out")
    result = run_main(*flags, "--max_seq_length=512")
    assert_clean_error(
        result,
        "Cannot use sequence length 512 because the BERT model was only trained "
        "up to sequence length 64",
    )


@pytest.mark.parametrize("missing", ["init_checkpoint", "vocab_file"])
def test_missing_weights_or_vocabulary(missing, mrpc_dir, huggingface_dir, tmp_path):
    flags = original_flags(mrpc_dir, huggingface_dir, tmp_path / "out")
    flags.append(f"--{missing}={tmp_path / 'nowhere'}")
    result = run_main(*flags)
    assert_clean_error(result, str(tmp_path / "nowhere"))


def test_no_weights_at_all(mrpc_dir, tmp_path):
    flags = [
        "--task_name=mrpc",
        "--do_train",
        f"--data_dir={mrpc_dir}",
        f"--output_dir={tmp_path / 'out'}",
    ]
    assert_clean_error(run_main(*flags), "--init_checkpoint=PATH")
