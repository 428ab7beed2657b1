"""Reading pretrained weights from every format, and converting them to presets."""

import json
import os
import shutil

import numpy as np
import pytest

from checkpoints import (
    CheckpointError,
    PretrainedBert,
    detect_format,
    load_backbone,
    read_pretrained,
    read_vocabulary,
    validate_case_matches_checkpoint,
)
from checkpoints import convert as convert_tool
from tests.bert_weights import (
    TINY_VOCABULARY,
    build_tiny_backbone,
    random_original_weights,
    write_huggingface_folder,
    write_original_checkpoint,
)


def backbone_outputs(backbone):
    inputs = {
        "token_ids": np.array([[2, 5, 7, 9, 11, 3, 0]], dtype="int32"),
        "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 0]], dtype="int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 0]], dtype="int32"),
    }
    return {name: np.asarray(value) for name, value in backbone(inputs).items()}


def test_formats_are_detected(huggingface_dir, preset_dir, tmp_path):
    assert detect_format(huggingface_dir) == "huggingface"
    assert detect_format(preset_dir) == "keras_hub"
    assert detect_format("bert_base_en_uncased") == "keras_hub_handle"
    with pytest.raises(CheckpointError, match="does not exist"):
        detect_format(str(tmp_path / "missing"))
    with pytest.raises(CheckpointError, match="neither an original BERT checkpoint"):
        detect_format(str(tmp_path))


@pytest.mark.parametrize("fixture", ["huggingface_dir", "preset_dir"])
def test_weights_load_exactly(fixture, request, tiny_backbone):
    pretrained = read_pretrained(request.getfixturevalue(fixture))
    assert pretrained.vocabulary == TINY_VOCABULARY
    assert pretrained.max_sequence_length == 64
    assert pretrained.lowercase is True
    loaded = backbone_outputs(load_backbone(pretrained))
    expected = backbone_outputs(tiny_backbone)
    for name in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(loaded[name], expected[name], atol=1e-6)


def test_vocabulary_that_does_not_match_the_embeddings(huggingface_dir, tmp_path):
    vocab_path = tmp_path / "vocab.txt"
    vocab_path.write_text("\n".join(TINY_VOCABULARY + ["extra"]) + "\n")
    pretrained = read_pretrained(huggingface_dir, str(vocab_path))
    with pytest.raises(CheckpointError, match="35 tokens but the weights .* embed 34"):
        load_backbone(pretrained)


def test_missing_vocabulary_names_the_file(huggingface_dir, tmp_path):
    with pytest.raises(CheckpointError, match="missing.txt not found"):
        read_pretrained(huggingface_dir, str(tmp_path / "missing.txt"))


def test_folder_without_weights(huggingface_dir, tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("config.json", "vocab.txt"):
        (folder / name).write_bytes(
            open(os.path.join(huggingface_dir, name), "rb").read()
        )
    with pytest.raises(CheckpointError, match="holds no weights"):
        read_pretrained(str(folder))


def test_a_pickled_pytorch_model_bin_is_refused_with_how_to_convert(
    huggingface_dir, tmp_path
):
    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in ("config.json", "vocab.txt"):
        (folder / name).write_bytes(
            open(os.path.join(huggingface_dir, name), "rb").read()
        )
    # Never read: a pickle that would run code if anything unpickled it.
    (folder / "pytorch_model.bin").write_bytes(b"cos\nsystem\n(S'exit 3'\ntR.")
    with pytest.raises(CheckpointError) as raised:
        read_pretrained(str(folder))
    message = str(raised.value)
    assert "pytorch_model.bin only" in message
    assert f"AutoModel.from_pretrained('{folder}').save_pretrained" in message


def test_vocabulary_lines_are_stripped_as_the_original_strips_them(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(f" {token}\r\n" for token in TINY_VOCABULARY))
    assert read_vocabulary(str(path)) == TINY_VOCABULARY


def test_vocabulary_with_a_token_twice_names_the_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TINY_VOCABULARY + ["dog"]) + "\n")
    with pytest.raises(
        CheckpointError, match="vocab.txt lists 'dog' twice .lines 8 and 35"
    ):
        read_vocabulary(str(path))


