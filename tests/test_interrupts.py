"""Ctrl-C and a full disk during training, in real processes on the tiny model.

Each run is `python main.py` with a few lines run first: one sends the process
a real SIGINT at a given step; one lowers the file size limit
(`RLIMIT_FSIZE`, a quota-free stand-in for a full disk) right before a given
checkpoint is saved, so that the write fails in the operating system.
"""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from app.interrupts import checkpoint_bytes
from tests.test_main import run_main as run_main_in_this_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# argv[1]: the step after which the process sends itself SIGINT.
INTERRUPT_AT_STEP = """
import os, runpy, signal, sys
step = int(sys.argv.pop(1))
from app import callbacks
summarize = callbacks.TrainingSummaries.on_train_batch_end
def on_train_batch_end(self, batch, logs=None):
    summarize(self, batch, logs)
    if int(self.model.optimizer.iterations.numpy()) == step:
        os.kill(os.getpid(), signal.SIGINT)
callbacks.TrainingSummaries.on_train_batch_end = on_train_batch_end
runpy.run_path("main.py", run_name="__main__")
"""

# argv[1]: the step whose checkpoint meets a file size limit of half the
# previous checkpoint's data file.
FULL_DISK_AT_STEP = """
import resource, runpy, signal, sys
import tensorflow as tf
step = int(sys.argv.pop(1))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, not the process
save = tf.train.CheckpointManager.save
def save_on_a_full_disk(self, checkpoint_number=None, **kwargs):
    if checkpoint_number == step:
        data = tf.io.gfile.glob(self.latest_checkpoint + ".data-*")[0]
        limit = tf.io.gfile.stat(data).length // 2
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return save(self, checkpoint_number=checkpoint_number, **kwargs)
tf.train.CheckpointManager.save = save_on_a_full_disk
runpy.run_path("main.py", run_name="__main__")
"""


def run_main(prelude, step, flags):
    argv = [sys.executable, "-c", prelude] if prelude else [sys.executable, "main.py"]
    return subprocess.run(
        argv + ([str(step)] if prelude else []) + flags,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=400,
    )


@pytest.fixture
def train_flags(huggingface_dir, mrpc_dir, tmp_path):
    """6 examples in batches of 2: 3 steps an epoch, 6 in all."""
    return [
        "--task_name=mrpc",
        "--do_train",
        f"--data_dir={mrpc_dir}",
        f"--init_checkpoint={huggingface_dir}",
        f"--output_dir={tmp_path / 'out'}",
        "--max_seq_length=16",
        "--train_batch_size=2",
        "--num_train_epochs=2",
        "--save_checkpoints_steps=2",
    ]


def checkpoint_files(output_dir):
    return sorted(name for name in os.listdir(output_dir) if "model.ckpt" in name)


def test_ctrl_c_saves_the_step_exits_130_and_a_rerun_resumes(train_flags, tmp_path):
    output_dir = str(tmp_path / "out")
    result = run_main(INTERRUPT_AT_STEP, 3, train_flags)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"Interrupted (Ctrl-C) at step 3; saved {output_dir}/model.ckpt-3. Run "
        "the same command again to resume from step 3."
    )
    assert tf.train.latest_checkpoint(output_dir) == f"{output_dir}/model.ckpt-3"
    assert not os.path.exists(os.path.join(output_dir, "export"))

    rerun = run_main_in_this_process(*train_flags)
    assert rerun.returncode == 0, rerun.stderr
    assert f"Restored {output_dir}/model.ckpt-3." in rerun.stderr
    assert tf.train.latest_checkpoint(output_dir) == f"{output_dir}/model.ckpt-6"


def test_a_full_disk_keeps_the_last_checkpoint_and_names_the_space(
    train_flags, tmp_path
):
    output_dir = str(tmp_path / "out")
    result = run_main(FULL_DISK_AT_STEP, 4, train_flags)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    size = checkpoint_bytes(f"{output_dir}/model.ckpt-2")
    assert result.stderr.splitlines()[-1] == (
        f"ERROR: Could not write the checkpoint of step 4 in {output_dir}: the "
        "disk is full (File too large). The last complete checkpoint, "
        f"{output_dir}/model.ckpt-2, is kept; the partial files were removed. "
        f"Free about {size / 1000:.1f} KB there (the size of one checkpoint) and "
        "run the same command again to resume from step 2."
    )
    assert checkpoint_files(output_dir) == [
        "model.ckpt-2.data-00000-of-00001",
        "model.ckpt-2.index",
    ]
    assert tf.train.latest_checkpoint(output_dir) == f"{output_dir}/model.ckpt-2"
    reader = tf.train.load_checkpoint(f"{output_dir}/model.ckpt-2")
    batches = reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")
    assert int(batches) == 2


def test_no_space_left_from_tensorflow_removes_the_partial_checkpoint(
    tmp_path, monkeypatch
):
    import keras
    import numpy as np

    from app.callbacks import PeriodicCheckpoint
    from app.errors import CheckpointWriteError

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((2, 2)), np.ones((2, 1)), verbose=0)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    manager = tf.train.CheckpointManager(
        checkpoint, str(tmp_path), max_to_keep=3, checkpoint_name="model.ckpt"
    )
    manager.save(checkpoint_number=2)

    def save_on_a_full_disk(checkpoint_number):
        (tmp_path / f"model.ckpt-{checkpoint_number}_temp").mkdir()
        (tmp_path / f"model.ckpt-{checkpoint_number}.index").write_bytes(b"")
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{tmp_path}/model.ckpt-4_temp/part; No space left on device"
        )

    monkeypatch.setattr(manager, "save", save_on_a_full_disk)
    callback = PeriodicCheckpoint(manager, every_n_steps=2)
    callback.set_model(model)
    with pytest.raises(CheckpointWriteError) as error:
        callback._save(4)
    size = checkpoint_bytes(f"{tmp_path}/model.ckpt-2")
    assert str(error.value) == (
        f"Could not write the checkpoint of step 4 in {tmp_path}: the disk is "
        f"full (No space left on device). The last complete checkpoint, "
        f"{tmp_path}/model.ckpt-2, is kept; the partial files were removed. "
        f"Free about {size / 1000:.1f} KB there (the size of one checkpoint) and run "
        "the same command again to resume from step 2."
    )
    assert checkpoint_files(tmp_path) == [
        "model.ckpt-2.data-00000-of-00001",
        "model.ckpt-2.index",
    ]
