"""Training order: deterministic, resumable, and bucketed by length when asked."""

import numpy as np

from app.input_pipeline import bucketed_training_order, training_order


def test_order_is_a_permutation_per_epoch_and_reproducible():
    order = training_order(num_examples=5, batch_size=2, num_steps=5, seed=3)
    assert len(order) == 10
    assert sorted(order[:5]) == [0, 1, 2, 3, 4]  # first epoch: each example once
    np.testing.assert_array_equal(order, training_order(5, 2, 5, seed=3))
    assert not np.array_equal(order, training_order(5, 2, 5, seed=4))


def test_resuming_continues_the_same_stream():
    whole = training_order(7, 3, 6, seed=0)
    # A run resumed at step 4 reads whole[4 * 3:]: the same examples.
    np.testing.assert_array_equal(whole[12:], training_order(7, 3, 6, seed=0)[12:])


def test_bucketed_batches_hold_similar_lengths():
    rng = np.random.RandomState(0)
    lengths = rng.randint(5, 120, size=1000)
    order = bucketed_training_order(lengths, batch_size=10, num_steps=200, seed=1)
    batches = order.reshape(200, 10)
    spread = lengths[batches].max(1) - lengths[batches].min(1)
    random_spread = lengths[training_order(1000, 10, 200, 1).reshape(200, 10)]
    assert spread.mean() < 0.2 * (random_spread.max(1) - random_spread.min(1)).mean()
    # Every example of an epoch is used once; epochs differ.
    assert sorted(order[:1000]) == list(range(1000))
    assert not np.array_equal(order[:1000], order[1000:2000])
    np.testing.assert_array_equal(
        order, bucketed_training_order(lengths, 10, 200, seed=1)
    )


def test_bucketed_order_carries_short_epochs_over():
    lengths = np.arange(7)
    order = bucketed_training_order(lengths, batch_size=3, num_steps=5, seed=0)
    assert len(order) == 15
    assert len(set(order[:6])) == 6  # 7 examples give 2 whole batches an epoch


