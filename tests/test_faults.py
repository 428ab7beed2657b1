"""Runs survive SIGKILL, refuse a foreign output_dir, and stop on a NaN loss."""

import json
import os
import signal
import subprocess
import sys

from tests.conftest import copy_of
from tests.test_main import ROOT, assert_clean_error, original_flags, run_main

KILL_AT_CHECKPOINT = os.path.join(ROOT, "tests", "kill_at_checkpoint.py")


def training_flags(data_dir, weights_dir, output_dir, *extra):
    flags = original_flags(data_dir, weights_dir, output_dir, *extra)
    flags = [f for f in flags if not f.startswith("--num_train_epochs")]
    return flags + [
        "--num_train_epochs=2",
        "--save_checkpoints_steps=1",
        "--deterministic",
        "--export_formats=none",  # the results files are compared, not exports
    ]


def outputs_of(output_dir):
    return {
        name: (output_dir / name).read_text()
        for name in ("eval_results.txt", "test_results.tsv")
    }


def run_killed_after_checkpoint(flags, output_dir, step) -> int:
    """`python main.py FLAGS` that SIGKILLs itself right after checkpoint `step`.

    Returns its exit status.
    """
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        KILL_AFTER_CHECKPOINT=str(output_dir / f"model.ckpt-{step}.index"),
    )
    process = subprocess.run(
        [sys.executable, KILL_AT_CHECKPOINT, *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
    )
    return process.returncode


def test_killed_run_resumes_to_the_same_results(mrpc_dir, huggingface_dir, tmp_path):
    """Kill -9 right after checkpoint 3 of 6, resume: the outputs of one whole run.

    With --deterministic the whole run and the resumed one agree exactly; they
    start from separate processes, so this also checks that two runs agree.
    """
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    result = run_main(*training_flags(mrpc_dir, huggingface_dir, whole))
    assert result.returncode == 0, result.stderr[-3000:]

    flags = training_flags(mrpc_dir, huggingface_dir, resumed)
    assert run_killed_after_checkpoint(flags, resumed, step=3) == -signal.SIGKILL
    assert not (resumed / "eval_results.txt").exists()
    assert not (resumed / "model.ckpt-4.index").exists()
    result = run_main(*flags)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "from 3)" in result.stderr

    assert outputs_of(resumed) == outputs_of(whole)
    assert "global_step = 6" in outputs_of(resumed)["eval_results.txt"]


def test_run_config_records_flags_versions_and_hashes(
    trained_mrpc, shared_mrpc_dir, huggingface_dir, tmp_path
):
    output_dir = copy_of(trained_mrpc[1], tmp_path)
    flags = original_flags(shared_mrpc_dir, huggingface_dir, output_dir)
    record = json.loads((output_dir / "run_config.json").read_text())
    assert record["flags"]["task_name"] == "MRPC"
    assert record["flags"]["learning_rate"] == 2e-5
    assert set(record["versions"]) >= {"tensorflow", "keras", "keras_hub", "numpy"}
    assert set(record["data_sha256"]) == {"train", "dev", "test"}
    assert len(record["init_checkpoint_sha256"]) == 64

    # A different run in the same output_dir is refused...
    changed = flags + ["--learning_rate=1e-3"]
    assert_clean_error(run_main(*changed), "different run", "learning_rate")
    assert (output_dir / "eval_results.txt").exists()  # nothing was lost
    # ...unless told to overwrite.
    result = run_main(*changed, "--overwrite_output_dir", "--export_formats=none")
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((output_dir / "run_config.json").read_text())
    assert record["flags"]["learning_rate"] == 1e-3


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(
    mrpc_dir, huggingface_dir, tmp_path
):
    output_dir = tmp_path / "out"
    flags = training_flags(mrpc_dir, huggingface_dir, output_dir)
    flags += ["--learning_rate=1e38", "--warmup_proportion=0"]
    result = run_main(*flags)
    assert_clean_error(result, "The training loss became", "at step")
    saved = [name for name in os.listdir(output_dir) if name.endswith(".index")]
    assert all(name.startswith("model.ckpt-") for name in saved)
