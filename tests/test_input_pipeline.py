"""Packing once, training order (deterministic, resumable, bucketed by length)."""

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


def test_packed_sets_count_tokens_and_unknowns_before_truncation():
    import tensorflow as tf

    from app.input_pipeline import pack_examples
    from app.preprocessing import ClassifierPreprocessor
    from tests.test_preprocessing import VOCABULARY

    # WordPieces (both texts): the [UNK] + a; a..f [UNK] [UNK] (cut at 6);
    # nothing + [UNK]; is + nothing (a blank text_b still gets its [SEP]).
    texts_a = ["the cat", "a b c d e f x y", "", "is"]
    texts_b = ["a", "", "zebra", " "]
    dataset = tf.data.Dataset.from_tensor_slices({"text_a": texts_a, "text_b": texts_b})
    for sequence_length in (6, 64):
        preprocessor = ClassifierPreprocessor(VOCABULARY, sequence_length)
        packed = pack_examples(dataset, preprocessor, chunk_size=3)
        np.testing.assert_array_equal(packed.token_counts, [3, 8, 1, 1])
        np.testing.assert_array_equal(packed.unknown_counts, [1, 2, 1, 0])
    np.testing.assert_array_equal(packed.lengths, [6, 10, 4, 4])
