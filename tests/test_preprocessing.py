"""Exact token ids from the preprocessing layer on a hand-made vocabulary."""

import keras_hub
import numpy as np
import tensorflow as tf

from app.input_pipeline import build_inference_dataset, pack_examples
from app.preprocessing import ClassifierPreprocessor, normalize_text, split_words

VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",  # 0-4
    "is", "this", "jack", "##son", "##ville", "?",  # 5-10
    "no", "it", "not", ".", "the", "dog", "hairy",  # 11-17
    "a", "b", "c", "d", "e", "f", "naive", "cafe",  # 18-25
]  # fmt: skip


def pack(texts_a, texts_b=None, sequence_length=16, **kwargs):
    preprocessor = ClassifierPreprocessor(VOCABULARY, sequence_length, **kwargs)
    features = {"text_a": tf.constant(texts_a)}
    if texts_b is not None:
        features["text_b"] = tf.constant(texts_b)
    return {name: value.numpy() for name, value in preprocessor(features).items()}


def test_pair_matches_the_original_layout():
    # [CLS] is this jack ##son ##ville ? [SEP] no it is not . [SEP]
    out = pack(["Is this Jacksonville?"], ["No it is not."])
    np.testing.assert_array_equal(
        out["token_ids"][0],
        [2, 5, 6, 7, 8, 9, 10, 3, 11, 12, 5, 13, 14, 3, 0, 0],
    )
    np.testing.assert_array_equal(
        out["segment_ids"][0], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
    )
    np.testing.assert_array_equal(out["padding_mask"][0], [1] * 14 + [0, 0])


def test_layout_is_keras_hubs_multi_segment_packer_s():
    rng = np.random.default_rng(0)
    lengths = [0, 1, 3, 5, 7, 12, 20]
    rows = [[list(rng.integers(5, 26, n)) for n in lengths] for _ in range(2)]
    a = tf.ragged.constant([rows[0][i] for i in range(7) for _ in range(7)], tf.int32)
    b = tf.ragged.constant([rows[1][j] for _ in range(7) for j in range(7)], tf.int32)
    preprocessor = ClassifierPreprocessor(VOCABULARY, 16)
    packer = keras_hub.layers.MultiSegmentPacker(
        16, start_value=2, end_value=3, pad_value=0, truncate="round_robin"
    )
    packed_in_graph = tf.function(lambda *segments: packer(segments))
    non_empty = tf.constant(["b"] * len(lengths) ** 2)  # every row a real pair
    for segments, text_b in (((a,), None), ((a, b), non_empty)):
        got = preprocessor._pack_segments(segments, text_b)
        expected = packed_in_graph(*segments)
        for got_ids, expected_ids in zip(got, expected):
            np.testing.assert_array_equal(got_ids, expected_ids)


def test_single_sentence():
    out = pack(["The dog is hairy."], sequence_length=8)
    np.testing.assert_array_equal(out["token_ids"][0], [2, 15, 16, 5, 17, 14, 3, 0])
    np.testing.assert_array_equal(out["segment_ids"][0], [0] * 8)


def test_pair_truncation_is_the_original_truncate_seq_pair():
    # 6 + 4 tokens into 8 (5 after [CLS] [SEP] [SEP]): the original keeps 3 + 2.
    out = pack(["a b c d e f"], ["a b c d"], sequence_length=8)
    np.testing.assert_array_equal(out["token_ids"][0], [2, 18, 19, 20, 3, 18, 19, 3])
    np.testing.assert_array_equal(out["segment_ids"][0], [0, 0, 0, 0, 0, 1, 1, 1])


def test_short_segment_is_kept_whole_when_truncating():
    # 6 + 1 into 6 (3 tokens): the longer one is cut first, as the original.
    out = pack(["a b c d e f"], ["a"], sequence_length=6)
    np.testing.assert_array_equal(out["token_ids"][0], [2, 18, 19, 3, 18, 3])


def test_single_sentence_truncation_keeps_the_head():
    out = pack(["a b c d e f"], sequence_length=5)
    np.testing.assert_array_equal(out["token_ids"][0], [2, 18, 19, 20, 3])


def test_lowercase_strips_accents_and_unknown_words():
    out = pack(["Naïve CAFÉ zebra"], sequence_length=6)
    np.testing.assert_array_equal(out["token_ids"][0], [2, 24, 25, 1, 3, 0])


