"""The SavedModel serves in float32 whatever precision trained the model.

tests/test_signatures.py checks every signature in a fresh process.
"""

import functools

import numpy as np
import tensorflow as tf

from app.export import ServingOutputs, export_saved_model
from app.model import build_classifier
from app.preprocessing import ClassifierPreprocessor
from tasks import OutputKind
from tests.bert_weights import TINY_VOCABULARY, build_tiny_backbone

TEXTS_A = ["the dog is hairy .", 'He said "no', "a very good film !"]
TEXTS_B = ["the cat", "it was not", "a bad movie"]
LABELS = ["contradiction", "entailment", "neutral"]


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

    export_dir = export_saved_model(
        mixed, preprocessor, str(tmp_path / "export"), True, LABELS, OutputKind.CLASSES
    )
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    served = serve(**texts)["probabilities"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-6)


def test_each_graph_is_traced_once_per_saved_model(tmp_path, monkeypatch):
    """The tokenizer once, for the run's data and the export's text signatures
    and count_tokens; the model once for both SavedModels (EXPORT_DIR and
    EXPORT_DIR/token_ids): no trace is repeated."""
    traces = {"tokenizer": 0, "model": 0}

    def counting(name, method):
        @functools.wraps(method)  # tf.function binds inputs by its signature
        def call(*args, **kwargs):
            if not tf.executing_eagerly():
                traces[name] += 1
            return method(*args, **kwargs)

        return call

    monkeypatch.setattr(
        ClassifierPreprocessor,
        "_pack",
        counting("tokenizer", ClassifierPreprocessor._pack),
    )
    monkeypatch.setattr(
        ServingOutputs, "_outputs", counting("model", ServingOutputs._outputs)
    )
    model = build_classifier(build_tiny_backbone(), num_labels=3)
    preprocessor = ClassifierPreprocessor(TINY_VOCABULARY, 32, trim_to_longest=True)
    preprocessor({"text_a": tf.constant(["a b"]), "text_b": tf.constant(["c"])})
    export_saved_model(
        model, preprocessor, str(tmp_path / "export"), True, LABELS, OutputKind.CLASSES
    )
    assert traces == {"tokenizer": 1, "model": 1}
