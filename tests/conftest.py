"""Shared fixtures: tiny BERT checkpoints and task files, all built offline.

Every test starts from the same process-wide state: `restore_global_state`
puts back what an in-process run changes (Keras' dtype policy, TensorFlow's op
determinism, random generators, logging), so tests pass in any order.
"""

import contextlib
import logging
import os
import random
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# main() sets this default before TensorFlow loads; TensorFlow reads it once,
# at load. The same value here gives in-process runs the kernels, and so the
# exact numbers, of `python main.py` runs, which inherit it.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from tests.bert_weights import (  # noqa: E402
    TINY_VOCABULARY,
    build_tiny_backbone,
    write_huggingface_folder,
)

# MRPC layout, quote characters inside text (read with no quote character).
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
MRPC_ROWS = [
    ("1", 'He said "the dog is hairy.', "the dog is hairy ."),
    ("0", "the cat is happy", "the cat is not 'happy'"),
    ("1", "this film is good !", "this movie is very good"),
    ("0", 'a "bad" movie', "a good film"),
    ("1", "is this jacksonville ?", "no it is not ."),
    ("0", "the dog was sad", "the cat was happy ,"),
]


@pytest.fixture(scope="session")
def tiny_backbone():
    return build_tiny_backbone()


@pytest.fixture(scope="session")
def huggingface_dir(shared_dir, tiny_backbone):
    """The tiny BERT as a Hugging Face folder: one path for every test process,
    so runs recorded with it (`trained_mrpc`) name the same weights everywhere."""
    with built_once(shared_dir, "weights") as (weights, done):
        folder = weights / "tiny-bert-hf"
        if not done:
            write_huggingface_folder(tiny_backbone, TINY_VOCABULARY, folder)
        return str(folder)


@pytest.fixture(scope="session")
def preset_dir(tmp_path_factory, tiny_backbone):
    import keras_hub

    folder = str(tmp_path_factory.mktemp("weights") / "tiny-bert-preset")
    tiny_backbone.save_to_preset(folder)
    tokenizer = keras_hub.models.BertTokenizer(TINY_VOCABULARY, lowercase=True)
    tokenizer.save_to_preset(folder)
    return folder


def write_mrpc(data_dir, rows=MRPC_ROWS):
    """train.tsv, dev.tsv and test.tsv in the GLUE MRPC layout."""
    os.makedirs(data_dir, exist_ok=True)
    for split in ("train", "dev"):
        lines = [MRPC_HEADER] + [
            f"{label}\t{i}\t{i + 100}\t{a}\t{b}\n"
            for i, (label, a, b) in enumerate(rows)
        ]
        with open(os.path.join(data_dir, f"{split}.tsv"), "w") as file:
            file.writelines(lines)
    test_lines = ["index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"] + [
        f"{i}\t{i}\t{i + 100}\t{a}\t{b}\n" for i, (_, a, b) in enumerate(rows[:5])
    ]
    with open(os.path.join(data_dir, "test.tsv"), "w") as file:
        file.writelines(test_lines)
    return str(data_dir)


@pytest.fixture
def mrpc_dir(tmp_path):
    return write_mrpc(tmp_path / "MRPC")


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory):
    """A folder every test process of the session sees (pytest-xdist workers
    included), for what is built once and only read: see `built_once`."""
    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist each worker's base is a folder of the run's base.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return shared / "built_once"


@contextlib.contextmanager
def built_once(shared_dir, name):
    """Yields (folder, done): build into `folder` unless `done`, one process at a
    time; the first process of the session to get here builds, others reuse."""
    import fcntl

    folder = shared_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = folder / ".built"
        yield folder, marker.exists()
        marker.touch()


@pytest.fixture(scope="session")
def shared_mrpc_dir(shared_dir):
    """The MRPC files of `trained_mrpc`; tests only read them."""
    with built_once(shared_dir, "shared") as (folder, done):
        return str(folder / "MRPC") if done else write_mrpc(folder / "MRPC")


@pytest.fixture(scope="session")
def trained_mrpc(shared_dir, shared_mrpc_dir, huggingface_dir):
    """`python main.py` with the original's MRPC flags, run once per session.

    Returns how the process ended (`MainResult`) and its output_dir. Tests
    read that folder; a test that runs again in it works on a copy (`copy_of`).
    """
    import json

    from tests.test_main import MainResult, original_flags, run_main_subprocess

    with built_once(shared_dir, "trained_mrpc") as (folder, done):
        output_dir, ending = folder / "out", folder / "ending.json"
        if not done:
            flags = original_flags(shared_mrpc_dir, huggingface_dir, output_dir)
            process = run_main_subprocess(*flags)
            ending.write_text(json.dumps([process.returncode, process.stderr]))
        return MainResult(*json.loads(ending.read_text())), output_dir


def copy_of(folder, tmp_path):
    """A copy of a run's output_dir that a test may run in and change."""
    import shutil

    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    return copy


@pytest.fixture(autouse=True)
def restore_global_state():
    """Puts back the process-wide state a test, or a run inside it, changes."""
    with global_state_restored():
        yield


@contextlib.contextmanager
def global_state_restored():
    """Random generators, environment, logging, Keras' dtype policy and TF's
    op determinism as they were; Keras' and TF's as they are by default where
    the block imported them."""
    random_state, numpy_state = random.getstate(), np.random.get_state()
    environment = dict(os.environ)
    root = logging.getLogger()
    root_handlers = list(root.handlers)
    levels = _logger_levels()
    policy = _keras_dtype_policy() or "float32"
    determinism = bool(_op_determinism())
    try:
        yield
    finally:
        random.setstate(random_state)
        np.random.set_state(numpy_state)
        if os.environ != environment:
            os.environ.clear()
            os.environ.update(environment)
        root.handlers[:] = root_handlers
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if _keras_dtype_policy() not in (None, policy):
            sys.modules["keras"].mixed_precision.set_global_policy(policy)
        if _op_determinism() not in (None, determinism):
            from tensorflow.python.framework import config  # no public switch-off

            if determinism:
                config.enable_op_determinism()
            else:
                config.disable_op_determinism()


def _logger_levels() -> dict:
    """The level of the root logger ("") and of every named logger."""
    loggers = logging.root.manager.loggerDict.items()
    levels = {name: x.level for name, x in loggers if isinstance(x, logging.Logger)}
    return {"": logging.getLogger().level, **levels}


def _keras_dtype_policy() -> str | None:
    """The global dtype policy's name; None before Keras is imported."""
    if "keras" not in sys.modules:
        return None
    return sys.modules["keras"].mixed_precision.global_policy().name


def _op_determinism() -> bool | None:
    """Whether TF ops run deterministically; None before TensorFlow is imported."""
    if "tensorflow" not in sys.modules:
        return None
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()


@pytest.fixture
def dtype_policy():
    """Sets Keras' global dtype policy (call it with a name); restored after."""
    import keras

    previous = keras.mixed_precision.global_policy()
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(previous)
