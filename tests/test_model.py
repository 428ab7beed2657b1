"""The classifier computes its last encoder layer for [CLS] alone, exactly."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from app.model import FirstTokenTransformerEncoder, build_classifier

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
    np.testing.assert_allclose(copy(INPUTS), model(INPUTS), atol=1e-6)
