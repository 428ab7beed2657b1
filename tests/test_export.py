"""The SavedModel takes raw strings and serves in a process without the project."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from app.cpu_speedups import FusedLayerNormalization, apply_cpu_speedups
from app.export import export_saved_model
from app.model import build_classifier
from app.preprocessing import ClassifierPreprocessor
from tasks import OutputKind
from tests.bert_weights import TINY_VOCABULARY, build_tiny_backbone

TEXTS_A = ["the dog is hairy .", 'He said "no', "a very good film !"]
TEXTS_B = ["the cat", "it was not", "a bad movie"]

RELOAD = """
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = serve(text_a=tf.constant(json.loads(sys.argv[2])),
            text_b=tf.constant(json.loads(sys.argv[3])))
print(json.dumps(out["probabilities"].numpy().tolist()))
"""


def test_reloaded_in_a_fresh_process_gives_the_same_probabilities(tmp_path):
    # The model a CPU-only run trains: every speed change applied.
    model = apply_cpu_speedups(build_classifier(build_tiny_backbone(), num_labels=3))
    preprocessor = ClassifierPreprocessor(TINY_VOCABULARY, 32, trim_to_longest=True)
    inputs = preprocessor(
        {"text_a": tf.constant(TEXTS_A), "text_b": tf.constant(TEXTS_B)}
    )
    expected = model(inputs, training=False).numpy()
    export_dir = export_saved_model(model, preprocessor, str(tmp_path / "export"), True)

    env = dict(os.environ, PYTHONPATH="")  # only tensorflow and tensorflow_text
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RELOAD,
            export_dir,
            json.dumps(TEXTS_A),
            json.dumps(TEXTS_B),
        ],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=env,
        check=True,
    )
    served = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    assert served.shape == (3, 3)
    np.testing.assert_allclose(served.sum(-1), 1.0, atol=1e-6)
    assert np.max(np.abs(served - expected)) < 1e-5
    # The fused layer norms of a CPU-only process run here, not in the export
    # (a GPU serving it would refuse BERT's epsilon).
    assert any(
        type(layer) is FusedLayerNormalization for layer in model._flatten_layers()
    )
    assert "FusedBatchNormV3" not in saved_op_types(export_dir)
    assert "Rsqrt" in saved_op_types(export_dir)  # Keras' layer norm


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


def test_a_model_trained_in_mixed_precision_is_served_in_float32(
    tmp_path, dtype_policy
):
    dtype_policy("mixed_bfloat16")
    mixed = build_classifier(build_tiny_backbone(), num_labels=3)
    dtype_policy("float32")
    output_layer = mixed.get_layer("probabilities")
    output_layer.kernel.assign(output_layer.kernel * 100.0)  # confident outputs
    reference = build_classifier(build_tiny_backbone(), num_labels=3)
    reference.set_weights(mixed.get_weights())
    preprocessor = ClassifierPreprocessor(TINY_VOCABULARY, 32, trim_to_longest=True)
    texts = {"text_a": tf.constant(TEXTS_A), "text_b": tf.constant(TEXTS_B)}
    inputs = preprocessor(texts)
    expected = reference(inputs, training=False).numpy()
    # In bfloat16 the same weights give visibly different probabilities.
    assert np.max(np.abs(mixed(inputs, training=False).numpy() - expected)) > 1e-4

    export_dir = export_saved_model(mixed, preprocessor, str(tmp_path / "export"), True)
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    served = serve(**texts)["probabilities"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-6)


def test_a_score_model_serves_a_score(tmp_path):
    model = build_classifier(build_tiny_backbone(), 1, OutputKind.SCORE)
    model.get_layer("score").bias.assign([7.0])
    preprocessor = ClassifierPreprocessor(TINY_VOCABULARY, 32, trim_to_longest=True)
    texts = {"text_a": tf.constant(TEXTS_A), "text_b": tf.constant(TEXTS_B)}
    expected = model(preprocessor(texts), training=False).numpy()
    export_dir = export_saved_model(model, preprocessor, str(tmp_path / "export"), True)
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    served = serve(**texts)
    assert list(served) == ["score"]
    assert served["score"].shape == (3, 1)
    np.testing.assert_allclose(served["score"].numpy(), expected, atol=1e-6)
