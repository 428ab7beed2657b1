"""Shared fixtures: tiny BERT checkpoints and task files, all built offline."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
def huggingface_dir(tmp_path_factory, tiny_backbone):
    folder = tmp_path_factory.mktemp("weights") / "tiny-bert-hf"
    return str(write_huggingface_folder(tiny_backbone, TINY_VOCABULARY, folder))


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


@pytest.fixture
def dtype_policy():
    """Sets Keras' global dtype policy (call it with a name); restored after."""
    import keras

    previous = keras.mixed_precision.global_policy()
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(previous)