def test_bert_config_file_is_ignored_with_a_warning_for_other_formats(
    huggingface_dir, caplog
):
    pretrained = read_pretrained(
        huggingface_dir, bert_config_file="/x/bert_config.json"
    )
    assert pretrained.format == "huggingface"
    assert "Ignoring --bert_config_file=/x/bert_config.json" in caplog.text


# === python -m checkpoints.convert ===


@pytest.fixture
def original_dir(tmp_path):
    folder = tmp_path / "uncased_L-2_H-8_A-2"
    write_original_checkpoint(folder, random_original_weights())
    return str(folder)


def test_convert_an_original_checkpoint_to_a_keras_hub_preset(original_dir, tmp_path):
    import keras_hub

    output_dir = str(tmp_path / "preset")
    prefix = os.path.join(original_dir, "bert_model.ckpt")
    code = convert_tool.main(
        ["convert", f"--init_checkpoint={prefix}", f"--output_dir={output_dir}"]
    )
    assert code == 0
    expected = backbone_outputs(load_backbone(read_pretrained(prefix)))
    converted = keras_hub.models.BertBackbone.from_preset(output_dir)
    for name, value in backbone_outputs(converted).items():
        np.testing.assert_allclose(value, expected[name], atol=1e-6)
    tokenizer = keras_hub.models.BertTokenizer.from_preset(output_dir)
    assert tokenizer.vocabulary == TINY_VOCABULARY
    assert (tokenizer.lowercase, tokenizer.strip_accents) == (True, True)
    assert read_pretrained(output_dir).lowercase is True


def test_convert_keeps_the_case_of_a_cased_huggingface_folder(tiny_backbone, tmp_path):
    import keras_hub

    cased_dir = write_huggingface_folder(
        tiny_backbone, TINY_VOCABULARY, tmp_path / "cased", do_lower_case=False
    )
    output_dir = str(tmp_path / "preset")
    argv = [f"--init_checkpoint={cased_dir}", f"--output_dir={output_dir}"]
    assert convert_tool.main(["convert", *argv]) == 0
    tokenizer = keras_hub.models.BertTokenizer.from_preset(output_dir)
    assert (tokenizer.lowercase, tokenizer.strip_accents) == (False, False)


def test_convert_refuses_the_opposite_case_unless_allowed(
    huggingface_dir, tmp_path, capsys
):
    import keras_hub

    output_dir = str(tmp_path / "preset")
    argv = ["convert", f"--init_checkpoint={huggingface_dir}", "--nodo_lower_case"]
    assert convert_tool.main([*argv, f"--output_dir={output_dir}"]) == 1
    error = capsys.readouterr().err
    assert "tokenizer_config.json says `do_lower_case: true`" in error
    assert not os.path.exists(output_dir)
    allowed = [*argv, f"--output_dir={output_dir}", "--allow_case_mismatch"]
    assert convert_tool.main(allowed) == 0
    tokenizer = keras_hub.models.BertTokenizer.from_preset(output_dir)
    assert tokenizer.lowercase is False


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--output_dir=out"], "--init_checkpoint is required"),
        (["--init_checkpoint=x.ckpt", "--output_dir=out"], "x.ckpt.index not found"),
        (["--init_checkpoint=ORIGINAL", "--output_dir=ORIGINAL"], "is not empty"),
        (
            ["--init_checkpoint=ORIGINAL", "--output_dir=out", "--nodo_lower_case"],
            "seems to be a lowercased model",
        ),
        (["--init_checkpoint=ORIGINAL", "--output_dir=out", "--vocab=x"], "Unknown"),
    ],
)
def test_convert_errors_exit_1_with_one_message(
    argv, message, original_dir, tmp_path, capsys
):
    argv = [arg.replace("ORIGINAL", original_dir) for arg in argv]
    argv = [arg.replace("=out", f"={tmp_path / 'out'}") for arg in argv]
    assert convert_tool.main(["convert", *argv]) == 1
    error = capsys.readouterr().err
    assert error.startswith("ERROR: ") and message in error


