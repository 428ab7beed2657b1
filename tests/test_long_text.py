"""--long_text: head and tail, windows and their pooling, worked out by hand.

Token ids come from the hand-made vocabulary of tests/test_preprocessing.py,
where "a".."f" are ids 18..23. One end-to-end run on real long reviews
(tests/data/long_reviews) checks training, evaluation, prediction, the data
report and the export, whose text signatures must give the runner's
probabilities.
"""

import functools
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from app.config import RunConfig, validate
from app.errors import ConfigError
from app.input_pipeline import pack_splits
from app.long_text import head_length, pool_documents
from app.preprocessing import ClassifierPreprocessor
from app.reporting import build_data_report, format_data_report
from tasks import DataError, InputExample, OutputKind
from tests.test_main import run_main
from tests.test_preprocessing import VOCABULARY

ROOT = pathlib.Path(__file__).resolve().parent.parent
LONG_REVIEWS = ROOT / "tests" / "data" / "long_reviews"
CLS, SEP = 2, 3
A, B, C, D, E, F = range(18, 24)  # "a" .. "f"
CLASSES = OutputKind.CLASSES


@functools.cache
def preprocessor_for(long_text: str) -> ClassifierPreprocessor:
    """Sequence length 8 (room 6 for one text), windows overlapping by 2;
    shared, so that each kind of input is traced once."""
    return ClassifierPreprocessor(VOCABULARY, 8, long_text=long_text, doc_stride=2)


def pack(long_text, texts_a, texts_b=None):
    preprocessor = preprocessor_for(long_text)
    features = {"text_a": tf.constant(texts_a)}
    if texts_b is not None:
        features["text_b"] = tf.constant(texts_b)
    packed = preprocessor(features)
    rows = [
        [int(i) for i, kept in zip(ids, mask) if kept]
        for ids, mask in zip(packed["token_ids"].numpy(), packed["padding_mask"])
    ]
    documents = packed.get("document_ids")
    return rows, None if documents is None else documents.numpy().tolist()


# === head_tail ===
def test_head_length_is_a_quarter_rounded_up_as_sun_et_al():
    assert head_length(510) == 128  # 128 + 382 for max_seq_length 512
    assert [head_length(room) for room in (1, 4, 5, 6, 126)] == [1, 1, 2, 2, 32]


def test_head_tail_keeps_the_first_and_last_tokens():
    # 12 tokens into 6 (8 less [CLS] [SEP]): the head 2, the tail 4.
    rows, documents = pack("head_tail", ["a b c d e f f e d c b a", "a b"])
    assert rows == [[CLS, A, B, D, C, B, A, SEP], [CLS, A, B, SEP]]
    assert documents is None


def test_head_tail_pairs_keep_the_lengths_truncation_keeps():
    # 6 + 4 tokens into 5 (8 less three specials): truncation keeps a b c
    # and f e; head_tail keeps a's head 1 and tail 2, b's head 1 and tail 1.
    # An empty text_b packs text_a alone, as the original, in 8 less two.
    rows, _ = pack("head_tail", ["a b c d e f", "a b c d e f f e"], ["f e d c", ""])
    assert rows == [[CLS, A, E, F, SEP, F, C, SEP], [CLS, A, B, E, F, F, E, SEP]]


# === chunks ===
def test_windows_of_a_text_overlap_by_doc_stride():
    # Room 6, overlap 2: windows start every 4 tokens, the last one ends the
    # text: tokens 0-5 and 4-9 of ten; a short text is one window.
    rows, documents = pack("chunks", ["a b c d e f a b c d", "b", ""])
    assert rows == [
        [CLS, A, B, C, D, E, F, SEP],
        [CLS, E, F, A, B, C, D, SEP],
        [CLS, B, SEP],
        [CLS, SEP],
    ]
    assert documents == [0, 0, 1, 2]


def test_a_text_of_exactly_one_window_is_one_window():
    rows, documents = pack("chunks", ["a b c d e f", "a b c d e f a"])
    assert rows == [
        [CLS, A, B, C, D, E, F, SEP],
        [CLS, A, B, C, D, E, F, SEP],
        [CLS, E, F, A, SEP],
    ]
    assert documents == [0, 1, 1]


def test_pairs_keep_text_a_whole_and_window_text_b():
    # text_a "a" leaves 8 - 3 - 1 = 4 tokens of text_b per window, which
    # start every 2 (overlap 2).
    rows, documents = pack("chunks", ["a", "c"], ["c d e f a b", ""])
    assert rows == [
        [CLS, A, SEP, C, D, E, F, SEP],
        [CLS, A, SEP, E, F, A, B, SEP],
        [CLS, C, SEP],  # an empty text_b: text_a alone, as the original
    ]
    assert documents == [0, 0, 1]