def length_model():
    """Outputs each example's packed length, to see where outputs land."""
    import keras

    inputs = {
        name: keras.Input(shape=(None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    length = keras.ops.sum(keras.ops.cast(inputs["padding_mask"], "float32"), -1)
    return keras.Model(inputs, keras.ops.expand_dims(length, -1))


def test_predictions_sorted_by_length_come_back_in_input_order():
    import tensorflow as tf

    from app.preprocessing import ClassifierPreprocessor
    from app.training import predict_outputs
    from tests.test_preprocessing import VOCABULARY

    texts = ["a b c d e f", "a", "a b c", "the dog", "a b c d", "is"]
    dataset = tf.data.Dataset.from_tensor_slices({"text_a": texts})
    preprocessor = ClassifierPreprocessor(VOCABULARY, 16, trim_to_longest=True)
    for sort in (False, True):
        outputs = predict_outputs(
            length_model(), dataset, preprocessor, 4, sort_by_length=sort
        )
        np.testing.assert_array_equal(outputs[:, 0], [8, 3, 5, 4, 6, 3])
    padded = predict_outputs(
        length_model(), dataset, preprocessor, 4, pad_to_whole_batches=True
    )
    np.testing.assert_array_equal(padded[:, 0], [8, 3, 5, 4, 6, 3])


def test_prediction_traces_once_for_batches_of_every_length():
    import tensorflow as tf

    from app.preprocessing import ClassifierPreprocessor
    from app.training import predict_outputs
    from tests.test_preprocessing import VOCABULARY

    # Batches of 2 come out 8, 16 and 24 tokens long, and a last batch of 1.
    texts = ["a", "is", "a " * 10, "the " * 9, "b " * 20, "dog " * 17, "a b"]
    dataset = tf.data.Dataset.from_tensor_slices({"text_a": texts})
    preprocessor = ClassifierPreprocessor(VOCABULARY, 32, trim_to_longest=True)
    model = length_model()
    outputs = predict_outputs(model, dataset, preprocessor, 2)
    np.testing.assert_array_equal(outputs[:, 0], [3, 3, 12, 11, 22, 19, 4])
    assert model.predict_function.experimental_get_tracing_count() == 1


def test_prediction_runs_two_batches_at_once_on_cpus_in_input_order():
    import tensorflow as tf

    from app.preprocessing import ClassifierPreprocessor
    from app.training import predict_outputs
    from tests.test_preprocessing import VOCABULARY

    # Batches of 2: five of them, each its own length, in two threads.
    lengths = (3, 1, 7, 9, 2, 12, 5, 4, 20)
    texts = ["a " * n for n in lengths]
    dataset = tf.data.Dataset.from_tensor_slices({"text_a": texts})
    preprocessor = ClassifierPreprocessor(VOCABULARY, 32, trim_to_longest=True)
    model = length_model()
    model.predict = None  # Keras' one-batch-a-call loop is not used here
    for sort in (False, True):
        outputs = predict_outputs(model, dataset, preprocessor, 2, sort_by_length=sort)
        np.testing.assert_array_equal(outputs[:, 0], [n + 2 for n in lengths])
    assert model.predict_function.experimental_get_tracing_count() == 1


def test_side_by_side_prediction_of_no_batches_is_empty():
    import tensorflow as tf

    from app.training import predict_side_by_side

    no_rows = tf.zeros((0, 3), tf.int32)
    empty = tf.data.Dataset.from_tensor_slices(
        {"token_ids": no_rows, "segment_ids": no_rows, "padding_mask": no_rows > 0}
    ).batch(2)
    assert predict_side_by_side(length_model(), empty, 2).shape == (0, 1)


def test_batches_predicted_at_once_by_where_the_model_runs(monkeypatch):
    import keras

    from app import training

    model = length_model()
    model.compile(loss="mse")
    assert training.predict_calls_at_once(model) == 2  # this CPU-only process
    monkeypatch.setattr(training, "runs_on_cpu_only", lambda: False)
    assert training.predict_calls_at_once(model) == 1  # a GPU or TPU
    monkeypatch.undo()
    model.compile(loss="mse", steps_per_execution=8)  # TPUs' iterations_per_loop
    assert training.predict_calls_at_once(model) == 1
    model.compile(loss="mse", jit_compile=True)
    assert training.predict_calls_at_once(model) == 1

    class Subclassed(keras.Model):  # outputs unknown before a call
        def call(self, inputs):
            return inputs

    assert training.predict_calls_at_once(Subclassed()) == 1


def packed_pairs():
    import tensorflow as tf

    texts_a = ["the dog", "a b c d e f", "is", "a " * 12, "dog a"]
    texts_b = ["a", "", "the dog is", "b", "a b c"]
    labels = [0, 1, 1, 0, 1]
    return tf.data.Dataset.from_tensor_slices(
        ({"text_a": texts_a, "text_b": texts_b}, labels)
    )


def test_packed_batches_equal_the_preprocessors_own_output():
    from app.input_pipeline import batch_inputs, pack_examples
    from app.preprocessing import ClassifierPreprocessor
    from tests.test_preprocessing import VOCABULARY

    dataset = packed_pairs()
    index = np.array([3, 0, 4])
    features = dataset.map(lambda x, _: x).batch(5).get_single_element()
    chosen = {name: np.asarray(values)[index] for name, values in features.items()}
    for trim, multiple in ((True, 1), (True, 8), (False, 8)):
        preprocessor = ClassifierPreprocessor(
            VOCABULARY, 12, trim_to_longest=trim, pad_to_multiple_of=multiple
        )
        packed = pack_examples(dataset, preprocessor, chunk_size=2)
        expected = preprocessor(chosen)
        got = batch_inputs(packed, preprocessor, index)
        for name in ("token_ids", "segment_ids", "padding_mask"):
            np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
        np.testing.assert_array_equal(packed.labels, [0, 1, 1, 0, 1])


def test_static_padding_gives_fixed_shapes_and_labels_follow_examples():
    from app.input_pipeline import build_train_dataset, pack_examples
    from app.preprocessing import ClassifierPreprocessor
    from tests.test_preprocessing import VOCABULARY

    preprocessor = ClassifierPreprocessor(VOCABULARY, 16)
    packed = pack_examples(packed_pairs(), preprocessor)
    dataset = build_train_dataset(packed, preprocessor, 2, num_steps=3, seed=0)
    inputs, labels = dataset.element_spec
    assert all(spec.shape == (2, 16) for spec in inputs.values())
    assert labels.shape == (2,)
    order = training_order(5, 2, 3, seed=0)
    lengths = packed.lengths
    for step, (x, y) in enumerate(dataset):
        index = order[step * 2 : step * 2 + 2]
        np.testing.assert_array_equal(y, packed.labels.numpy()[index])
        np.testing.assert_array_equal(np.sum(x["padding_mask"], 1), lengths[index])


def test_trimmed_training_batches_pad_to_their_longest():
    from app.input_pipeline import build_train_dataset, pack_examples
    from app.preprocessing import ClassifierPreprocessor
    from tests.test_preprocessing import VOCABULARY

    preprocessor = ClassifierPreprocessor(
        VOCABULARY, 16, trim_to_longest=True, pad_to_multiple_of=1
    )
    packed = pack_examples(packed_pairs(), preprocessor)
    np.testing.assert_array_equal(packed.lengths, [6, 8, 7, 16, 8])
    dataset = build_train_dataset(
        packed, preprocessor, 2, num_steps=4, seed=1, bucket_by_length=True
    )
    for x, _ in dataset:
        assert x["token_ids"].shape[1] == np.sum(x["padding_mask"], 1).max()


def test_empty_sets_pack_to_nothing():
    import tensorflow as tf

    from app.input_pipeline import build_inference_dataset, pack_examples
    from app.preprocessing import ClassifierPreprocessor
    from tests.test_preprocessing import VOCABULARY

    preprocessor = ClassifierPreprocessor(VOCABULARY, 16)
    empty = tf.data.Dataset.from_tensor_slices(({"text_a": [""]}, [0])).take(0)
    packed = pack_examples(empty, preprocessor)
    assert len(packed) == 0 and packed.labels.shape == (0,)
    assert list(build_inference_dataset(packed, preprocessor, 4, True)) == []


def test_the_preprocessor_traces_once_for_many_datasets():
    from app.input_pipeline import pack_examples
    from app.preprocessing import ClassifierPreprocessor
    from tests.test_preprocessing import VOCABULARY

    preprocessor = ClassifierPreprocessor(VOCABULARY, 16)
    for _ in range(3):
        pack_examples(packed_pairs(), preprocessor, chunk_size=2)
    traced = preprocessor._pack_in_graph["pair"].experimental_get_tracing_count()
    assert traced == 1
