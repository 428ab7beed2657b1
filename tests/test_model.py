"""The plain classifier: its head per output kind, float32 around mixed matmuls."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from app.model import (
    build_classifier,
    build_plain_copy,
    keep_residual_stream_in_float32,
)
from checkpoints.loader import initializers_skipped
from tasks import OutputKind
from tests.bert_weights import build_tiny_backbone

INPUTS = {
    "token_ids": np.array([[2, 7, 9, 4, 3], [2, 11, 3, 0, 0]], "int32"),
    "segment_ids": np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], "int32"),
    "padding_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32"),
}


def backbone_of(model):
    return next(layer for layer in model.layers if hasattr(layer, "pooled_dense"))


def test_classes_give_probabilities_over_the_labels():
    model = build_classifier(build_tiny_backbone(), 3)
    assert model.output_names == ["probabilities"]
    probabilities = model(INPUTS, training=False).numpy()
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-6)
    assert (probabilities > 0).all()


def test_a_score_is_one_output_without_activation():
    model = build_classifier(build_tiny_backbone(), 1, OutputKind.SCORE)
    assert model.output_names == ["score"]
    head = model.get_layer("score")
    assert head.get_config()["activation"] == "linear"
    head.kernel.assign(head.kernel * 1000.0)  # beyond any probability
    scores = model(INPUTS, training=False).numpy()
    assert scores.shape == (2, 1)
    assert np.abs(scores).max() > 1.0


def test_classes_need_two_labels_or_more():
    with pytest.raises(ValueError, match="Received: num_labels=1"):
        build_classifier(build_tiny_backbone(), 1, OutputKind.CLASSES)


def test_the_head_is_the_originals():
    model = build_classifier(build_tiny_backbone(), 4, dropout=0.25)
    assert model.get_layer("classifier_dropout").rate == 0.25
    head = model.get_layer("probabilities")
    np.testing.assert_array_equal(head.bias.numpy(), np.zeros(4))
    # Truncated normal of stddev 0.02: nothing beyond two deviations.
    assert 0 < np.abs(head.kernel.numpy()).max() <= 0.04


def test_a_plain_copy_holds_the_same_weights_and_outputs():
    model = build_classifier(build_tiny_backbone(), 3)
    copy = build_plain_copy(model)
    assert backbone_of(copy) is not backbone_of(model)
    for got, expected in zip(copy.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(copy(INPUTS), model(INPUTS), atol=1e-6)
    assert not copy.compiled  # no optimizer, so no Adam slots: the weights alone
    assert isinstance(copy.input, dict) and copy.output.shape == model.output.shape


def test_variables_built_with_initializers_skipped_start_at_zeros():
    with initializers_skipped():
        skipped = keras.layers.Dense(3)
        skipped.build((None, 4))
    assert not np.any(skipped.kernel.numpy())
    with initializers_skipped():
        dropout = keras.layers.Dropout(0.1, seed=7)
    assert np.any(dropout.seed_generator.state.numpy())  # seeds still drawn
    # Outside the block, initializers run again, Keras' class as it was.
    assert "_initialize_with_initializer" not in vars(keras.Variable)
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    assert np.any(dense.kernel.numpy())


def compute_dtypes(backbone) -> dict:
    dtypes = {}
    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        dtypes.setdefault(type(layer).__name__, set()).add(layer.compute_dtype)
    return dtypes


def assert_only_matrix_products_in_bfloat16(model):
    backbone = backbone_of(model)
    dtypes = compute_dtypes(backbone)
    for name in ("Dense", "EinsumDense", "MultiHeadAttention", "Softmax"):
        assert dtypes[name] == {"bfloat16"}, name
    for name in ("LayerNormalization", "ReversibleEmbedding", "Embedding"):
        assert dtypes[name] == {"float32"}, name
    assert dtypes["TransformerEncoder"] == {"float32"}
    # The backbone keeps the mixed policy, so copies built from its config do.
    assert backbone.dtype_policy.name == "mixed_bfloat16"
    assert backbone(INPUTS)["sequence_output"].dtype == tf.float32
    assert model.get_layer("probabilities").compute_dtype == "float32"


def test_under_mixed_precision_only_matrix_products_run_in_bfloat16(dtype_policy):
    dtype_policy("mixed_bfloat16")
    model = build_classifier(build_tiny_backbone(), 3)
    dtype_policy("float32")
    trained_in_float32 = build_classifier(build_tiny_backbone(), 3)
    # The runner's bfloat16 copy of a float32 model, for predicting.
    inference_copy = build_plain_copy(trained_in_float32, "mixed_bfloat16")
    np.testing.assert_allclose(
        inference_copy(INPUTS), trained_in_float32(INPUTS), atol=2e-2
    )
    float32_copy = build_plain_copy(model, "float32")
    assert {
        layer.compute_dtype
        for layer in float32_copy._flatten_layers(include_self=True, recursive=True)
    } == {"float32"}
    dtype_policy("mixed_bfloat16")
    for mixed in (model, build_plain_copy(model), inference_copy):
        assert_only_matrix_products_in_bfloat16(mixed)


def test_float32_stream_is_closer_to_float32_than_keras_mixed_precision(
    dtype_policy,
):
    reference = build_tiny_backbone()
    dtype_policy("mixed_bfloat16")
    errors = {}
    for keep in (False, True):
        backbone = build_tiny_backbone()
        backbone.set_weights(reference.get_weights())
        if keep:
            keep_residual_stream_in_float32(backbone)
        got = tf.cast(backbone(INPUTS)["sequence_output"], tf.float32)
        errors[keep] = float(
            tf.reduce_max(tf.abs(got - reference(INPUTS)["sequence_output"]))
        )
    assert errors[True] < errors[False] / 2, errors


def test_a_float32_backbone_is_left_as_it_is():
    backbone = build_tiny_backbone()
    before = compute_dtypes(backbone)
    assert keep_residual_stream_in_float32(backbone) is backbone
    assert compute_dtypes(backbone) == before
    assert set().union(*before.values()) == {"float32"}