def test_cased_keeps_case():
    out = pack(["Naïve the"], sequence_length=5, do_lower_case=False)
    np.testing.assert_array_equal(out["token_ids"][0], [2, 1, 15, 3, 0])


def words(text, do_lower_case=True):
    normalized = normalize_text(tf.constant([text]), do_lower_case)
    return [word.decode() for word in split_words(normalized).to_list()[0]]


def test_control_characters_are_dropped_and_whitespace_splits():
    assert words("a\u200bb\x00c\tthe\u00a0dog\ufffd\u2028x") == [
        "abc",
        "the",
        "dog",
        "x",
    ]


def test_private_use_characters_stay_as_the_original_keeps_them():
    assert words("a\ue000b") == ["a\ue000b"]


def test_lowercase_is_not_nfkc_case_folding():
    # NFKC would turn these into "abc", "!", "..." and "1⁄2".
    assert words("ＡＢＣ！… ½") == ["ａｂｃ", "！", "…", "½"]
    assert words("ΟΔΟΣ İ") == ["οδος", "i"]


def test_punctuation_and_cjk_split_as_the_original():
    assert words("don't $5 中文。ok", do_lower_case=False) == [
        "don", "'", "t", "$", "5", "中", "文", "。", "ok",
    ]  # fmt: skip


def test_words_of_200_characters_go_through_wordpiece():
    preprocessor = ClassifierPreprocessor(VOCABULARY + ["##é"], 8, False)
    ids = preprocessor.tokenize(tf.constant(["a" + "é" * 199, "a" + "é" * 200]))
    # 200 characters are 399 bytes, past keras-hub's limit of 100 bytes.
    assert ids.to_list() == [[18] + [26] * 199, [1]]


def test_empty_text_b_packs_as_a_single_sentence():
    # The original tests `if example.text_b:`; a blank one is still a pair.
    out = pack(["a b c d e f", "a b", "a"], ["", "", " "], sequence_length=6)
    np.testing.assert_array_equal(
        out["token_ids"],
        [[2, 18, 19, 20, 21, 3], [2, 18, 19, 3, 0, 0], [2, 18, 3, 3, 0, 0]],
    )
    np.testing.assert_array_equal(out["segment_ids"][2], [0, 0, 0, 1, 0, 0])


def test_trim_to_longest_rounds_up_to_a_multiple():
    out = pack(["the dog", "a"], sequence_length=32, trim_to_longest=True)
    assert out["token_ids"].shape == (2, 8)
    np.testing.assert_array_equal(out["token_ids"][1], [2, 18, 3, 0, 0, 0, 0, 0])


def test_unlabeled_pairs_in_tf_data_keep_text_b():
    # A tuple (a, b) mapped through a preprocessor would read b as a label;
    # features are dicts, so both segments are packed.
    dataset = tf.data.Dataset.from_tensor_slices(
        {"text_a": ["is this"], "text_b": ["no it"]}
    )
    preprocessor = ClassifierPreprocessor(VOCABULARY, 8)
    batch = next(
        iter(
            build_inference_dataset(
                pack_examples(dataset, preprocessor), preprocessor, 4
            )
        )
    )
    np.testing.assert_array_equal(batch["segment_ids"][0], [0, 0, 0, 0, 1, 1, 1, 0])


def test_padding_to_whole_batches_adds_empty_examples():
    dataset = tf.data.Dataset.from_tensor_slices(
        ({"text_a": ["a", "b", "c"]}, [0, 1, 0])
    )
    preprocessor = ClassifierPreprocessor(VOCABULARY, 4)
    batches = list(
        build_inference_dataset(
            pack_examples(dataset, preprocessor),
            preprocessor,
            2,
            pad_to_whole_batches=True,
        )
    )
    assert [b["token_ids"].shape[0] for b in batches] == [2, 2]
    np.testing.assert_array_equal(batches[1]["token_ids"][1], [2, 3, 0, 0])


def test_packed_examples_count_specials_and_cap_at_the_sequence_length():
    dataset = tf.data.Dataset.from_tensor_slices(
        ({"text_a": ["the dog", "a b c d e f"], "text_b": ["a", "a b"]}, [0, 1])
    )
    preprocessor = ClassifierPreprocessor(VOCABULARY, 8)
    packed = pack_examples(dataset, preprocessor)
    np.testing.assert_array_equal(packed.lengths, [6, 8])
    np.testing.assert_array_equal(packed.labels, [0, 1])
