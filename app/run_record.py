"""`run_config.json`: what a run was, so it can be resumed, compared and refused.

A run's identity is the subset of settings that changes what training
computes. A later run in the same `output_dir` with the same identity resumes;
a different one is refused unless `--overwrite_output_dir` is given, and then
only the files earlier runs wrote are removed (`app.output_dir`).
"""

import dataclasses
import glob
import hashlib
import json
import os
import platform

from app.config import RunConfig
from app.errors import ConfigError
from app.output_dir import check_output_dir_path, remove_written
from app.results import write_text_atomically

RECORD_NAME = "run_config.json"
IN_MEMORY = "in_memory"  # the training order of runs recorded before streaming
# Settings that change the trained weights; eval/predict settings do not.
IDENTITY_FIELDS = (
    "task_name",
    "init_checkpoint",
    "do_lower_case",
    "max_seq_length",
    "train_batch_size",
    "learning_rate",
    "num_train_epochs",
    "warmup_proportion",
    "seed",
    "classifier_dropout",
    "gradient_accumulation_steps",
    "class_weights",
    "multi_label",
)


def run_identity(
    config: RunConfig,
    data_hashes: dict,
    streams_training: bool = False,
    num_workers: int = 1,
) -> dict:
    identity = {name: getattr(config, name) for name in IDENTITY_FIELDS}
    identity["train_data_sha256"] = data_hashes.get("train")
    # A streamed training split comes in another order than one in memory:
    # a run resumes only in the order it started with.
    identity["training_order"] = "feature_cache" if streams_training else IN_MEMORY
    # Several workers read a streamed split's files in turns (`app.sharding`):
    # another number of workers makes other batches. Absent for one worker,
    # as before workers were recorded.
    if streams_training and num_workers > 1:
        identity["training_workers"] = num_workers
    # What training sees of long texts; absent for truncate, as before it existed.
    if config.long_text != "truncate":
        identity["long_text"] = config.long_text
    if config.long_text == "chunks":
        identity["doc_stride"] = config.doc_stride
    return identity


def build_record(
    config: RunConfig, identity: dict, data_hashes: dict, checkpoint_hash: str
) -> dict:
    """The run's identity, every flag, library versions, data and checkpoint
    hashes."""
    return {
        "identity": identity,
        "flags": dataclasses.asdict(config),
        "versions": library_versions(),
        "data_sha256": data_hashes,
        "init_checkpoint_sha256": checkpoint_hash,
    }


def check_output_dir(config: RunConfig, identity: dict) -> bool:
    """Whether the earlier run in output_dir is to be replaced; reads only.

    A training run resumes a run of the same identity, refuses a different
    one, or (with --overwrite_output_dir) replaces it. A run that does not
    train uses whatever checkpoint is there and never removes it.

    Raises:
        ConfigError: output_dir holds another run and no --overwrite_output_dir.
    """
    check_output_dir_path(config.output_dir)
    if config.feature_cache and config.feature_cache_dir:
        check_output_dir_path(config.feature_cache_dir, "feature_cache_dir")
    if not config.do_train:
        return False
    if not os.path.exists(os.path.join(config.output_dir, "checkpoint")):
        return False
    previous = read_record(config.output_dir)
    if previous is not None and not _changed(previous.get("identity", {}), identity):
        return False
    if config.overwrite_output_dir:
        return True
    differences = _differences(previous, identity)
    raise ConfigError(
        f"--output_dir={config.output_dir} holds checkpoints of a different run "
        f"({differences}). Pass --overwrite_output_dir to replace them, or "
        "choose another --output_dir. Rerunning the same command resumes."
    )


def prepare_output_dir(config: RunConfig, identity: dict) -> None:
    """Checks output_dir again (under its lock) and removes a replaced run's files.

    Only the files runs of this project wrote there are removed
    (`remove_written`); a user's own files stay.
    """
    if check_output_dir(config, identity):
        remove_written(config.output_dir)


def write_record(output_dir: str, record: dict) -> str:
    path = os.path.join(output_dir, RECORD_NAME)
    write_text_atomically(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def read_record(output_dir: str) -> dict | None:
    path = os.path.join(output_dir, RECORD_NAME)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def hash_examples(examples) -> str:
    """sha256 over a split's examples (guid, texts, label), in order."""
    digest = hashlib.sha256()
    update_examples_hash(digest, examples)
    return digest.hexdigest()


def update_examples_hash(digest, examples) -> None:
    """Adds `examples` to `digest`: a split hashed in chunks as it streams
    gets the hash `hash_examples` gives the whole list."""
    for example in examples:
        for value in (example.guid, example.text_a, example.text_b, example.label):
            digest.update(repr(value).encode("utf-8"))


def hash_checkpoint(path: str) -> str:
    """sha256 over the checkpoint's files (a handle is recorded by name)."""
    files = sorted(glob.glob(os.path.join(path, "*"))) if os.path.isdir(path) else []
    files += sorted(glob.glob(path + ".*")) if not os.path.isdir(path) else []
    digest = hashlib.sha256()
    for file_path in files:
        if os.path.isfile(file_path):
            digest.update(os.path.basename(file_path).encode("utf-8"))
            with open(file_path, "rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest() if files else f"name:{path}"


def library_versions() -> dict:
    import keras
    import keras_hub
    import numpy
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "numpy": numpy.__version__,
    }


def _differences(previous: dict | None, identity: dict) -> str:
    if previous is None:
        return f"no {RECORD_NAME} says what they are"
    old = _with_defaults(previous.get("identity", {}))
    new = _with_defaults(identity)
    return "differs in " + ", ".join(
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in _changed(old, identity)
    )


def _changed(old: dict, identity: dict) -> list[str]:
    """The identity fields that differ from an earlier run's record, either
    way: a field one of them leaves out has its default there."""
    old, new = _with_defaults(old), _with_defaults(identity)
    return [k for k in dict.fromkeys([*new, *old]) if old.get(k) != new.get(k)]


def _with_defaults(identity: dict) -> dict:
    """An identity with the defaults of the fields it lacks: those added
    after an earlier run recorded it (so such runs still resume), and those
    recorded only away from their default (`run_identity`)."""
    defaults = {field.name: field.default for field in dataclasses.fields(RunConfig)}
    defaults = {k: defaults[k] for k in (*IDENTITY_FIELDS, "long_text", "doc_stride")}
    return {**defaults, "training_order": IN_MEMORY, "training_workers": 1, **identity}
