"""--export_formats: the Hugging Face folder and the keras-hub preset.

One tiny classifier (conftest's `tiny_backbone`, a head with known weights)
is exported once per session; no training. Loading the Hugging Face folder
with transformers needs torch, which the product's environment lacks: that
check runs by hand in the benchmark's environment (.venv-bench).
"""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from app.config import RunConfig, validate
from app.errors import ConfigError
from app.export_formats import check_format_dirs, export_formats
from app.export_huggingface import build_config
from app.model import build_classifier, build_plain_copy, is_backbone
from app.output_dir import read_manifest
from app.preprocessing import ClassifierPreprocessor
from app.runner import export_dir_of
from checkpoints import load_backbone, read_pretrained
from tasks import OutputKind
from tests.bert_weights import TINY_VOCABULARY
from tests.test_main import assert_clean_error, original_flags, run_main

# Its module and session fixtures are built once: keep its tests on one worker.
pytestmark = pytest.mark.xdist_group("test_export_formats")

LABELS = ["negative", "neutral", "positive"]
# Sentences that keras-hub's tokenizer splits as ours does (it differs on
# NFKC-folded characters such as full-width punctuation: PITFALLS 2).
SENTENCES = [
    "The dog is hairy.",
    "this film is not good !",
    "Is this Jacksonville? No",
    "a sad , bad movie",
]
HUGGINGFACE_FILES = {
    "config.json",
    "model.safetensors",
    "vocab.txt",
    "tokenizer_config.json",
}


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_backbone):
    """The tiny classifier, its preprocessor and the folders export_formats wrote."""
    # A copy: the session's tiny_backbone keeps its weights.
    model = build_plain_copy(build_classifier(tiny_backbone, len(LABELS)))
    rng = np.random.default_rng(0)
    # Weights far from their initial scale: [CLS]'s output then depends on
    # the sentence, and the probabilities differ from sentence to sentence.
    for weight in model.weights:
        noise = rng.standard_normal(weight.shape)
        scaled = 1 + 0.2 * noise if weight.path.endswith("gamma") else 0.5 * noise
        weight.assign(scaled.astype("float32"))
    preprocessor = ClassifierPreprocessor(TINY_VOCABULARY, sequence_length=16)
    output_dir = str(tmp_path_factory.mktemp("export_formats") / "out")
    os.makedirs(output_dir)
    written = export_formats(
        ("saved_model", "huggingface", "keras_hub"),
        model,
        preprocessor,
        LABELS,
        OutputKind.CLASSES,
        output_dir,
    )
    return model, preprocessor, output_dir, written


def backbone_of(model):
    """The model's keras-hub backbone, whatever Keras numbered its name."""
    return next(layer for layer in model.layers if is_backbone(layer))


def our_probabilities(model, preprocessor, sentences=SENTENCES) -> np.ndarray:
    packed = preprocessor({"text_a": tf.constant(sentences)})
    return np.asarray(model(packed, training=False))


def read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


# === Layout, published like the SavedModel ===
def test_each_format_gets_its_folder_and_saved_model_is_left_to_export(exported):
    _, _, output_dir, written = exported
    assert written == {
        "huggingface": os.path.join(output_dir, "huggingface"),
        "keras_hub": os.path.join(output_dir, "keras_hub"),
    }
    assert sorted(os.listdir(output_dir)) == [
        ".written.json",
        "huggingface",
        "keras_hub",
    ]
    assert set(os.listdir(written["huggingface"])) == HUGGINGFACE_FILES
    preset_files = set(os.listdir(written["keras_hub"]))
    assert {"metadata.json", "task.json", "preprocessor.json", "tokenizer.json"} <= (
        preset_files
    )
    manifest = read_manifest(output_dir)
    assert set(manifest["exports"]) == set(written.values())
    assert sorted(manifest["exports"][written["huggingface"]]) == sorted(
        HUGGINGFACE_FILES
    )


def test_huggingface_config_describes_a_sequence_classifier(exported, tiny_backbone):
    folder = exported[3]["huggingface"]
    config = read_json(os.path.join(folder, "config.json"))
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["model_type"] == "bert"
    assert config["problem_type"] == "single_label_classification"
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert config["label2id"] == {"negative": 0, "neutral": 1, "positive": 2}
    # keras-hub's GELU is the tanh approximation; "gelu" would be the exact one.
    assert config["hidden_act"] == "gelu_new"
    assert (config["hidden_size"], config["num_hidden_layers"]) == (8, 2)
    assert (config["num_attention_heads"], config["intermediate_size"]) == (2, 16)
    assert (config["vocab_size"], config["max_position_embeddings"]) == (34, 64)
    assert config["classifier_dropout"] == 0.1
    tokenizer = read_json(os.path.join(folder, "tokenizer_config.json"))
    assert tokenizer["do_lower_case"] is True
    assert tokenizer["model_max_length"] == 16
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as file:
        assert file.read().splitlines() == TINY_VOCABULARY


def test_a_score_task_is_a_regression_with_one_output(tiny_backbone):
    config = build_config(tiny_backbone, TINY_VOCABULARY, [], OutputKind.SCORE, 0.1)
    assert config["problem_type"] == "regression"
    assert config["id2label"] == {"0": "score"}


