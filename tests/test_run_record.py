"""A run checks everything before it touches output_dir, and removes only its own files.

Each test starts from an output_dir that holds an earlier run's files and a
user's own; the runs are tiny and in-process (a lock holder is a subprocess).
"""

import json
import os
import shutil
import socket

import pytest
from absl import flags

import main
from app import run_record
from app.config import RunConfig
from app.errors import ConfigError
from app.output_dir import LOCK_NAME, MANIFEST_NAME
from app.runner import run_all
from checkpoints import CheckpointError
from tests.conftest import write_mrpc
from tests.test_output_dir import files_under, start_lock_holder, write_files

EARLIER_RUN = [
    "checkpoint",
    "model.ckpt-7.index",
    "model.ckpt-7.data-00000-of-00001",
    "eval_results.txt",
    "logs/train/events.out.tfevents.1700000000.host.12.0.v2",
    "best/checkpoint",
    "best/best_checkpoint.json",
]
USER_FILES = ["notes", "eval_results.xlsx", "logs/mine.log"]


def tiny_config(data_dir, init_checkpoint, output_dir, **changes) -> RunConfig:
    settings = dict(
        task_name="mrpc",
        data_dir=str(data_dir),
        output_dir=str(output_dir),
        init_checkpoint=init_checkpoint,
        do_train=True,
        train_batch_size=2,
        max_seq_length=16,
        num_train_epochs=1,
    )
    return RunConfig(**{**settings, **changes})


def write_earlier_run(output_dir) -> dict:
    """An earlier, different run's files and a user's; returns their texts."""
    write_files(output_dir, EARLIER_RUN + USER_FILES, text="earlier")
    record = {"identity": {"task_name": "cola"}}
    (output_dir / run_record.RECORD_NAME).write_text(json.dumps(record))
    return texts_under(output_dir)


def texts_under(folder) -> dict:
    return {name: (folder / name).read_text() for name in files_under(folder)}


def test_overwrite_removes_only_the_earlier_runs_files(huggingface_dir, tmp_path):
    data_dir, output_dir = write_mrpc(tmp_path / "MRPC"), tmp_path / "out"
    write_earlier_run(output_dir)
    export_dir = tmp_path / "served"
    write_files(export_dir, ["saved_model.pb", "variables/variables.index"], "old")
    config = tiny_config(
        data_dir,
        huggingface_dir,
        output_dir,
        overwrite_output_dir=True,
        export_dir=str(export_dir),
    )
    run_all(config)

    assert {name: (output_dir / name).read_text() for name in USER_FILES} == {
        name: "earlier" for name in USER_FILES
    }
    assert not (output_dir / "model.ckpt-7.index").exists()
    assert not (output_dir / "best").exists()
    record = run_record.read_record(str(output_dir))
    assert record["identity"]["task_name"] == "mrpc"
    assert not (output_dir / LOCK_NAME).exists()
    # The manifest lists what this run wrote, and none of the user's files.
    written = json.loads((output_dir / MANIFEST_NAME).read_text())
    assert {"checkpoint", "model.ckpt-3.index", "run_config.json"} <= set(
        written["files"]
    )
    assert not set(USER_FILES) & set(written["files"])
    # The other model in --export_dir was replaced whole, and nothing left beside.
    assert (export_dir / "fingerprint.pb").exists()
    assert (export_dir / "saved_model.pb").read_text(errors="replace") != "old"
    assert sorted(os.listdir(tmp_path)) == ["MRPC", "out", "served"]


def test_a_wrong_vocabulary_fails_before_anything_is_removed(huggingface_dir, tmp_path):
    data_dir, output_dir = write_mrpc(tmp_path / "MRPC"), tmp_path / "out"
    before = write_earlier_run(output_dir)
    with open(os.path.join(huggingface_dir, "vocab.txt")) as file:
        lines = file.readlines()
    (tmp_path / "vocab.txt").write_text("".join(lines[:20]))
    config = tiny_config(
        data_dir,
        huggingface_dir,
        output_dir,
        overwrite_output_dir=True,
        vocab_file=str(tmp_path / "vocab.txt"),
    )
    with pytest.raises(CheckpointError, match="has 20 tokens"):
        run_all(config)
    assert texts_under(output_dir) == before


def test_a_failed_weight_load_leaves_no_output_dir(huggingface_dir, tmp_path):
    weights_dir = tmp_path / "weights"
    shutil.copytree(huggingface_dir, weights_dir)
    lines = (weights_dir / "vocab.txt").read_text().splitlines(keepends=True)
    (weights_dir / "vocab.txt").write_text("".join(lines[:20]))
    output_dir = tmp_path / "new" / "out"
    config = tiny_config(write_mrpc(tmp_path / "MRPC"), str(weights_dir), output_dir)
    with pytest.raises(CheckpointError, match="has 20 tokens"):
        run_all(config)
    assert not (tmp_path / "new").exists()


def test_a_training_set_under_one_batch_fails_before_anything_is_written(
    huggingface_dir, tmp_path
):
    data_dir, output_dir = write_mrpc(tmp_path / "MRPC"), tmp_path / "out"
    before = write_earlier_run(output_dir)
    config = tiny_config(
        data_dir,
        huggingface_dir,
        output_dir,
        overwrite_output_dir=True,
        train_batch_size=8,  # write_mrpc's training set has 6 examples
    )
    with pytest.raises(ConfigError, match="6 examples, fewer than one batch"):
        run_all(config)
    assert texts_under(output_dir) == before


