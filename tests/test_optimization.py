"""The optimizer and schedule against the original BERT maths, step by step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from app.model import build_classifier
from app.optimization import (
    AdamWeightDecay,
    WarmupLinearDecay,
    build_optimizer,
    count_train_steps,
    excluded_from_weight_decay,
)
from tests.bert_weights import build_tiny_backbone


def test_step_count_is_the_original_formula():
    assert count_train_steps(3668, 32, 3.0) == 343  # MRPC: int(3668 / 32 * 3)
    assert count_train_steps(10, 4, 1.0) == 2


def test_schedule_warms_up_then_decays_linearly_to_zero():
    schedule = WarmupLinearDecay(peak=1.0, warmup_steps=10, total_steps=100)
    values = [float(schedule(step)) for step in (0, 5, 10, 50, 100, 120)]
    np.testing.assert_allclose(values, [0.0, 0.5, 0.9, 0.5, 0.0, 0.0], atol=1e-7)


def original_adamw_steps(
    weights, gradients, learning_rates, decay, one_minus_beta_2=0.001
):
    """The original AdamWeightDecayOptimizer, in numpy, with global clip 1.0."""
    m = np.zeros_like(weights)
    v = np.zeros_like(weights)
    for gradient, learning_rate in zip(gradients, learning_rates):
        norm = np.sqrt(np.sum(gradient**2))
        gradient = gradient * 1.0 / max(norm, 1.0)
        m = 0.9 * m + 0.1 * gradient
        v = 0.999 * v + one_minus_beta_2 * gradient**2
        update = m / (np.sqrt(v) + 1e-6) + (0.01 * weights if decay else 0.0)
        weights = weights - learning_rate * update
    return weights


@pytest.mark.parametrize("decay", [True, False])
def test_updates_match_the_original_optimizer(decay):
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 2)).astype("float32")
    gradients = [rng.normal(size=(3, 2)).astype("float32") * 2 for _ in range(4)]
    schedule = WarmupLinearDecay(peak=0.1, warmup_steps=2, total_steps=4)
    variable = keras.Variable(start, name="kernel" if decay else "bias")
    optimizer = AdamWeightDecay(learning_rate=schedule)
    if not decay:
        optimizer.exclude_from_weight_decay(var_list=[variable])
    for gradient in gradients:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
    learning_rates = [float(schedule(step)) for step in range(4)]
    # TensorFlow's fused Adam kernel takes 1 - beta_2 in float32: with that
    # one coefficient the maths is the original's to float32 rounding.
    in_float32 = float(np.float32(1.0) - np.float32(0.999))
    expected = original_adamw_steps(
        start, gradients, learning_rates, decay, one_minus_beta_2=in_float32
    )
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
    # And with the original's 0.001, the difference stays below 1e-4 relative.
    original = original_adamw_steps(start, gradients, learning_rates, decay)
    np.testing.assert_allclose(variable.numpy(), original, rtol=1e-4)


def test_layer_norm_and_biases_are_not_decayed():
    model = build_classifier(build_tiny_backbone(), num_labels=2)
    optimizer = build_optimizer(model, 1e-3, num_train_steps=10, num_warmup_steps=1)
    excluded = {
        v.path for v in model.trainable_variables if excluded_from_weight_decay(v)
    }
    decayed = {
        v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)
    }
    assert excluded and decayed and not excluded & decayed
    assert all("layer_norm" in p or p.endswith("/bias") for p in excluded)
    assert any(p.endswith("embeddings_layer_norm/gamma") for p in excluded)
    assert any(p.endswith("probabilities/kernel") for p in decayed)
    assert len(excluded) + len(decayed) == len(model.trainable_variables)


def test_sparse_rows_clip_as_tensorflows_global_norm_and_update_as_dense():
    """Embedding rows repeated in a batch, beside a dense gradient: the norm
    counts each occurrence, as `tf.clip_by_global_norm` (the original's) and
    Keras do; the update is the Adam step of the clipped rows, made dense."""
    rng = np.random.default_rng(1)
    table_start = rng.normal(size=(5, 3)).astype("float32")
    kernel_start = rng.normal(size=(3, 2)).astype("float32")
    rows = np.array([3, 0, 3, 3], "int32")  # row 3 three times, rows 1, 2, 4 never
    values = rng.normal(size=(4, 3)).astype("float32") * 2
    kernel_gradient = rng.normal(size=(3, 2)).astype("float32") * 2
    sparse = tf.IndexedSlices(tf.constant(values), tf.constant(rows), [5, 3])
    grads = [sparse, tf.constant(kernel_gradient)]

    optimizer = AdamWeightDecay(learning_rate=0.1)
    clipped = optimizer._clip_gradients(grads)
    expected, norm = tf.clip_by_global_norm(grads, 1.0)
    assert float(norm) > 1  # so both are scaled down
    assert isinstance(clipped[0], tf.IndexedSlices)  # made dense by Adam alone
    for got, want in zip(clipped, expected):
        np.testing.assert_allclose(
            tf.convert_to_tensor(got), tf.convert_to_tensor(want), rtol=1e-6
        )

    table = keras.Variable(table_start, name="embeddings")
    kernel = keras.Variable(kernel_start, name="kernel")
    optimizer.apply_gradients([(sparse, table), (grads[1], kernel)])
    in_float32 = float(np.float32(1.0) - np.float32(0.999))
    for variable, start, gradient in (
        (table, table_start, tf.convert_to_tensor(expected[0]).numpy()),
        (kernel, kernel_start, expected[1].numpy()),
    ):
        m, v = 0.1 * gradient, in_float32 * gradient**2
        want = start - 0.1 * (m / (np.sqrt(v) + 1e-6) + 0.01 * start)
        np.testing.assert_allclose(variable.numpy(), want, rtol=1e-5, atol=1e-6)
