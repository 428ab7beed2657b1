"""The export's three signatures, its text-free copy and its assets.

The SavedModel serves in a process without the project and agrees with the
model that was exported, whatever speed changes that one runs with.

One pair classifier and one single-text score model are exported once per
session; one fresh process (no project code on its path) calls every
signature: first the text-free EXPORT_DIR/token_ids/ with only tensorflow
imported, then EXPORT_DIR after `import tensorflow_text`.
"""

import io
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from app import tokenize
from app.cpu_speedups import FusedLayerNormalization, apply_cpu_speedups
from app.export import (
    ServingOutputs,
    export_saved_model,
    serving_model,
    vocabulary_sha256,
)
from app.model import build_classifier
from app.preprocessing import ClassifierPreprocessor
from tasks import OutputKind
from tests.bert_weights import TINY_VOCABULARY, build_tiny_backbone

# Its module and session fixtures are built once: keep its tests on one worker.
pytestmark = pytest.mark.xdist_group("test_signatures")

TEXTS_A = ["the dog is hairy .", 'He said "no', "a very good film !", "the cat"]
TEXTS_B = ["the cat", "it was not", "", "is this jacksonville ?"]
LABELS = ["négatif", "neutral", "positive"]  # not ASCII: UTF-8 end to end
MAX_SEQ_LENGTH = 32

RELOAD = r"""
import json, sys
import tensorflow as tf

def plain(outputs):
    return {
        name: [v.decode() if isinstance(v, bytes) else v for v in values.tolist()]
        for name, values in ((n, v.numpy()) for n, v in outputs.items())
    }

def call(signature, inputs, dtype):
    return plain(signature(**{k: tf.constant(v, dtype) for k, v in inputs.items()}))

def serialized(texts):
    rows = [dict(zip(texts, values)) for values in zip(*texts.values())]
    return [
        tf.train.Example(features=tf.train.Features(feature={
            name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
            for name, text in row.items()
        })).SerializeToString()
        for row in rows
    ]

models = json.load(open(sys.argv[1]))
results = {}
for name, model in models.items():
    loaded = tf.saved_model.load(model["dir"] + "/token_ids")
    results[name] = {
        "token_ids/" + signature: call(
            loaded.signatures[signature], model["rows"], tf.int32
        )
        for signature in ("serving_default", "serve_token_ids")
    }
    try:
        tf.saved_model.load(model["dir"])
        results[name]["load_error"] = None
    except Exception as error:
        results[name]["load_error"] = str(error)[:200]
results["tensorflow_text_was_imported"] = "tensorflow_text" in sys.modules

import tensorflow_text  # registers the tokenizer's ops

for name, model in models.items():
    loaded = tf.saved_model.load(model["dir"])
    signatures = loaded.signatures
    results[name]["signatures"] = sorted(signatures)
    results[name]["serving_default"] = call(
        signatures["serving_default"], model["texts"], tf.string
    )
    results[name]["serve_token_ids"] = call(
        signatures["serve_token_ids"], model["rows"], tf.int32
    )
    examples = {"examples": serialized(model["texts"])}
    results[name]["serve_examples"] = call(
        signatures["serve_examples"], examples, tf.string
    )
print(json.dumps(results))
"""
SIGNATURES = (
    "serving_default",
    "serve_token_ids",
    "serve_examples",
    "token_ids/serving_default",
    "token_ids/serve_token_ids",
)


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """Both exports, the in-process outputs and what the fresh process served."""
    folder = tmp_path_factory.mktemp("signatures")
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("".join(f"{token}\n" for token in TINY_VOCABULARY))
    pair_texts = {"text_a": TEXTS_A, "text_b": TEXTS_B}
    # The model a CPU-only run trains: every speed change applied, which
    # the export leaves out.
    pair = apply_cpu_speedups(build_classifier(build_tiny_backbone(), len(LABELS)))
    score = build_classifier(build_tiny_backbone(seed=1), 1, OutputKind.SCORE)
    models = {
        "pair": export_model(pair, folder / "pair", pair_texts, LABELS),
        "score": export_model(score, folder / "score", {"text_a": TEXTS_A}, []),
    }
    for model in models.values():
        model["rows"] = token_id_rows(vocab_file, model["texts"])
    spec = folder / "models.json"
    spec.write_text(json.dumps(models))
    served = run_fresh_process(spec, folder)
    return types.SimpleNamespace(models=models, served=served, pair=pair)


def export_model(model, export_dir, texts: dict, labels) -> dict:
    """Exports `model`; returns its folder, texts and in-process outputs.

    "expected": the outputs of the graph exported (`serving_model`), and
    "running": those of `model` as the run holds it.
    """
    is_pair = "text_b" in texts
    output_kind = OutputKind.CLASSES if labels else OutputKind.SCORE
    preprocessor = ClassifierPreprocessor(
        TINY_VOCABULARY, MAX_SEQ_LENGTH, trim_to_longest=True
    )
    inputs = preprocessor(tf.nest.map_structure(tf.constant, texts))
    export_saved_model(
        model, preprocessor, str(export_dir), is_pair, labels, output_kind
    )
    return {
        "dir": str(export_dir),
        "texts": texts,
        "expected": serving_model(model)(inputs).numpy().tolist(),
        "running": model(inputs).numpy().tolist(),
    }


