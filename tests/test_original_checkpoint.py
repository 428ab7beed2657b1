"""Original Google BERT checkpoints load into a keras-hub backbone, exactly.

The proof: known random weights under the original variable names, loaded
here and run through an independent numpy forward pass of the original
`modeling.py` maths (tanh GELU, LayerNorm epsilon 1e-12, -10000 mask).
"""

import json
import logging
import math
import os
import shutil

import numpy as np
import pytest

from checkpoints import (
    CheckpointError,
    detect_format,
    load_backbone,
    read_pretrained,
    validate_case_matches_checkpoint,
)
from tests.bert_weights import (
    TINY_BERT_CONFIG,
    TINY_VOCABULARY,
    random_original_weights,
    write_huggingface_folder_from_original,
    write_original_checkpoint,
)

# Its module and session fixtures are built once: keep its tests on one worker.
pytestmark = pytest.mark.xdist_group("test_original_checkpoint")

TOKEN_IDS = np.array(
    [[2, 5, 7, 9, 11, 3, 26, 27, 28, 3, 0, 0], [2, 30, 9, 3, 0, 0, 0, 0, 0, 0, 0, 0]]
)
SEGMENT_IDS = np.array(
    [[0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
)
PADDING_MASK = (TOKEN_IDS != 0).astype("int32")
NUM_BACKBONE_WEIGHTS = 7 + 16 * TINY_BERT_CONFIG["num_hidden_layers"]


# === The original BERT maths, in numpy ===


def layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-12) * gamma + beta


def gelu(x):
    """`modeling.gelu`: the tanh approximation."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def dense(x, weights, name):
    return x @ weights[f"{name}/kernel"] + weights[f"{name}/bias"]


def attention(x, weights, prefix, mask, num_heads):
    batch, length, hidden = x.shape
    head_size = hidden // num_heads

    def heads(name):  # (batch, heads, length, head_size)
        y = dense(x, weights, f"{prefix}attention/self/{name}")
        return y.reshape(batch, length, num_heads, head_size).transpose(0, 2, 1, 3)

    scores = heads("query") @ heads("key").transpose(0, 1, 3, 2)
    scores = scores / math.sqrt(head_size) + (1.0 - mask[:, None, None, :]) * -10000.0
    probabilities = np.exp(scores - scores.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    context = (probabilities @ heads("value")).transpose(0, 2, 1, 3)
    return dense(
        context.reshape(batch, length, hidden),
        weights,
        f"{prefix}attention/output/dense",
    )


def original_bert(weights, config, token_ids, segment_ids, mask):
    """`modeling.BertModel`: (sequence_output, pooled_output), float64."""
    w = {name: value.astype(np.float64) for name, value in weights.items()}
    length = token_ids.shape[1]
    x = (
        w["bert/embeddings/word_embeddings"][token_ids]
        + w["bert/embeddings/token_type_embeddings"][segment_ids]
        + w["bert/embeddings/position_embeddings"][None, :length]
    )
    x = layer_norm(
        x, w["bert/embeddings/LayerNorm/gamma"], w["bert/embeddings/LayerNorm/beta"]
    )
    for n in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{n}/"
        a = attention(x, w, p, mask, config["num_attention_heads"])
        x = layer_norm(
            a + x,
            w[f"{p}attention/output/LayerNorm/gamma"],
            w[f"{p}attention/output/LayerNorm/beta"],
        )
        y = dense(gelu(dense(x, w, f"{p}intermediate/dense")), w, f"{p}output/dense")
        x = layer_norm(
            y + x, w[f"{p}output/LayerNorm/gamma"], w[f"{p}output/LayerNorm/beta"]
        )
    pooled = np.tanh(dense(x[:, 0], w, "bert/pooler/dense"))
    return x, pooled


# === Fixtures ===


@pytest.fixture(scope="module")
def weights():
    return random_original_weights(TINY_BERT_CONFIG, seed=3)


@pytest.fixture(scope="module")
def original_dir(tmp_path_factory, weights):
    folder = tmp_path_factory.mktemp("original") / "uncased_L-2_H-8_A-2"
    write_original_checkpoint(folder, weights)
    return str(folder)


@pytest.fixture(scope="module")
def loaded(original_dir):
    return load_backbone(read_pretrained(os.path.join(original_dir, "bert_model.ckpt")))


def outputs(backbone):
    inputs = {
        "token_ids": TOKEN_IDS.astype("int32"),
        "segment_ids": SEGMENT_IDS.astype("int32"),
        "padding_mask": PADDING_MASK,
    }
    result = backbone(inputs)
    return np.asarray(result["sequence_output"]), np.asarray(result["pooled_output"])


def copy_checkpoint(original_dir, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(original_dir, folder)
    return folder


# === Loading ===


def test_outputs_equal_the_original_maths_in_numpy(loaded, weights):
    sequence, pooled = outputs(loaded)
    expected_sequence, expected_pooled = original_bert(
        weights, TINY_BERT_CONFIG, TOKEN_IDS, SEGMENT_IDS, PADDING_MASK
    )
    # Padded positions too: they attend to the same unpadded keys.
    assert np.max(np.abs(sequence - expected_sequence)) < 1e-5
    assert np.max(np.abs(pooled - expected_pooled)) < 1e-5
    assert np.std(pooled) > 0.1  # not a degenerate comparison


def test_the_same_weights_from_a_huggingface_folder_agree(loaded, weights, tmp_path):
    folder = write_huggingface_folder_from_original(
        tmp_path / "hf", weights, TINY_BERT_CONFIG, TINY_VOCABULARY
    )
    from_huggingface = load_backbone(read_pretrained(folder))
    for ours, theirs in zip(outputs(loaded), outputs(from_huggingface)):
        assert np.max(np.abs(ours - theirs)) < 1e-5


def test_the_prefix_a_file_of_it_or_its_folder_all_load(original_dir):
    prefix = os.path.join(original_dir, "bert_model.ckpt")
    data = prefix + ".data-00000-of-00001"
    for path in (original_dir, original_dir + "/", prefix, prefix + ".index", data):
        assert detect_format(path) == "original"
        pretrained = read_pretrained(path)
        assert pretrained.vocabulary == TINY_VOCABULARY
        assert pretrained.max_sequence_length == 64
        assert pretrained.original_files.prefix == prefix


def test_config_and_vocabulary_from_flags(original_dir, tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    copy = copy_checkpoint(original_dir, tmp_path)
    for name in ("bert_config.json", "vocab.txt"):
        shutil.move(copy / name, folder)
    prefix = str(tmp_path / "copy" / "bert_model.ckpt")
    with pytest.raises(
        CheckpointError, match="bert_config.json not found.*--bert_config_file"
    ):
        read_pretrained(prefix)
    pretrained = read_pretrained(
        prefix,
        vocab_file=str(folder / "vocab.txt"),
        bert_config_file=str(folder / "bert_config.json"),
    )
    assert pretrained.bert_config == TINY_BERT_CONFIG


def test_loading_is_logged_like_the_original(original_dir, caplog):
    with caplog.at_level(logging.DEBUG, logger="checkpoints"):
        load_backbone(read_pretrained(original_dir))
    initialized = [r.message for r in caplog.records if "*INIT_FROM_CKPT*" in r.message]
    assert len(initialized) == NUM_BACKBONE_WEIGHTS
    assert all(
        r.levelno == logging.DEBUG for r in caplog.records if "*INIT" in r.message
    )
    assert "bert/encoder/layer_1/attention/self/query/kernel" in "\n".join(initialized)
    summary = [r.message for r in caplog.records if r.levelno == logging.INFO]
    assert len(summary) == 1
    assert f"Loaded {NUM_BACKBONE_WEIGHTS} weights" in summary[0]
    assert "7 checkpoint variables unused: cls/predictions/output_bias" in summary[0]


# === Bad input: each error names the file ===


def test_missing_checkpoint_names_the_index_file(tmp_path):
    with pytest.raises(
        CheckpointError, match=r"missing/bert_model.ckpt.index not found"
    ):
        read_pretrained(str(tmp_path / "missing" / "bert_model.ckpt"))


def test_missing_backbone_weight(tmp_path, weights):
    partial = {k: v for k, v in weights.items() if k != "bert/pooler/dense/kernel"}
    prefix = write_original_checkpoint(tmp_path / "partial", partial)
    with pytest.raises(
        CheckpointError,
        match=f"{prefix} lacks 1 backbone weights.*bert/pooler/dense/kernel",
    ):
        read_pretrained(prefix)


def test_weight_with_the_wrong_shape(tmp_path, weights):
    name = "bert/encoder/layer_1/intermediate/dense/kernel"
    prefix = write_original_checkpoint(
        tmp_path / "bad", dict(weights, **{name: weights[name][:, :12]})
    )
    with pytest.raises(
        CheckpointError,
        match=rf"{name} in the checkpoint {prefix} has shape \[8, 12\].*\[8, 16\]",
    ):
        read_pretrained(prefix)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"hidden_size": 16},
            "has shape \\[34, 8\\], but .*bert_config.json makes it \\[34, 16\\]",
        ),
        (
            {"num_hidden_layers": 3},
            "lacks 16 backbone weights that .*bert_config.json needs",
        ),
        ({"num_hidden_layers": 1}, "does not use, first bert/encoder/layer_1/"),
        (
            {"num_attention_heads": 3},
            "hidden_size in .*bert_config.json must be a multiple",
        ),
        ({"hidden_act": "relu"}, "sets hidden_act='relu'"),
        (
            {"vocab_size": None},
            "vocab_size in .*bert_config.json must be a positive integer",
        ),
    ],
)
def test_config_that_does_not_match_the_checkpoint(
    original_dir, tmp_path, change, message
):
    folder = copy_checkpoint(original_dir, tmp_path)
    write_config(folder, dict(TINY_BERT_CONFIG, **change))
    with pytest.raises(CheckpointError, match=message):
        read_pretrained(str(folder))


def write_config(folder, config):
    with open(os.path.join(folder, "bert_config.json"), "w") as file:
        json.dump(config, file)


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "bert_config.json",
            "Could not read the BERT config file .*copy/bert_config.json",
        ),
        (
            "bert_model.ckpt.index",
            "Could not read the checkpoint .*copy/bert_model.ckpt.index",
        ),
        ("vocab.txt", "Could not read the vocabulary file .*copy/vocab.txt"),
    ],
)
def test_unreadable_files(original_dir, tmp_path, name, message):
    folder = copy_checkpoint(original_dir, tmp_path)
    (folder / name).write_bytes(b"{not json, not a checkpoint, not UTF-8 \xff")
    with pytest.raises(CheckpointError, match=message):
        read_pretrained(str(folder))


def test_vocabulary_that_does_not_match_the_embeddings(original_dir, tmp_path):
    folder = copy_checkpoint(original_dir, tmp_path)
    with open(folder / "vocab.txt", "a") as file:
        file.write("extra\n")
    with pytest.raises(
        CheckpointError,
        match="copy/vocab.txt has 35 tokens but the weights .* embed 34",
    ):
        read_pretrained(str(folder))


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_data_file(original_dir, tmp_path, damage):
    folder = copy_checkpoint(original_dir, tmp_path)
    data = folder / "bert_model.ckpt.data-00000-of-00001"
    content = data.read_bytes()
    if damage == "truncate":
        content = content[: len(content) // 2]
    else:
        content = content[:100] + bytes([content[100] ^ 0xFF]) + content[101:]
    data.write_bytes(content)
    pretrained = read_pretrained(str(folder))  # the index alone is intact
    with pytest.raises(
        CheckpointError, match="copy/bert_model.ckpt .*truncated or corrupted"
    ):
        load_backbone(pretrained)


# === do_lower_case against the model name, as the original checks it ===


@pytest.mark.parametrize(
    "path, do_lower_case",
    [
        ("/models/uncased_L-12_H-768_A-12/bert_model.ckpt", True),
        ("/models/cased_L-12_H-768_A-12/bert_model.ckpt", False),
        ("/models/chinese_L-12_H-768_A-12", True),
        ("/models/my_model/bert_model.ckpt", False),
        ("bert_base_en_uncased", False),
        (None, True),
    ],
)
def test_matching_case_passes(path, do_lower_case):
    validate_case_matches_checkpoint(do_lower_case, path)


def test_lowercasing_a_cased_model_fails_with_the_original_message():
    path = "/models/multi_cased_L-12_H-768_A-12/bert_model.ckpt"
    with pytest.raises(CheckpointError) as error:
        validate_case_matches_checkpoint(True, path)
    assert str(error.value) == (
        "You passed in `--do_lower_case=True` with `--init_checkpoint="
        f"{path}`. However, `multi_cased_L-12_H-768_A-12` seems to be a cased "
        "model, so you should pass in `--do_lower_case=False` so that the "
        "fine-tuning matches how the model was pre-training. If this error is "
        "wrong, pass --allow_case_mismatch."
    )


@pytest.mark.parametrize(
    "path",
    [
        "/models/uncased_L-24_H-1024_A-16/",  # a folder
        "/models/uncased_L-4_H-256_A-4/bert_model.ckpt",  # a miniature
        "/models/wwm_uncased_L-24_H-1024_A-16/bert_model.ckpt",
    ],
)
def test_a_cased_run_of_an_uncased_release_fails(path):
    with pytest.raises(CheckpointError, match="seems to be a lowercased model"):
        validate_case_matches_checkpoint(False, path)


def test_a_lowercased_run_of_a_cased_whole_word_masking_model_fails():
    with pytest.raises(CheckpointError, match="seems to be a cased model"):
        validate_case_matches_checkpoint(
            True, "/m/wwm_cased_L-24_H-1024_A-16/bert_model.ckpt"
        )
