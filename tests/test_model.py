"""The classifier: [CLS] alone in the last layer; float32 around mixed matmuls."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from app import model as model_module
from app.model import (
    FirstTokenTransformerEncoder,
    FusedLayerNormalization,
    TokenwiseDense,
    build_classifier,
)

INPUTS = {
    "token_ids": np.array([[2, 7, 9, 4, 3], [2, 11, 3, 0, 0]], "int32"),
    "segment_ids": np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], "int32"),
    "padding_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32"),
}


def tiny_backbone() -> keras_hub.models.BertBackbone:
    keras.utils.set_random_seed(7)
    return keras_hub.models.BertBackbone(
        vocabulary_size=20,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    )


def test_last_layer_runs_for_the_first_token_with_the_same_outputs():
    backbone = tiny_backbone()
    names = [v.path for v in backbone.weights]
    model = build_classifier(backbone, 3)
    assert type(backbone.transformer_layers[-1]) is FirstTokenTransformerEncoder
    assert type(backbone.transformer_layers[0]) is keras_hub.layers.TransformerEncoder
    assert [v.path for v in backbone.weights] == names  # checkpoints unchanged
    assert backbone(INPUTS)["sequence_output"].shape == (2, 1, 8)

    reference = tiny_backbone()
    np.testing.assert_allclose(
        backbone(INPUTS)["pooled_output"],
        reference(INPUTS)["pooled_output"],
        atol=1e-6,
    )
    # Padding never reaches [CLS]: changing padded tokens changes nothing.
    noisy = dict(INPUTS, token_ids=INPUTS["token_ids"] + [[0] * 5, [0, 0, 0, 5, 6]])
    np.testing.assert_allclose(model(noisy), model(INPUTS), atol=1e-6)


def test_gradients_equal_the_full_layers():
    model = build_classifier(tiny_backbone(), 3, dropout=0.0)
    backbone = tiny_backbone()
    reference = build_classifier(backbone, 3, dropout=0.0)
    reference.set_weights(model.get_weights())
    full = backbone.transformer_layers[-1]
    full.__class__ = keras_hub.layers.TransformerEncoder  # every token again
    labels = tf.constant([1, 2])

    def gradients(classifier):
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(
                labels, classifier(INPUTS, training=False)
            )
        return tape.gradient(loss, classifier.trainable_variables)

    assert full(np.ones([2, 5, 8], "float32")).shape == (2, 5, 8)
    for got, expected in zip(gradients(model), gradients(reference)):
        np.testing.assert_allclose(
            tf.convert_to_tensor(got), tf.convert_to_tensor(expected), atol=1e-6
        )


def test_the_chiefs_copy_keeps_the_first_token_layer():
    from app.training import single_process_copy

    model = build_classifier(tiny_backbone(), 3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    copy = single_process_copy(model)
    backbone = next(layer for layer in copy.layers if hasattr(layer, "pooled_dense"))
    assert type(backbone.transformer_layers[-1]) is FirstTokenTransformerEncoder
    assert feedforward_types(backbone) == {TokenwiseDense}
    np.testing.assert_allclose(copy(INPUTS), model(INPUTS), atol=1e-6)


def feedforward_types(backbone) -> set:
    return {
        type(getattr(layer, name))
        for layer in backbone.transformer_layers
        for name in ("_feedforward_intermediate_dense", "_feedforward_output_dense")
    }


def test_feedforward_multiplies_tokens_as_one_matrix_with_the_same_results():
    backbone = tiny_backbone()
    assert feedforward_types(backbone) == {keras.layers.Dense}
    build_classifier(backbone, 3)
    assert feedforward_types(backbone) == {TokenwiseDense}

    keras.utils.set_random_seed(3)
    dense = keras.layers.Dense(6, activation="gelu")
    tokens = tf.random.normal((3, 5, 4))
    expected = dense(tokens)
    weights = dense.trainable_variables

    def gradients(layer, inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(inputs) ** 2)
        return tape.gradient(loss, weights)

    expected_gradients = gradients(dense, tokens)
    dense.__class__ = TokenwiseDense
    np.testing.assert_allclose(dense(tokens), expected, atol=1e-6)
    for got, want in zip(gradients(dense, tokens), expected_gradients):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # Lengths unknown until run time, as in the runner's traced functions.
    traced = tf.function(
        dense, input_signature=[tf.TensorSpec((None, None, 4), tf.float32)]
    )
    np.testing.assert_allclose(traced(tokens), expected, atol=1e-6)
    assert dense(tokens[0]).shape == (5, 6)  # 2-D inputs as they are


def compute_dtypes(backbone) -> dict:
    dtypes = {}
    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        dtypes.setdefault(type(layer).__name__, set()).add(layer.compute_dtype)
    return dtypes


def test_under_mixed_precision_only_matrix_products_run_in_bfloat16(dtype_policy):
    from app.training import single_process_copy

    dtype_policy("mixed_bfloat16")
    model = build_classifier(tiny_backbone(), 3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    dtype_policy("float32")
    trained_in_float32 = build_classifier(tiny_backbone(), 3)
    trained_in_float32.compile(optimizer="adam", loss="mse")
    # The runner's bfloat16 copy of a float32 model, for predicting.
    inference_copy = single_process_copy(trained_in_float32, "mixed_bfloat16")
    np.testing.assert_allclose(
        inference_copy(INPUTS), trained_in_float32(INPUTS), atol=2e-2
    )
    dtype_policy("mixed_bfloat16")
    for copy in (model, single_process_copy(model), inference_copy):
        backbone = next(
            layer for layer in copy.layers if hasattr(layer, "pooled_dense")
        )
        dtypes = compute_dtypes(backbone)
        matrix_layers = ("Dense", "TokenwiseDense", "EinsumDense", "MultiHeadAttention")
        for name in (*matrix_layers, "Softmax"):
            assert dtypes[name] == {"bfloat16"}, name
        for name in ("FusedLayerNormalization", "ReversibleEmbedding", "Embedding"):
            assert dtypes[name] == {"float32"}, name
        assert dtypes["TransformerEncoder"] == {"float32"}
        assert dtypes["FirstTokenTransformerEncoder"] == {"float32"}
        # The backbone keeps the mixed policy, so copies built from its config do.
        assert backbone.dtype_policy.name == "mixed_bfloat16"
        sequence = backbone(INPUTS)["sequence_output"]
        assert sequence.dtype == tf.float32
        assert copy.get_layer("probabilities").compute_dtype == "float32"


def test_float32_stream_is_closer_to_float32_than_keras_mixed_precision(
    dtype_policy,
):
    reference = tiny_backbone()
    dtype_policy("mixed_bfloat16")
    errors = {}
    for keep in (False, True):
        backbone = tiny_backbone()
        backbone.set_weights(reference.get_weights())
        if keep:
            model_module.keep_residual_stream_in_float32(backbone)
        got = tf.cast(backbone(INPUTS)["sequence_output"], tf.float32)
        errors[keep] = float(
            tf.reduce_max(tf.abs(got - reference(INPUTS)["sequence_output"]))
        )
    assert errors[True] < errors[False] / 2, errors


def layer_norm_types(model) -> set:
    return {
        type(layer)
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.LayerNormalization)
    }


def test_layer_norms_run_fused_on_cpus_with_the_same_results_and_gradients():
    model = build_classifier(tiny_backbone(), 3, dropout=0.0)
    assert layer_norm_types(model) == {FusedLayerNormalization}  # 2 layers + embeddings
    reference = build_classifier(tiny_backbone(), 3, dropout=0.0)
    reference.set_weights(model.get_weights())
    for layer in reference._flatten_layers():
        if type(layer) is FusedLayerNormalization:
            layer.__class__ = keras.layers.LayerNormalization
    labels = tf.constant([1, 2])

    def outputs_and_gradients(classifier):
        with tf.GradientTape() as tape:
            outputs = classifier(INPUTS, training=True)
            loss = keras.losses.sparse_categorical_crossentropy(labels, outputs)
        return [outputs, *tape.gradient(loss, classifier.trainable_variables)]

    for got, expected in zip(
        outputs_and_gradients(model), outputs_and_gradients(reference)
    ):
        np.testing.assert_allclose(
            tf.convert_to_tensor(got), tf.convert_to_tensor(expected), atol=1e-5
        )


def test_a_fused_layer_norm_keeps_berts_epsilon_and_falls_back_where_it_cannot():
    keras.utils.set_random_seed(5)
    tokens = tf.random.normal((3, 7, 16)) * 4.0 + 2.0
    plain = keras.layers.LayerNormalization(epsilon=1e-12)
    expected = plain(tokens)
    plain.__class__ = FusedLayerNormalization
    # Lengths unknown until run time, as in the runner's traced functions.
    traced = tf.function(
        plain, input_signature=[tf.TensorSpec((None, None, 16), tf.float32)]
    )
    np.testing.assert_allclose(traced(tokens), expected, atol=1e-5)
    batch_norms = [
        op
        for op in traced.get_concrete_function().graph.get_operations()
        if op.type == "FusedBatchNormV3"
    ]
    assert len(batch_norms) == 1
    assert batch_norms[0].get_attr("epsilon") == np.float32(1e-12)
    # Over another axis than the last, Keras' own path: same result.
    across = keras.layers.LayerNormalization(axis=1, epsilon=1e-12)
    expected = across(tokens)
    across.__class__ = FusedLayerNormalization
    np.testing.assert_allclose(across(tokens), expected, atol=1e-6)


def test_layer_norms_stay_keras_own_where_a_gpu_or_tpu_runs_them(monkeypatch):
    monkeypatch.setattr(model_module, "runs_on_cpu_only", lambda: False)
    model = build_classifier(tiny_backbone(), 3)
    assert layer_norm_types(model) == {keras.layers.LayerNormalization}
