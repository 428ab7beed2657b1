"""Prediction: outputs in input order, one traced graph, batches side by side."""

import keras
import numpy as np
import tensorflow as tf

from app import cpu_speedups, inference
from app.inference import predict_outputs
from app.input_pipeline import pack_examples
from app.preprocessing import ClassifierPreprocessor
from tests.test_preprocessing import VOCABULARY


def length_model():
    """Outputs each example's packed length, to see where outputs land."""
    inputs = {
        name: keras.Input(shape=(None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    length = keras.ops.sum(keras.ops.cast(inputs["padding_mask"], "float32"), -1)
    return keras.Model(inputs, keras.ops.expand_dims(length, -1))


def packed_texts(texts, sequence_length):
    preprocessor = ClassifierPreprocessor(
        VOCABULARY, sequence_length, trim_to_longest=True
    )
    dataset = tf.data.Dataset.from_tensor_slices({"text_a": texts})
    return pack_examples(dataset, preprocessor), preprocessor


def test_predictions_sorted_by_length_come_back_in_input_order():
    texts = ["a b c d e f", "a", "a b c", "the dog", "a b c d", "is"]
    packed, preprocessor = packed_texts(texts, 16)
    for sort in (False, True):
        outputs = predict_outputs(
            length_model(), packed, preprocessor, 4, sort_by_length=sort
        )
        np.testing.assert_array_equal(outputs[:, 0], [8, 3, 5, 4, 6, 3])
    padded = predict_outputs(
        length_model(), packed, preprocessor, 4, pad_to_whole_batches=True
    )
    np.testing.assert_array_equal(padded[:, 0], [8, 3, 5, 4, 6, 3])


def test_prediction_traces_once_for_batches_of_every_length():
    # Batches of 2 come out 8, 16 and 24 tokens long, and a last batch of 1.
    texts = ["a", "is", "a " * 10, "the " * 9, "b " * 20, "dog " * 17, "a b"]
    packed, preprocessor = packed_texts(texts, 32)
    model = length_model()
    outputs = predict_outputs(model, packed, preprocessor, 2)
    np.testing.assert_array_equal(outputs[:, 0], [3, 3, 12, 11, 22, 19, 4])
    assert model.predict_function.experimental_get_tracing_count() == 1


def test_prediction_runs_two_batches_at_once_on_cpus_in_input_order():
    # Batches of 2: five of them, each its own length, in two threads.
    lengths = (3, 1, 7, 9, 2, 12, 5, 4, 20)
    packed, preprocessor = packed_texts(["a " * n for n in lengths], 32)
    model = cpu_speedups.apply_cpu_speedups(length_model())
    assert inference.batches_at_once(model) == 2
    model.predict = None  # Keras' one-batch-a-call loop is not used here
    for sort in (False, True):
        outputs = predict_outputs(model, packed, preprocessor, 2, sort_by_length=sort)
        np.testing.assert_array_equal(outputs[:, 0], [n + 2 for n in lengths])
    assert model.predict_function.experimental_get_tracing_count() == 1


def test_side_by_side_prediction_of_no_batches_is_empty():
    no_rows = tf.zeros((0, 3), tf.int32)
    empty = tf.data.Dataset.from_tensor_slices(
        {"token_ids": no_rows, "segment_ids": no_rows, "padding_mask": no_rows > 0}
    ).batch(2)
    assert cpu_speedups.predict_side_by_side(length_model(), empty, 2).shape == (0, 1)


def test_batches_predicted_at_once_by_where_the_model_runs(monkeypatch):
    assert inference.batches_at_once(length_model()) == 1  # --cpu_speedups=false
    model = cpu_speedups.apply_cpu_speedups(length_model())
    model.compile(loss="mse")
    assert inference.batches_at_once(model) == 2  # this CPU-only process
    monkeypatch.setattr(cpu_speedups, "runs_on_cpu_only", lambda: False)
    on_a_gpu = cpu_speedups.apply_cpu_speedups(length_model())
    assert inference.batches_at_once(on_a_gpu) == 1  # a GPU or TPU
    monkeypatch.undo()
    model.compile(loss="mse", steps_per_execution=8)  # TPUs' iterations_per_loop
    assert inference.batches_at_once(model) == 1
    model.compile(loss="mse", jit_compile=True)
    assert inference.batches_at_once(model) == 1

    class Subclassed(keras.Model):  # outputs unknown before a call
        def call(self, inputs):
            return inputs

    subclassed = cpu_speedups.apply_cpu_speedups(Subclassed())
    assert inference.batches_at_once(subclassed) == 1