def test_windows_train_with_their_document_label_and_are_counted_whole():
    examples = [
        InputExample("train-0", "a b c d e f a b c d", None, "1"),
        InputExample("train-1", "zebra", None, "0"),
    ]
    packed = pack_splits(
        {"train": examples}, ["0", "1"], False, preprocessor_for("chunks")
    )
    train = packed["train"]
    assert (len(train), train.num_examples) == (3, 2)
    assert train.document_ids.tolist() == [0, 0, 1]
    assert train.labels.numpy().tolist() == [1, 1, 0]
    assert train.token_counts.tolist() == [10, 1]
    assert train.unknown_counts.tolist() == [0, 1]

    report = build_data_report(
        {"train": examples}, packed, False, 8, long_text="chunks"
    )
    # Packed lengths 12 and 3: 4 tokens beyond 8, in one example.
    assert report["splits"]["train"]["long_text"] == {
        "mode": "chunks",
        "tokens_beyond_limit": 4,
        "examples_beyond_limit": 1,
        "windows": 3,
        "windows_per_example": {"mean": 1.5, "max": 2},
    }
    assert (
        "chunks: 4 tokens beyond 8, in 1 examples; 3 windows, per example mean "
        "1.50, max 2" in format_data_report(report)
    )


# === Pooling ===
def test_mean_pooling_is_the_softmax_of_the_mean_logits():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [-3.0, 1.0, 4.0]])
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    pooled = pool_documents(probabilities, np.array([0, 0, 1]), "mean", CLASSES)
    # Document 0: mean logits (1.25, 0.75, -0.5).
    mean = np.exp([1.25, 0.75, -0.5]) / np.exp([1.25, 0.75, -0.5]).sum()
    np.testing.assert_allclose(pooled[0], mean, rtol=1e-6)
    np.testing.assert_allclose(pooled[1], probabilities[2], rtol=1e-6)


def test_max_pooling_takes_each_class_best_log_probability():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    pooled = pool_documents(probabilities, np.array([0, 0]), "max", CLASSES)
    # Per class the larger probability: 0.7, 0.3, 0.6, then normalized.
    np.testing.assert_allclose(pooled, [[0.7 / 1.6, 0.3 / 1.6, 0.6 / 1.6]], rtol=1e-6)


def test_labels_pool_each_label_logit_then_a_sigmoid():
    logits = np.array([[2.0, -1.0], [0.0, 3.0]])
    probabilities = 1 / (1 + np.exp(-logits))
    ids = np.array([0, 0])
    mean = pool_documents(probabilities, ids, "mean", OutputKind.LABELS)
    maximum = pool_documents(probabilities, ids, "max", OutputKind.LABELS)
    sigmoid = lambda x: 1 / (1 + np.exp(-np.asarray(x)))  # noqa: E731
    np.testing.assert_allclose(mean, [sigmoid([1.0, 1.0])], rtol=1e-5)
    np.testing.assert_allclose(maximum, [sigmoid([2.0, 3.0])], rtol=1e-5)


def test_scores_pool_as_they_are():
    scores = np.array([[1.0], [3.0], [2.5]])
    ids = np.array([0, 0, 1])
    mean = pool_documents(scores, ids, "mean", OutputKind.SCORE)
    maximum = pool_documents(scores, ids, "max", OutputKind.SCORE)
    np.testing.assert_allclose(mean, [[2.0], [2.5]])
    np.testing.assert_allclose(maximum, [[3.0], [2.5]])


# === Refusals ===
def config(**overrides) -> RunConfig:
    flags = dict(
        task_name="csv",
        train_file="train.tsv",
        do_train=True,
        output_dir="/nonexistent/out",
        init_checkpoint="/nonexistent/weights",
        long_text="chunks",
    )
    return RunConfig(**{**flags, **overrides})


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            dict(max_seq_length=34, doc_stride=32),
            "--doc_stride is the overlap of consecutive windows and must be less "
            "than a window's room for text (--max_seq_length less [CLS] and [SEP]:"
            " 32). Lower --doc_stride or raise --max_seq_length. Received: "
            "doc_stride=32, max_seq_length=34",
        ),
        (
            dict(doc_stride=-1),
            "--doc_stride must be 0 or more. Received: doc_stride=-1",
        ),
    ],
)
def test_bad_doc_stride_is_refused(overrides, message):
    with pytest.raises(ConfigError) as error:
        validate(config(**overrides))
    assert str(error.value) == message


def test_doc_stride_matters_only_for_chunks():
    validate(config(max_seq_length=34, doc_stride=32, long_text="head_tail"))