def test_convert_a_corrupted_checkpoint_names_the_file(original_dir, tmp_path, capsys):
    data = os.path.join(original_dir, "bert_model.ckpt.data-00000-of-00001")
    with open(data, "r+b") as file:
        file.truncate(200)
    argv = [f"--init_checkpoint={original_dir}", f"--output_dir={tmp_path / 'out'}"]
    assert convert_tool.main(["convert", *argv]) == 1
    assert "bert_model.ckpt (" in capsys.readouterr().err


def test_convert_a_truncated_safetensors_file_says_so_in_one_line(
    huggingface_dir, tmp_path, capsys
):
    folder = truncated_copy(huggingface_dir, tmp_path / "short")
    argv = [f"--init_checkpoint={folder}", f"--output_dir={tmp_path / 'out'}"]
    assert convert_tool.main(["convert", *argv]) == 1
    error = capsys.readouterr().err
    assert error == (
        f"ERROR: {folder}/model.safetensors is truncated or corrupted: it holds "
        "6,084 bytes, but its header describes 12,168. Download or convert the "
        "weights again (an interrupted download leaves a short file).\n"
    )


# === The case setting a folder records ===


@pytest.mark.parametrize("fixture", ["huggingface_dir", "preset_dir"])
def test_an_uncased_folder_refuses_a_cased_run(fixture, request):
    folder = request.getfixturevalue(fixture)
    validate_case_matches_checkpoint(True, folder)
    with pytest.raises(CheckpointError) as error:
        validate_case_matches_checkpoint(False, folder)
    source, key = {
        "huggingface_dir": ("tokenizer_config.json", "do_lower_case"),
        "preset_dir": ("tokenizer.json", "lowercase"),
    }[fixture]
    assert str(error.value) == (
        f"You passed in `--do_lower_case=False` with `--init_checkpoint={folder}`,"
        f" but {os.path.join(folder, source)} says `{key}: true`: the model's "
        "vocabulary was built for lowercased text, so cased input would tokenize "
        "into other (or unknown) word pieces. Pass `--do_lower_case=True`, or "
        "--allow_case_mismatch if you mean to fine-tune on cased text. "
        "Received: do_lower_case=False"
    )


def test_a_cased_folder_refuses_a_lowercased_run(tiny_backbone, tmp_path):
    folder = str(tmp_path / "bert-base-cased")
    write_huggingface_folder(tiny_backbone, TINY_VOCABULARY, folder, False)
    assert read_pretrained(folder).lowercase is False
    validate_case_matches_checkpoint(False, folder)
    with pytest.raises(CheckpointError, match="says `do_lower_case: false`"):
        validate_case_matches_checkpoint(True, folder)


def test_the_folder_setting_wins_over_a_release_name(tiny_backbone, tmp_path):
    # A Hugging Face copy of a cased release, saved as uncased by its owner.
    folder = str(tmp_path / "cased_L-12_H-768_A-12")
    write_huggingface_folder(tiny_backbone, TINY_VOCABULARY, folder, True)
    validate_case_matches_checkpoint(True, folder)


def test_a_mismatch_allowed_by_the_flag_is_logged(huggingface_dir, caplog):
    validate_case_matches_checkpoint(False, huggingface_dir, allow_mismatch=True)
    assert "says `do_lower_case: true`" in caplog.text
    assert "--allow_case_mismatch is set: going on." in caplog.text


# === Damaged or mismatched Hugging Face weights ===


def truncated_copy(folder, destination):
    shutil.copytree(folder, destination)
    path = os.path.join(destination, "model.safetensors")
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) // 2)
    return str(destination)


@pytest.mark.parametrize("cut", [0, 5, 100, 12167])
def test_a_truncated_safetensors_file_is_found_before_loading(
    cut, huggingface_dir, tmp_path
):
    folder = tmp_path / "short"
    shutil.copytree(huggingface_dir, folder)
    with open(folder / "model.safetensors", "r+b") as file:
        file.truncate(cut)
    with pytest.raises(CheckpointError, match="is truncated or corrupted: "):
        read_pretrained(str(folder))


