"""Several replicas and several workers, as far as a CPU can show them."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.test_main import ROOT, read_eval_results
from tests.test_sharding import write_parts

MIRRORED_VERSUS_ONE_DEVICE = """
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras, keras_hub
from app.model import build_classifier
from app.optimization import build_optimizer

rng = np.random.default_rng(0)
inputs = {
    "token_ids": rng.integers(5, 30, size=(32, 12)).astype("int32"),
    "segment_ids": np.zeros((32, 12), "int32"),
    "padding_mask": np.ones((32, 12), "int32"),
}
labels = rng.integers(0, 2, size=(32,)).astype("int32")


def train(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=30, num_layers=2, num_heads=2, hidden_dim=8,
            intermediate_dim=16, max_sequence_length=16, dropout=0.0,
        )
        model = build_classifier(backbone, num_labels=2, dropout=0.0)
        model.compile(
            optimizer=build_optimizer(model, 1e-2, 8, 2),
            loss=keras.losses.SparseCategoricalCrossentropy(),
        )
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(8).repeat()
    history = model.fit(dataset, epochs=4, steps_per_epoch=2, verbose=0)
    return history.history["loss"], [w.tolist() for w in model.get_weights()]


one_loss, one_weights = train(tf.distribute.get_strategy())
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
two_loss, two_weights = train(mirrored)
print(json.dumps({
    "replicas": mirrored.num_replicas_in_sync,
    "one_loss": one_loss, "two_loss": two_loss,
    "max_weight_difference": max(
        float(np.max(np.abs(np.array(a) - np.array(b))))
        for a, b in zip(one_weights, two_weights)
    ),
}))
"""


def test_mirrored_two_replicas_train_like_one_device():
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_VERSUS_ONE_DEVICE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    np.testing.assert_allclose(report["two_loss"], report["one_loss"], rtol=1e-4)
    assert report["one_loss"][-1] < report["one_loss"][0]  # it did learn
    assert report["max_weight_difference"] < 1e-4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_two_workers(flags: list) -> list[str]:
    """`python main.py FLAGS` as worker 0 (the chief) and worker 1 of a
    two-worker cluster on this machine; their logs, once both succeed."""
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }
        env = dict(
            os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="2"
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, os.path.join(ROOT, "main.py"), *flags],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    logs = [process.communicate(timeout=600)[1] for process in processes]
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log[-3000:]
    return logs


def test_two_workers_read_their_own_files_and_only_the_chief_writes(
    huggingface_dir, tmp_path
):
    """A streamed training split of 3 files (worker 0 reads files 0 and 2,
    worker 1 file 1), evaluated from its cache during training by both
    workers; the chief alone evaluates at the end, predicts and writes."""
    data_dir = write_parts(tmp_path / "data", (8, 8, 8))
    (data_dir / "dev.csv").write_text((data_dir / "train-1.csv").read_text())
    (data_dir / "test.csv").write_text((data_dir / "train-2.csv").read_text())
    output_dir = tmp_path / "out"
    logs = run_two_workers(
        [
            "--task_name=csv",
            f"--data_dir={data_dir}",
            "--train_file=train-*.csv",
            "--dev_file=dev.csv",
            "--test_file=test.csv",
            f"--init_checkpoint={huggingface_dir}",
            "--max_seq_length=16",
            "--train_batch_size=4",
            "--num_train_epochs=1",
            "--eval_every_steps=3",
            "--do_train",
            "--do_eval",
            "--do_predict",
            "--data_in_memory=false",
            "--export_formats=none",  # what the workers do is the point
            f"--output_dir={output_dir}",
        ]
    )
    assert "MultiWorkerMirroredStrategy" in logs[0]
    assert "TF_CONFIG names 2 workers" in logs[1]
    for log in logs:
        assert "Each of the 2 workers reads its own files" in log
        assert "Step 6: eval_accuracy" in log  # 24 rows / 4 a step
    assert "Wrote eval_results" in logs[0]
    assert "Wrote" not in logs[1]
    assert read_eval_results(output_dir / "eval_results.txt")["global_step"] in (
        "3",
        "6",
    )
    assert len((output_dir / "test_results.tsv").read_text().splitlines()) == 8
    assert not (output_dir / "workers").exists()  # the worker's scratch is gone