def token_id_rows(vocab_file, texts: dict) -> dict:
    """`python -m app.tokenize --format=json` of the texts, as columns."""
    lines = "".join("\t".join(row) + "\n" for row in zip(*texts.values()))
    stdout = io.StringIO()
    argv = ["tokenize", f"--vocab_file={vocab_file}", "--format=json"]
    argv.append(f"--max_seq_length={MAX_SEQ_LENGTH}")
    assert tokenize.main(argv, io.BytesIO(lines.encode()), stdout) == 0
    rows = [json.loads(line) for line in stdout.getvalue().splitlines()]
    return {name: [row[name] for row in rows] for name in rows[0]}


def run_fresh_process(spec, folder) -> dict:
    env = dict(os.environ, PYTHONPATH="")  # only tensorflow (and tensorflow_text)
    result = subprocess.run(
        [sys.executable, "-c", RELOAD, str(spec)],
        capture_output=True,
        text=True,
        cwd=str(folder),
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_signature_gives_the_models_probabilities(exports):
    expected = np.array(exports.models["pair"]["expected"])
    served = exports.served["pair"]
    for signature in SIGNATURES:
        probabilities = np.array(served[signature]["probabilities"])
        assert probabilities.shape == (len(TEXTS_A), len(LABELS)), signature
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)
        assert set(served[signature]) == {"probabilities", "label"}
    running = np.array(exports.models["pair"]["running"])
    np.testing.assert_allclose(expected, running, atol=1e-5)
    assert served["signatures"] == [
        "serve_examples",
        "serve_token_ids",
        "serving_default",
    ]


def test_the_label_is_the_name_of_the_most_probable_class(exports):
    expected = np.array(exports.models["pair"]["expected"])
    names = [LABELS[i] for i in expected.argmax(-1)]
    assert sorted(expected[0])[-1] - sorted(expected[0])[-2] > 1e-4  # a clear argmax
    for signature in SIGNATURES:
        assert exports.served["pair"][signature]["label"] == names, signature


def test_each_row_gets_the_name_of_its_own_class():
    # A tiny random BERT gives every text the same class: this stand-in
    # gives each row the class of its second token id instead.
    def model(inputs, training):
        return tf.one_hot(inputs["token_ids"][:, 1], len(LABELS))

    outputs = ServingOutputs(model, LABELS, OutputKind.CLASSES)
    token_ids = tf.constant([[2, 1, 3], [2, 0, 3], [2, 2, 3], [2, 1, 3]])
    served = outputs.serve_token_ids(token_ids, token_ids * 0, token_ids * 0 + 1)
    assert [label.decode() for label in served["label"].numpy()] == [
        "neutral",
        "négatif",
        "positive",
        "neutral",
    ]


def test_token_ids_serve_in_a_process_without_tensorflow_text(exports):
    assert exports.served["tensorflow_text_was_imported"] is False
    # The reason for the second SavedModel: TensorFlow refuses all of
    # EXPORT_DIR, serve_token_ids too, without the tokenizer's ops.
    for name in ("pair", "score"):
        assert "Op type not registered" in exports.served[name]["load_error"]


def test_a_pair_model_takes_text_b(exports):
    rows = exports.models["pair"]["rows"]
    # The third pair has an empty text_b: packed as one text, as the original.
    assert [max(segments) for segments in rows["segment_ids"]] == [1, 1, 0, 1]
    texts = {"text_a": tf.constant(TEXTS_A)}
    with pytest.raises(TypeError, match="text_b"):
        tf.saved_model.load(exports.models["pair"]["dir"]).signatures[
            "serving_default"
        ](**texts)


def test_a_score_model_returns_a_score_only(exports):
    expected = np.array(exports.models["score"]["expected"])
    served = exports.served["score"]
    for signature in SIGNATURES:
        assert list(served[signature]) == ["score"], signature
        score = np.array(served[signature]["score"])
        assert score.shape == (len(TEXTS_A), 1)
        np.testing.assert_allclose(score, expected, atol=1e-5)


def test_labels_must_name_every_output(tmp_path):
    model = build_classifier(build_tiny_backbone(), len(LABELS))
    preprocessor = ClassifierPreprocessor(TINY_VOCABULARY, MAX_SEQ_LENGTH)
    with pytest.raises(
        ValueError, match=r"3 outputs, but 2 labels.*labels=\['a', 'b'\]"
    ):
        export_saved_model(
            model, preprocessor, str(tmp_path), True, ["a", "b"], OutputKind.CLASSES
        )
    assert not os.listdir(tmp_path)