def run_main_in_process(*argv) -> int:
    flags.FLAGS(["main.py", *argv])
    try:
        return main.main([])
    finally:
        flags.FLAGS.unparse_flags()


def test_an_output_dir_inside_a_file_exits_1_with_one_line(
    huggingface_dir, tmp_path, capsys
):
    (tmp_path / "a_file").write_text("mine")
    status = run_main_in_process(
        "--task_name=mrpc",
        "--do_train",
        "--max_seq_length=16",
        "--train_batch_size=2",  # a whole batch: the output_dir is what fails
        f"--data_dir={write_mrpc(tmp_path / 'MRPC')}",
        f"--init_checkpoint={huggingface_dir}",
        f"--output_dir={tmp_path / 'a_file' / 'out'}",
    )
    error = capsys.readouterr().err
    assert status == 1
    assert f"ERROR: --output_dir is inside a file, not a folder: {tmp_path}" in error
    assert "Traceback" not in error
    assert (tmp_path / "a_file").read_text() == "mine"


def test_a_second_run_into_a_busy_output_dir_is_refused(huggingface_dir, tmp_path):
    output_dir = tmp_path / "out"
    holder = start_lock_holder(output_dir)
    try:
        assert holder.stdout.readline() == "locked\n"
        config = tiny_config(write_mrpc(tmp_path / "MRPC"), huggingface_dir, output_dir)
        expected = (
            f"in use by another run \\(pid {holder.pid} on host {socket.gethostname()}"
        )
        with pytest.raises(ConfigError, match=expected):
            run_all(config)
        assert files_under(output_dir) == {LOCK_NAME}
    finally:
        holder.communicate("\n")
    assert files_under(output_dir) == set()


def test_another_model_in_export_dir_is_refused_before_training(
    huggingface_dir, tmp_path
):
    export_dir = tmp_path / "served"
    write_files(export_dir, ["saved_model.pb"], text="another model")
    config = tiny_config(
        write_mrpc(tmp_path / "MRPC"),
        huggingface_dir,
        tmp_path / "out",
        export_dir=str(export_dir),
    )
    with pytest.raises(ConfigError, match=f"--export_dir={export_dir} holds files"):
        run_all(config)
    assert not (tmp_path / "out").exists()
    assert texts_under(export_dir) == {"saved_model.pb": "another model"}


def test_a_run_that_does_not_train_never_removes_checkpoints(tmp_path):
    output_dir = tmp_path / "out"
    before = write_earlier_run(output_dir)
    config = tiny_config(
        "unused",
        "unused",
        output_dir,
        do_train=False,
        do_eval=True,
        overwrite_output_dir=True,
    )
    run_record.prepare_output_dir(config, run_record.run_identity(config, {}))
    assert texts_under(output_dir) == before


def test_a_run_recorded_before_a_setting_existed_resumes_at_its_default(tmp_path):
    config = tiny_config("data", "weights", tmp_path)
    identity = run_record.run_identity(config, {"train": "abc"})
    write_files(tmp_path, ["checkpoint"], text="earlier")
    older = {k: v for k, v in identity.items() if k != "class_weights"}
    (tmp_path / run_record.RECORD_NAME).write_text(json.dumps({"identity": older}))
    assert run_record.check_output_dir(config, identity) is False  # resumes

    weighted = tiny_config("data", "weights", tmp_path, class_weights="balanced")
    with pytest.raises(ConfigError, match="class_weights: 'none' -> 'balanced'"):
        run_record.check_output_dir(
            weighted, run_record.run_identity(weighted, {"train": "abc"})
        )


def recorded_run(output_dir, identity: dict) -> None:
    """An earlier run in output_dir whose run_config.json holds `identity`."""
    write_files(output_dir, ["checkpoint"], text="earlier")
    record = {"identity": identity}
    (output_dir / run_record.RECORD_NAME).write_text(json.dumps(record))


def test_a_streamed_run_resumes_only_with_its_number_of_workers(tmp_path):
    config = tiny_config("data", "weights", tmp_path)
    hashes = {"train": "abc"}
    two = run_record.run_identity(config, hashes, streams_training=True, num_workers=2)
    assert two["training_workers"] == 2
    recorded_run(tmp_path, two)
    assert run_record.check_output_dir(config, two) is False  # resumes
    for workers in (1, 3):
        other = run_record.run_identity(
            config, hashes, streams_training=True, num_workers=workers
        )
        with pytest.raises(ConfigError, match=f"training_workers: 2 -> {workers}"):
            run_record.check_output_dir(config, other)
    # In memory, every worker count makes the same global batches.
    in_memory = run_record.run_identity(config, hashes, num_workers=2)
    assert "training_workers" not in in_memory
    # One worker is not recorded, so a run from before workers were resumes.
    one = run_record.run_identity(config, hashes, streams_training=True)
    assert "training_workers" not in one
    recorded_run(tmp_path, one)
    assert run_record.check_output_dir(config, one) is False


def test_a_setting_recorded_only_away_from_its_default_is_compared_both_ways(
    tmp_path,
):
    chunks = tiny_config("data", "weights", tmp_path, long_text="chunks")
    recorded_run(tmp_path, run_record.run_identity(chunks, {"train": "abc"}))
    truncate = tiny_config("data", "weights", tmp_path)
    identity = run_record.run_identity(truncate, {"train": "abc"})
    assert "long_text" not in identity
    with pytest.raises(ConfigError, match="long_text: 'chunks' -> 'truncate'"):
        run_record.check_output_dir(truncate, identity)