# === The Hugging Face folder ===
def test_safetensors_hold_our_head_and_pooler_under_huggingface_names(exported):
    model, _, _, written = exported
    tensors = load_file(os.path.join(written["huggingface"], "model.safetensors"))
    kernel, bias = model.get_layer("probabilities").get_weights()
    np.testing.assert_array_equal(tensors["classifier.weight"], kernel.T)
    np.testing.assert_array_equal(tensors["classifier.bias"], bias)
    backbone = backbone_of(model)
    pooler = backbone.get_layer("pooled_dense")
    np.testing.assert_array_equal(
        tensors["bert.pooler.dense.weight"], np.asarray(pooler.kernel).T
    )
    query = backbone.get_layer("transformer_layer_1")._self_attention_layer.query_dense
    np.testing.assert_array_equal(  # (hidden, heads, head_size) -> (out, in)
        tensors["bert.encoder.layer.1.attention.self.query.weight"],
        np.reshape(np.asarray(query.kernel), (8, 8)).T,
    )
    assert all(n.startswith(("bert.", "classifier.")) for n in tensors)
    assert all(t.dtype == np.float32 for t in tensors.values())


def test_huggingface_folder_reads_back_as_init_checkpoint_with_equal_weights(
    exported,
):
    model, _, _, written = exported
    pretrained = read_pretrained(written["huggingface"])
    assert pretrained.format == "huggingface"
    assert pretrained.vocabulary == TINY_VOCABULARY
    assert pretrained.lowercase is True
    assert pretrained.max_sequence_length == 64
    backbone = load_backbone(pretrained)
    ours = backbone_of(model)
    assert len(backbone.weights) == len(ours.weights)
    for read, fine_tuned in zip(backbone.weights, ours.weights):
        assert read.path == fine_tuned.path
        np.testing.assert_array_equal(np.asarray(read), np.asarray(fine_tuned))


# === The keras-hub preset ===
def test_keras_hub_preset_gives_our_probabilities(exported):
    import keras_hub

    model, preprocessor, _, written = exported
    classifier = keras_hub.models.TextClassifier.from_preset(written["keras_hub"])
    assert isinstance(classifier, keras_hub.models.BertTextClassifier)
    # As `classifier.predict(SENTENCES)` computes it, without compiling it.
    packed = classifier.preprocessor(tf.constant(SENTENCES))
    logits = classifier(packed, training=False)  # keras-hub returns logits
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    ours = our_probabilities(model, preprocessor)
    np.testing.assert_allclose(probabilities, ours, atol=1e-4)
    # Probabilities that differ between sentences, so the check can fail.
    assert np.ptp(ours, axis=0).max() > 0.02
    with open(os.path.join(written["keras_hub"], "labels.txt")) as file:
        assert file.read().splitlines() == LABELS


def test_keras_hub_preset_reads_back_as_init_checkpoint(exported):
    pretrained = read_pretrained(exported[3]["keras_hub"])
    assert pretrained.format == "keras_hub"
    assert pretrained.vocabulary == TINY_VOCABULARY
    assert pretrained.lowercase is True


# === Flags and folders ===
def test_unknown_export_format_exits_1_naming_flag_and_known_names(
    mrpc_dir, huggingface_dir, tmp_path
):
    flags = original_flags(mrpc_dir, huggingface_dir, tmp_path / "out")
    result = run_main(*flags, "--export_formats=saved_model,tflite")
    assert_clean_error(
        result,
        "--export_formats lists an unknown format 'tflite'",
        "saved_model, huggingface, keras_hub, onnx",
        "Received: export_formats=saved_model,tflite",
    )
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"export_formats": " , "}, "--export_formats lists no format"),
        (
            {"export_formats": "huggingface", "export_dir": "/tmp/x"},
            "does not list saved_model",
        ),
    ],
)
def test_export_formats_without_a_format_or_with_a_stray_export_dir(flags, message):
    config = RunConfig(
        do_train=True,
        task_name="mrpc",
        data_dir="data",
        output_dir="out",
        init_checkpoint="weights",
        **flags,
    )
    with pytest.raises(ConfigError, match=message):
        validate(config)


def test_format_names_are_trimmed_and_saved_model_is_written_only_if_listed():
    config = RunConfig(
        do_train=True, output_dir="out", export_formats=" keras_hub, huggingface,"
    )
    assert config.export_format_names == ("keras_hub", "huggingface")
    assert export_dir_of(config) is None
    assert export_dir_of(RunConfig(do_train=True, output_dir="out")) == os.path.join(
        "out", "export"
    )


def test_none_exports_nothing_and_cannot_be_mixed_with_a_format():
    config = RunConfig(do_train=True, output_dir="out", export_formats="none")
    assert config.export_format_names == ()
    assert export_dir_of(config) is None
    validate(
        dataclasses.replace(config, task_name="mrpc", data_dir="d", init_checkpoint="w")
    )
    mixed = dataclasses.replace(config, export_formats="none,huggingface")
    assert mixed.export_format_names == ("none", "huggingface")
    with pytest.raises(ConfigError, match="unknown format 'none'"):
        validate(
            dataclasses.replace(
                mixed, task_name="mrpc", data_dir="d", init_checkpoint="w"
            )
        )


def test_format_folder_with_a_users_files_is_refused(tmp_path, exported):
    output_dir = tmp_path / "out"
    (output_dir / "huggingface").mkdir(parents=True)
    (output_dir / "huggingface" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"huggingface holds files .*notes\.txt"):
        check_format_dirs(("saved_model", "huggingface"), str(output_dir))
    # The folders an earlier export of this output_dir wrote are replaced.
    check_format_dirs(("huggingface", "keras_hub"), exported[2])


def test_a_file_where_a_format_folder_goes_is_refused(tmp_path):
    (tmp_path / "keras_hub").write_text("not a folder")
    with pytest.raises(ConfigError, match="keras_hub is a file.*drop keras_hub"):
        check_format_dirs(("keras_hub",), str(tmp_path))