def test_a_text_a_that_fills_the_window_is_refused_naming_the_example():
    examples = [
        InputExample("dev-0", "a", "b c", "1"),
        InputExample("dev-1", "a b c", "f", "0"),
    ]
    with pytest.raises(DataError) as error:
        pack_splits({"dev": examples}, ["0", "1"], True, preprocessor_for("chunks"))
    assert str(error.value) == (
        "--long_text=chunks keeps text_a whole in every window and windows "
        "text_b, but dev example 1 (dev-1) has a text_a of 3 tokens, which leaves "
        "2 of --max_seq_length=8 for text_b, not more than --doc_stride=2. "
        "Raise --max_seq_length, lower --doc_stride, or pass "
        "--long_text=head_tail or truncate."
    )


# === End to end ===
def test_chunks_end_to_end_on_long_reviews_and_the_export_agrees(
    huggingface_dir, tmp_path
):
    output_dir = tmp_path / "out"
    result = run_main(
        "--task_name=csv",
        f"--data_dir={LONG_REVIEWS}",
        "--train_file=train.tsv",
        "--dev_file=dev.tsv",
        "--test_file=test.tsv",
        "--do_train",
        "--do_eval",
        "--do_predict",
        f"--init_checkpoint={huggingface_dir}",
        "--max_seq_length=32",
        "--train_batch_size=16",
        "--num_train_epochs=1",
        "--precision=float32",  # the export serves in float32
        "--long_text=chunks",
        "--doc_stride=8",
        "--chunk_pooling=max",
        f"--output_dir={output_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((output_dir / "data_report.json").read_text())
    dev = report["splits"]["dev"]
    assert dev["examples"] == 12
    windows = dev["long_text"]["windows"]
    assert windows > 12 and dev["long_text"]["examples_beyond_limit"] == 12
    assert f"Num examples = 12 ({windows} rows)" in result.stderr

    metrics = json.loads((output_dir / "eval_results.json").read_text())
    assert sum(map(sum, metrics["eval_confusion_matrix"])) == 12  # per document
    texts = [
        line.split("\t")[0]
        for line in (LONG_REVIEWS / "test.tsv").read_text().splitlines()[1:]
    ]
    lines = (output_dir / "test_results.tsv").read_text().splitlines()
    test_results = np.array([line.split("\t") for line in lines], dtype=np.float32)
    assert test_results.shape == (8, 2)  # one row per document, in order
    predictions = (output_dir / "predictions.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in predictions[1:]] == list(map(str, range(8)))

    export_dir = str(output_dir / "export")
    metadata = json.loads(
        (output_dir / "export" / "assets" / "export_metadata.json").read_text()
    )
    assert (metadata["long_text"], metadata["doc_stride"]) == ("chunks", 8)
    assert metadata["chunk_pooling"] == "max"
    loaded = tf.saved_model.load(export_dir)
    served = loaded.signatures["serving_default"](text_a=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"], test_results, atol=1e-5)
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "text_a": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[text.encode()])
                    )
                }
            )
        ).SerializeToString()
        for text in texts
    ]
    from_examples = loaded.signatures["serve_examples"](examples=tf.constant(examples))
    np.testing.assert_allclose(from_examples["probabilities"], test_results, atol=1e-5)


# === The long reviews builder ===
def test_long_reviews_put_the_deciding_sentence_after_the_filler():
    from tasks.long_reviews import build_long_reviews, count_units

    scored = [(0.1 * (i % 3), f"neutral sentence number {i} .") for i in range(20)]
    scored += [(2.0, "A gorgeous, witty film."), (-1.5, "Dull and lifeless.")]
    scored += [(3.0, "Wonderful.")]
    documents = build_long_reviews(
        scored, {"train": 2, "dev": 1, "test": 0}, filler_tokens=12
    )
    deciding = {"A gorgeous, witty film.": "1", "Dull and lifeless.": "0"}
    deciding["Wonderful."] = "1"
    used = set()
    for split, rows in documents.items():
        for text, label in rows:
            ending = next(s for s in deciding if text.endswith(" " + s))
            assert deciding[ending] == label
            assert count_units(text[: -len(ending)]) >= 12
            used.add(ending)
    assert len(used) == 3  # each deciding sentence once, in one split
    train_filler = {s for text, _ in documents["train"] for s in text.split(" . ")}
    dev_filler = {s for text, _ in documents["dev"] for s in text.split(" . ")}
    assert not (train_filler & dev_filler)


def test_the_predict_command_names_a_pair_the_export_cannot_window():
    from app.predict import ExportMetadata, predict_batch

    def serve(**texts):  # the export's in-graph check, as it fails
        raise tf.errors.InvalidArgumentError(
            None, None, "assertion failed: --long_text=chunks keeps text_a whole"
        )

    metadata = ExportMetadata(labels=("0", "1"), is_pair=True, output_kind="classes")
    with pytest.raises(DataError, match="Shorten that text_a"):
        predict_batch(serve, metadata, [("a long text_a", "b")])