def with_config(folder, destination, **changes):
    shutil.copytree(folder, destination)
    config = json.loads((destination / "config.json").read_text())
    (destination / "config.json").write_text(json.dumps(dict(config, **changes)))
    return str(destination)


def test_a_config_that_does_not_fit_the_weights_names_both_shapes(
    huggingface_dir, tmp_path
):
    folder = with_config(huggingface_dir, tmp_path / "wide", intermediate_size=32)
    with pytest.raises(CheckpointError) as error:
        read_pretrained(folder)
    assert str(error.value) == (
        f"encoder.layer.0.intermediate.dense.weight in {folder}/model.safetensors"
        f" has shape [16, 8], but {folder}/config.json makes it [32, 8] "
        "(intermediate_size, hidden_size). Pass the config.json that came with "
        "these weights. Received: shape=[16, 8], expected=[32, 8]"
    )


def test_a_config_with_more_layers_than_the_weights(huggingface_dir, tmp_path):
    folder = with_config(huggingface_dir, tmp_path / "deep", num_hidden_layers=3)
    with pytest.raises(CheckpointError, match="holds 2 transformer layers, but "):
        read_pretrained(folder)


def test_a_failed_weight_load_shows_shapes_not_values(huggingface_dir, tmp_path):
    folder = with_config(huggingface_dir, tmp_path / "wide", intermediate_size=32)
    # Past the header check, as a keras-hub preset would be.
    pretrained = PretrainedBert(folder, "huggingface", TINY_VOCABULARY, 64)
    with pytest.raises(CheckpointError) as error:
        load_backbone(pretrained)
    message = str(error.value)
    assert "variable.shape=(8, 32), Received: value.shape=(8, 16)" in message
    assert "\n" not in message and "value=[[" not in message


@pytest.mark.parametrize("fixture", ["huggingface_dir", "original_dir"])
def test_a_backbone_without_weights_has_the_shapes_but_not_the_weights(
    fixture, request
):
    """What a run that restores its own checkpoint builds: the same backbone,
    its pretrained weights not loaded."""
    path = request.getfixturevalue(fixture)
    if fixture == "original_dir":
        path = os.path.join(path, "bert_model.ckpt")
    pretrained = read_pretrained(path)
    loaded = load_backbone(pretrained)
    built = load_backbone(pretrained, weights=False)
    assert {**built.get_config(), "name": ""} == {**loaded.get_config(), "name": ""}
    assert [w.shape for w in built.weights] == [w.shape for w in loaded.weights]
    embeddings = [w.path for w in loaded.weights].index("token_embedding/embeddings")
    assert not np.allclose(
        built.weights[embeddings].numpy(), loaded.weights[embeddings].numpy()
    )


def test_loading_skips_random_initial_values_unless_a_weight_stays_unset(monkeypatch):
    """Weights are built as zeros for the checkpoint to fill; one it leaves
    unset (still zeros, with a random initializer) gets a plain build instead."""
    from checkpoints import loader

    values = [weight.numpy() for weight in build_tiny_backbone().weights]
    builds, drawn = [], []  # each build, and whether it drew initial values

    def load(leave_out):
        def build(pretrained, dtype, weights):
            backbone = build_tiny_backbone()
            builds.append(backbone)
            drawn.append(any(np.any(weight.numpy()) for weight in backbone.weights))
            for variable, value in zip(backbone.weights, values, strict=True):
                if leave_out not in variable.path:
                    variable.assign(value)
            return backbone

        return build

    monkeypatch.setattr(loader, "_build_backbone", load(leave_out="nothing"))
    complete = loader.load_backbone(None)
    assert builds == [complete] and drawn == [False]  # initializers skipped
    for weight, value in zip(complete.weights, values):
        np.testing.assert_array_equal(weight.numpy(), value)

    builds.clear()
    drawn.clear()
    monkeypatch.setattr(
        loader, "_build_backbone", load(leave_out="pooled_dense/kernel")
    )
    backbone = loader.load_backbone(None)
    assert len(builds) == 2 and backbone is builds[1] and drawn == [False, True]
    assert np.any(backbone.get_layer("pooled_dense").kernel.numpy())
