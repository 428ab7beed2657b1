"""Each speed change computes what the plain model does: outputs and gradients."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.src.utils.keras_utils import gelu_approximate

from app import cpu_speedups, inference
from app.cpu_speedups import (
    CHANGES,
    FirstTokenTransformerEncoder,
    FusedLayerNormalization,
    LeanDropout,
    TokenwiseDense,
    apply_cpu_speedups,
)
from app.export import serving_model
from app.model import build_classifier
from app.training import build_trainable_classifier, single_process_copy
from tasks import OutputKind
from tests.bert_weights import build_tiny_backbone

INPUTS = {
    "token_ids": np.array([[2, 7, 9, 4, 3], [2, 11, 3, 0, 0]], "int32"),
    "segment_ids": np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], "int32"),
    "padding_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32"),
}
LABELS = tf.constant([1, 2])
SPEED_CLASSES = (
    FirstTokenTransformerEncoder,
    TokenwiseDense,
    FusedLayerNormalization,
    LeanDropout,
)
# The classes each change puts in, to see that it did.
CLASSES_OF_CHANGE = {
    "first_token_last_layer": {FirstTokenTransformerEncoder},
    "tokenwise_feedforward": {TokenwiseDense},
    "fused_layer_norms": {FusedLayerNormalization},
    "lean_dropout_masks": {LeanDropout},
}


def layer_types(model) -> set:
    return {type(layer) for layer in model._flatten_layers()}


def backbone_of(model):
    return next(layer for layer in model.layers if hasattr(layer, "pooled_dense"))


def plain_and_changed(*changes, output_kind=OutputKind.CLASSES):
    """A plain classifier and one with `changes`, both with the same weights."""
    num_labels = 1 if output_kind is OutputKind.SCORE else 3
    plain = build_classifier(build_tiny_backbone(), num_labels, output_kind)
    changed = build_classifier(build_tiny_backbone(), num_labels, output_kind)
    changed.set_weights(plain.get_weights())
    for name in changes:
        CHANGES[name](changed)
    return plain, changed


def outputs_and_gradients(model, output_kind=OutputKind.CLASSES) -> list:
    with tf.GradientTape() as tape:
        outputs = model(INPUTS, training=False)
        if output_kind is OutputKind.CLASSES:
            loss = keras.losses.sparse_categorical_crossentropy(LABELS, outputs)
        elif output_kind is OutputKind.LABELS:
            loss = keras.losses.binary_crossentropy(tf.one_hot(LABELS, 3), outputs)
        else:
            loss = (outputs[:, 0] - tf.cast(LABELS, tf.float32)) ** 2
    gradients = tape.gradient(loss, model.trainable_variables)
    assert all(gradient is not None for gradient in gradients)
    return [tf.convert_to_tensor(t) for t in (outputs, *gradients)]


@pytest.mark.parametrize("output_kind", list(OutputKind))
@pytest.mark.parametrize("changes", [(name,) for name in CLASSES_OF_CHANGE] + [()])
def test_each_change_keeps_the_outputs_and_gradients_of_the_plain_model(
    changes, output_kind
):
    changes = changes or tuple(CLASSES_OF_CHANGE)  # () stands for all at once
    plain, changed = plain_and_changed(*changes, output_kind=output_kind)
    names = [v.path for v in plain.weights]
    added = set().union(*(CLASSES_OF_CHANGE[name] for name in changes))
    assert added <= layer_types(changed)
    assert not layer_types(plain) & set(SPEED_CLASSES)
    assert [v.path for v in changed.weights] == names  # checkpoints unchanged
    got = outputs_and_gradients(changed, output_kind)
    expected = outputs_and_gradients(plain, output_kind)
    assert len(got) == len(expected) > 10
    for got_tensor, expected_tensor in zip(got, expected):
        np.testing.assert_allclose(got_tensor, expected_tensor, atol=1e-5)


def test_the_last_layer_computes_the_first_token_alone():
    _, model = plain_and_changed("first_token_last_layer")
    backbone = backbone_of(model)
    assert type(backbone.transformer_layers[-1]) is FirstTokenTransformerEncoder
    assert type(backbone.transformer_layers[0]) is keras_hub.layers.TransformerEncoder
    assert backbone(INPUTS)["sequence_output"].shape == (2, 1, 8)
    # Padding never reaches [CLS]: changing padded tokens changes nothing.
    noisy = dict(INPUTS, token_ids=INPUTS["token_ids"] + [[0] * 5, [0, 0, 0, 5, 6]])
    np.testing.assert_allclose(model(noisy), model(INPUTS), atol=1e-6)
    # Attention masks or scores asked for: the full layer's path, every token.
    full = backbone.transformer_layers[-1](
        np.ones([2, 5, 8], "float32"), attention_mask=np.ones([2, 5, 5], "int32")
    )
    assert full.shape == (2, 5, 8)


def test_feedforward_multiplies_tokens_as_one_matrix_with_the_same_results():
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


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_berts_gelu_feedforward_has_the_autodiff_gradients(dtype):
    """`dense_gelu`'s closed-form gradient against autodiff of the plain layer,
    for the inputs, kernel and bias, in float32 and in bfloat16."""
    keras.utils.set_random_seed(4)
    dense = keras.layers.Dense(12, activation=gelu_approximate, dtype=dtype)
    tokens = tf.cast(tf.random.normal((3, 5, 8)) * 2.0, dtype)

    def outputs_and_gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(tokens)
            outputs = layer(tokens)
            loss = tf.reduce_sum(tf.cast(outputs, tf.float32) ** 2)
        gradients = tape.gradient(loss, [tokens, *layer.trainable_variables])
        return [tf.cast(t, tf.float32) for t in (outputs, *gradients)]

    expected = outputs_and_gradients(dense)
    dense.__class__ = TokenwiseDense
    got = outputs_and_gradients(dense)
    # bfloat16 keeps 8 bits: the two roundings of the same maths differ.
    tolerance = {"float32": 1e-5, "bfloat16": 3e-2}[dtype]
    for got_tensor, expected_tensor in zip(got, expected):
        scale = float(tf.reduce_max(tf.abs(expected_tensor)))
        np.testing.assert_allclose(got_tensor, expected_tensor, atol=tolerance * scale)


def test_gelus_derivative_stays_finite_far_out_in_float16():
    z = tf.constant([-300.0, -100.0, -3.0, 0.0, 3.0, 100.0, 300.0])
    expected = cpu_speedups.gelu_derivative(z)
    z16 = tf.cast(z, tf.float16)
    got = cpu_speedups.times_gelu_derivative(tf.ones_like(z16), z16)
    assert got.dtype == tf.float16
    np.testing.assert_allclose(tf.cast(got, tf.float32), expected, atol=2e-3)
    np.testing.assert_allclose(tf.gather(expected, [0, 1, 5, 6]), [0.0, 0.0, 1.0, 1.0])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_the_gelu_gradient_of_16_bit_floats_is_rounded_once(dtype):
    """upstream * gelu'(z) in 16 bits is the float32 product rounded once,
    finite where z^3 overflows float16."""
    z = tf.constant([-300.0, -30.0, -1.5, -0.1, 0.0, 0.7, 2.0, 40.0, 300.0])
    upstream = tf.constant([0.3, -2.0, 1.0, 0.5, 1.0, -0.25, 3.0, 1.0, -1.0])
    z16, upstream16 = tf.cast(z, dtype), tf.cast(upstream, dtype)
    got = cpu_speedups.times_gelu_derivative(upstream16, z16)
    assert got.dtype == z16.dtype
    wide = tf.cast(upstream16, tf.float32) * cpu_speedups.gelu_derivative(
        tf.cast(z16, tf.float32)
    )
    np.testing.assert_array_equal(got.numpy(), tf.cast(wide, dtype).numpy())
    assert np.isfinite(tf.cast(got, tf.float32).numpy()).all()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_lean_dropout_keeps_the_rate_and_each_elements_expectation(dtype):
    inputs = tf.ones((999, 1001), dtype)  # an odd size: half a random word unused
    seed = tf.constant([7, 11], tf.int64)
    outputs = cpu_speedups.lean_dropout(inputs, 0.1, seed)
    assert outputs.dtype == inputs.dtype and outputs.shape == inputs.shape
    values = tf.cast(outputs, tf.float32).numpy()
    kept = values != 0
    # 6554 of 65536 levels dropped; one million draws: a standard error of 3e-4.
    assert abs((1 - kept.mean()) - 6554 / 65536) < 2e-3
    scale = tf.cast(tf.constant(65536 / (65536 - 6554), dtype), tf.float32)
    np.testing.assert_array_equal(np.unique(values[kept]), [scale.numpy()])
    assert abs(values.mean() - 1.0) < 3e-3  # each element's expectation: itself
    again = cpu_speedups.lean_dropout(inputs, 0.1, seed)
    np.testing.assert_array_equal(tf.cast(again, tf.float32), values)
    other = cpu_speedups.lean_dropout(inputs, 0.1, seed + 1)
    assert (tf.cast(other, tf.float32).numpy() != values).mean() > 0.1


def test_lean_dropout_is_off_outside_training_and_its_gradient_is_its_mask():
    layer = keras.layers.Dropout(0.3, seed=3)
    layer.__class__ = LeanDropout
    inputs = tf.random.normal((64, 33))
    np.testing.assert_array_equal(layer(inputs, training=False), inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs, training=True)
    gradient = tape.gradient(outputs, inputs)
    np.testing.assert_allclose(gradient * inputs, outputs, rtol=1e-6)
    assert 0.2 < np.mean(outputs.numpy() == 0) < 0.4
    # A noise shape (one mask shared along an axis) is Keras' own path.
    shared = keras.layers.Dropout(0.5, noise_shape=(64, 1), seed=3)
    shared.__class__ = LeanDropout
    rows = shared(tf.ones((64, 33)), training=True).numpy()
    assert all(len(np.unique(row)) == 1 for row in rows)


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


def test_batches_side_by_side_predict_what_the_plain_model_predicts():
    from app.input_pipeline import pack_examples
    from app.preprocessing import ClassifierPreprocessor
    from tests.bert_weights import TINY_VOCABULARY

    plain, changed = plain_and_changed()
    apply_cpu_speedups(changed)
    assert inference.batches_at_once(changed) == 2
    assert inference.batches_at_once(plain) == 1
    texts = ["the dog", "a very good film !", "is", "the cat is happy", "no"]
    preprocessor = ClassifierPreprocessor(TINY_VOCABULARY, 16, trim_to_longest=True)
    packed = pack_examples(
        tf.data.Dataset.from_tensor_slices({"text_a": texts}), preprocessor
    )
    got = inference.predict_outputs(changed, packed, preprocessor, 2)
    expected = inference.predict_outputs(plain, packed, preprocessor, 2)
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def trainable(cpu_speedups: bool, output_kind=OutputKind.CLASSES):
    return build_trainable_classifier(
        build_tiny_backbone,
        num_labels=3,
        learning_rate=1e-3,
        num_train_steps=1,
        num_warmup_steps=0,
        output_kind=output_kind,
        cpu_speedups=cpu_speedups,
    )


def test_the_flag_off_runs_the_plain_model(caplog):
    caplog.set_level("INFO", logger="app.training")
    plain = trainable(cpu_speedups=False)
    assert not layer_types(plain) & set(SPEED_CLASSES)
    assert inference.batches_at_once(plain) == 1
    assert "Speed changes to the plain model: none (--cpu_speedups=false)" in (
        caplog.text
    )
    caplog.clear()
    sped_up = trainable(cpu_speedups=True)
    assert set(SPEED_CLASSES) <= layer_types(sped_up)
    assert inference.batches_at_once(sped_up) == 2
    assert ", ".join(CHANGES) + " (a CPU-only process" in caplog.text
    copy = single_process_copy(plain, cpu_speedups=False)
    assert not layer_types(copy) & set(SPEED_CLASSES)


def test_loss_and_metric_follow_the_output_kind():
    classes = trainable(cpu_speedups=False)
    score = trainable(cpu_speedups=False, output_kind=OutputKind.SCORE)
    assert isinstance(classes.loss, keras.losses.SparseCategoricalCrossentropy)
    assert isinstance(score.loss, keras.losses.MeanSquaredError)
    assert score.output_names == ["score"] and score.output_shape == (None, 1)
    metrics = {
        name: model.compute_metrics(INPUTS, LABELS, model(INPUTS), None)
        for name, model in (("classes", classes), ("score", score))
    }
    assert set(metrics["classes"]) >= {"accuracy"}
    assert set(metrics["score"]) >= {"rmse"}


def test_a_process_that_sees_a_gpu_runs_the_plain_model(monkeypatch):
    monkeypatch.setattr(cpu_speedups, "runs_on_cpu_only", lambda: False)
    model = apply_cpu_speedups(build_classifier(build_tiny_backbone(), 3))
    types = layer_types(model)
    assert FusedLayerNormalization not in types  # cuDNN refuses BERT's epsilon
    assert keras.layers.LayerNormalization in types
    assert not types & set(SPEED_CLASSES)
    assert inference.batches_at_once(model) == 1
    assert cpu_speedups.speedups_for_this_process() == ()


def test_the_chiefs_copy_is_built_plain_then_sped_up_again():
    model = apply_cpu_speedups(build_classifier(build_tiny_backbone(), 3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    copy = single_process_copy(model)
    backbone = backbone_of(copy)
    assert backbone is not backbone_of(model)
    assert type(backbone.transformer_layers[-1]) is FirstTokenTransformerEncoder
    assert set(SPEED_CLASSES) <= layer_types(copy)
    assert inference.batches_at_once(copy) == 2
    np.testing.assert_allclose(copy(INPUTS), model(INPUTS), atol=1e-6)


def test_the_export_serves_the_plain_model_with_the_trained_weights():
    """Plus the [CLS]-only last layer, the one change that pays on any device."""
    model = apply_cpu_speedups(build_classifier(build_tiny_backbone(), 3))
    served = serving_model(model)
    assert layer_types(served) & set(SPEED_CLASSES) == {FirstTokenTransformerEncoder}
    assert [
        type(layer)
        for layer in served._flatten_layers()
        if type(layer).__module__ == cpu_speedups.__name__
    ] == [FirstTokenTransformerEncoder]
    assert not hasattr(served, "predict_calls")
    assert set(SPEED_CLASSES) <= layer_types(model)  # nothing undone
    np.testing.assert_allclose(served(INPUTS), model(INPUTS), atol=1e-5)


def test_under_mixed_precision_the_changes_keep_the_float32_stream(dtype_policy):
    dtype_policy("mixed_bfloat16")
    model = apply_cpu_speedups(build_classifier(build_tiny_backbone(), 3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    dtype_policy("float32")
    trained_in_float32 = build_classifier(build_tiny_backbone(), 3)
    trained_in_float32.compile(optimizer="adam", loss="mse")
    # The runner's bfloat16 copy of a float32 model, for predicting.
    inference_copy = single_process_copy(trained_in_float32, "mixed_bfloat16")
    np.testing.assert_allclose(
        inference_copy(INPUTS), trained_in_float32(INPUTS), atol=2e-2
    )
    dtype_policy("mixed_bfloat16")
    for copy in (model, single_process_copy(model), inference_copy):
        backbone = backbone_of(copy)
        dtypes = {}
        for layer in backbone._flatten_layers(include_self=False, recursive=True):
            dtypes.setdefault(type(layer).__name__, set()).add(layer.compute_dtype)
        matrix_layers = ("Dense", "TokenwiseDense", "EinsumDense", "MultiHeadAttention")
        for name in (*matrix_layers, "Softmax"):
            assert dtypes[name] == {"bfloat16"}, name
        for name in ("FusedLayerNormalization", "ReversibleEmbedding", "Embedding"):
            assert dtypes[name] == {"float32"}, name
        assert dtypes["TransformerEncoder"] == {"float32"}
        assert dtypes["FirstTokenTransformerEncoder"] == {"float32"}
        assert backbone.dtype_policy.name == "mixed_bfloat16"
        assert backbone(INPUTS)["sequence_output"].dtype == tf.float32
        assert copy.get_layer("probabilities").compute_dtype == "float32"