def test_the_assets_describe_the_export(exports):
    signatures = ["serving_default", "serve_token_ids", "serve_examples"]
    common = {
        "do_lower_case": True,
        "max_seq_length": MAX_SEQ_LENGTH,
        "long_text": "truncate",
        "vocabulary_sha256": vocabulary_sha256(TINY_VOCABULARY),
    }
    pair_dir, score_dir = (exports.models[n]["dir"] for n in ("pair", "score"))
    assert read_metadata(pair_dir) == {
        "labels": LABELS,
        "output_kind": "classes",
        "is_pair": True,
        **common,
        "signatures": signatures,
    }
    assert read_metadata(score_dir) == {
        "labels": [],
        "output_kind": "score",
        "is_pair": False,
        **common,
        "signatures": signatures,
    }
    token_ids = read_metadata(os.path.join(pair_dir, "token_ids"))
    assert token_ids == dict(
        read_metadata(pair_dir), signatures=["serving_default", "serve_token_ids"]
    )
    for folder in (pair_dir, os.path.join(pair_dir, "token_ids")):
        with open(os.path.join(folder, "assets", "labels.txt"), "rb") as file:
            assert file.read() == "négatif\nneutral\npositive\n".encode()
    assert not os.path.exists(os.path.join(score_dir, "assets", "labels.txt"))


def read_metadata(export_dir) -> dict:
    path = os.path.join(export_dir, "assets", "export_metadata.json")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def test_the_vocabulary_hash_is_that_of_a_vocab_txt(tmp_path):
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("[PAD]\nthe\n", encoding="utf-8")
    import hashlib

    expected = hashlib.sha256(vocab_file.read_bytes()).hexdigest()
    assert vocabulary_sha256(["[PAD]", "the"]) == expected


def test_tokenize_json_rows_are_padded_to_max_seq_length(tmp_path):
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("".join(f"{token}\n" for token in TINY_VOCABULARY))
    rows = token_id_rows(vocab_file, {"text_a": ["The dog"], "text_b": ["the cat"]})
    padding = [0] * (MAX_SEQ_LENGTH - 7)
    assert rows == {
        "token_ids": [[2, 5, 7, 3, 5, 8, 3, *padding]],
        "segment_ids": [[0, 0, 0, 0, 1, 1, 1, *padding]],
        "padding_mask": [[1] * 7 + padding],
    }


def test_tokenize_refuses_an_unknown_format(tmp_path, capsys):
    argv = ["tokenize", "--vocab_file=vocab.txt", "--format=csv"]
    assert tokenize.main(argv, io.BytesIO(b""), io.StringIO()) == 1
    error = capsys.readouterr().err
    assert error.startswith("ERROR: flag --format=csv:")
    assert "<ids|json>" in error


def test_the_export_is_the_plain_model(exports):
    # The fused layer norms of a CPU-only process run here, not in the export
    # (a GPU serving it would refuse BERT's epsilon).
    assert any(
        type(layer) is FusedLayerNormalization
        for layer in exports.pair._flatten_layers()
    )
    for folder in ("", "token_ids"):
        op_types = saved_op_types(os.path.join(exports.models["pair"]["dir"], folder))
        assert "FusedBatchNormV3" not in op_types
        assert "Rsqrt" in op_types  # Keras' layer norm


def saved_op_types(export_dir: str) -> set:
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as file:
        saved.ParseFromString(file.read())
    graph = saved.meta_graphs[0].graph_def
    nodes = [*graph.node]
    for function in graph.library.function:
        nodes.extend(function.node_def)
    return {node.op for node in nodes}


def test_a_runs_export_gives_its_test_results(trained_mrpc, shared_mrpc_dir):
    _, output_dir = trained_mrpc
    with open(os.path.join(shared_mrpc_dir, "test.tsv"), encoding="utf-8") as file:
        rows = [line.rstrip("\n").split("\t") for line in file][1:]
    texts = {
        "text_a": tf.constant([row[3] for row in rows]),
        "text_b": tf.constant([row[4] for row in rows]),
    }
    export_dir = os.path.join(output_dir, "export")
    served = tf.saved_model.load(export_dir).signatures["serving_default"](**texts)
    results = np.loadtxt(os.path.join(output_dir, "test_results.tsv"), ndmin=2)
    np.testing.assert_allclose(served["probabilities"].numpy(), results, atol=1e-5)
    labels = [label.decode() for label in served["label"].numpy()]
    assert labels == [["0", "1"][i] for i in results.argmax(-1)]
    metadata = read_metadata(export_dir)
    assert (metadata["labels"], metadata["is_pair"]) == (["0", "1"], True)
    assert metadata["max_seq_length"] == 32
    assert os.path.exists(os.path.join(export_dir, "token_ids", "saved_model.pb"))
