"""tf.data pipelines: pack every example once, then order, batch, pad, prefetch.

Examples (a tf.data of strings) go through the preprocessing layer once per
set (`pack_examples`); training, evaluation and prediction batches are
gathered from the packed rows in their order and padded per batch.
"""

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from app.long_text import CHUNKS, check_pairs_fit_windows
from app.preprocessing import UNKNOWN_TOKEN
from tasks import InputExample, OutputKind
from tasks.dataset import build_dataset

AUTOTUNE = tf.data.AUTOTUNE


def plain_ops(function):
    """`function` for `Dataset.map`, traced as written: autograph would
    rewrite it and every function it calls before each trace, and these are
    plain ops (no Python branch or loop on a tensor) that need no rewriting."""
    return tf.autograph.experimental.do_not_convert(function)


def training_order(
    num_examples: int, batch_size: int, num_steps: int, seed: int
) -> np.ndarray:
    """Example indices for every training step, (num_steps * batch_size,).

    A fresh permutation per epoch, seeded by `seed + epoch`, concatenated; a
    batch may straddle two epochs as in the original's repeated stream. The
    order is a pure function of its arguments, so a resumed run picks up at
    the exact example where the interrupted one stopped.
    """
    needed = num_steps * batch_size
    num_epochs = max(1, -(-needed // num_examples))
    order = np.concatenate(
        [
            np.random.RandomState(seed + epoch).permutation(num_examples)
            for epoch in range(num_epochs)
        ]
    )
    return order[:needed]


def bucketed_training_order(
    lengths: np.ndarray,
    batch_size: int,
    num_steps: int,
    seed: int,
    window_batches: int = 64,
) -> np.ndarray:
    """Like `training_order`, but each batch holds examples of similar length.

    Per epoch: a seeded permutation, cut into windows of `window_batches`
    batches; each window is sorted by length and cut into batches; the
    epoch's batches are then shuffled. Batches padded to their longest example
    then carry little padding. Leftover examples of an epoch (fewer than a
    batch) wait for the next permutation, as in the unbucketed stream.
    """
    num_examples = len(lengths)
    batches, epoch = [], 0
    while len(batches) < num_steps:
        rng = np.random.RandomState(seed + epoch)
        permutation = rng.permutation(num_examples)
        usable = num_examples - num_examples % batch_size
        window = batch_size * window_batches
        epoch_batches = []
        for start in range(0, usable, window):
            chunk = permutation[start : min(start + window, usable)]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            epoch_batches.extend(np.split(chunk, len(chunk) // batch_size))
        batches.extend(epoch_batches[i] for i in rng.permutation(len(epoch_batches)))
        epoch += 1
    return np.concatenate(batches[:num_steps])


@dataclasses.dataclass(frozen=True)
class PackedExamples:
    """Every example of a set tokenized and packed once, without padding.

    Rows are `[CLS] a [SEP] (b [SEP])` as the preprocessor packs them; batches
    gather rows and pad them (`batch_inputs`), so epochs, evaluations, the
    length sort and the data report never tokenize again. With
    `--long_text=chunks` a row is one window of an example: `document_ids`
    names its example, and `labels` repeat the example's label per window.
    """

    token_ids: tf.RaggedTensor  # (num_rows, None) int32
    segment_ids: tf.RaggedTensor  # (num_rows, None) int32
    labels: tf.Tensor | None  # (num_rows,), or None for unlabelled sets
    # WordPieces of both texts before truncation, and the [UNK]s among them.
    token_counts: np.ndarray  # (num_examples,) int64
    unknown_counts: np.ndarray  # (num_examples,) int64
    # The example of each row; None where rows are examples.
    document_ids: np.ndarray | None = None  # (num_rows,) int64

    def __len__(self) -> int:
        """Rows: examples, or windows with `document_ids`."""
        return int(self.token_ids.nrows())

    @property
    def num_examples(self) -> int:
        return len(self.token_counts)

    @property
    def lengths(self) -> np.ndarray:
        """Each row's packed length, [CLS] and [SEP]s included."""
        return self.token_ids.row_lengths().numpy()


def pack_splits(
    splits: Mapping[str, Sequence[InputExample]],
    label_list: Sequence[str],
    is_pair: bool,
    preprocessor,
    output_kind: OutputKind = OutputKind.CLASSES,
) -> dict[str, PackedExamples]:
    """Each split packed once, by name; test labels are placeholders, left out."""
    if is_pair and preprocessor.long_text == CHUNKS:
        for split, examples in splits.items():
            check_pairs_fit_windows(split, examples, preprocessor)
    return {
        split: pack_examples(
            build_dataset(examples, label_list, is_pair, split != "test", output_kind),
            preprocessor,
        )
        for split, examples in splits.items()
    }


def pack_examples(
    examples: tf.data.Dataset, preprocessor, chunk_size: int = 1024
) -> PackedExamples:
    """Runs `preprocessor` once over `examples`, `chunk_size` at a time.

    `examples` holds feature dicts, or `(features, label)` pairs. The chunks
    come from tf.data and go through the preprocessor's one traced graph: a
    `map` over a new dataset would set up that graph again each time.
    """
    labelled = isinstance(examples.element_spec, tuple)
    chunks = []
    for chunk in examples.batch(chunk_size).prefetch(1):
        features, labels = chunk if labelled else (chunk, None)
        chunks.append(pack_batch(features, labels, preprocessor))
    if not chunks:
        empty = tf.RaggedTensor.from_row_lengths(
            tf.zeros([0], tf.int32), tf.zeros([0], tf.int64)
        )
        label_dtype = examples.element_spec[1].dtype if labelled else None
        return PackedExamples(
            token_ids=empty,
            segment_ids=empty,
            labels=tf.zeros([0], label_dtype) if labelled else None,
            token_counts=np.zeros(0, np.int64),
            unknown_counts=np.zeros(0, np.int64),
        )
    return concat_packed(chunks)


def pack_batch(
    features: dict, labels: tf.Tensor | None, preprocessor
) -> PackedExamples:
    """One batch of examples (`features`, and `labels` or None) packed.

    With `--long_text=chunks` the rows are windows, `document_ids` count from
    0 in the batch and `labels` repeat per window.
    """
    unknown_id = preprocessor.vocabulary.index(UNKNOWN_TOKEN)
    packed = preprocessor(features)
    lengths = tf.reduce_sum(tf.cast(packed["padding_mask"], tf.int32), axis=1)
    token_ids = tf.RaggedTensor.from_tensor(packed["token_ids"], lengths)
    segment_ids = tf.RaggedTensor.from_tensor(packed["segment_ids"], lengths)
    document_ids = None
    if "document_ids" in packed:  # windows: counted per example, uncut
        counts, unknown = _count_all_tokens(features, preprocessor, unknown_id)
        document_ids = packed["document_ids"].numpy()
        if labels is not None:
            labels = tf.gather(labels, packed["document_ids"])
    else:
        counts, unknown = _count_tokens(features, token_ids, preprocessor, unknown_id)
    return PackedExamples(
        token_ids, segment_ids, labels, counts, unknown, document_ids=document_ids
    )


def concat_packed(chunks: Sequence[PackedExamples]) -> PackedExamples:
    """Packed batches in order as one set; document ids count on across them."""
    document_ids = None
    if chunks[0].document_ids is not None:
        starts = np.cumsum([0] + [chunk.num_examples for chunk in chunks[:-1]])
        document_ids = np.concatenate(
            [chunk.document_ids + start for chunk, start in zip(chunks, starts)]
        )
    labelled = chunks[0].labels is not None
    return PackedExamples(
        token_ids=tf.concat([chunk.token_ids for chunk in chunks], axis=0),
        segment_ids=tf.concat([chunk.segment_ids for chunk in chunks], axis=0),
        labels=tf.concat([c.labels for c in chunks], axis=0) if labelled else None,
        token_counts=np.concatenate([chunk.token_counts for chunk in chunks]),
        unknown_counts=np.concatenate([chunk.unknown_counts for chunk in chunks]),
        document_ids=document_ids,
    )


def _count_tokens(
    features: dict, token_ids: tf.RaggedTensor, preprocessor, unknown_id: int
):
    """(chunk,) WordPieces of each example before truncation, and its [UNK]s.

    A row shorter than `sequence_length` was packed whole: its count is its
    length less [CLS] and its [SEP]s (one more for a non-empty `text_b`).
    Only rows that reach `sequence_length`, which the packer may have cut,
    are tokenized again in full.
    """
    lengths = token_ids.row_lengths().numpy()
    special_tokens = np.full(len(lengths), 2)
    if "text_b" in features:
        special_tokens += features["text_b"].numpy() != b""
    counts = (lengths - special_tokens).astype(np.int64)
    is_unknown = tf.cast(token_ids == unknown_id, tf.int64)
    unknown = tf.reduce_sum(is_unknown, axis=1).numpy()
    cut = np.flatnonzero(lengths >= preprocessor.sequence_length)
    if len(cut):
        counts[cut], unknown[cut] = 0, 0
        for texts in features.values():
            whole_counts, whole_unknown = _count_whole(
                preprocessor, tf.gather(texts, cut), unknown_id
            )
            counts[cut] += whole_counts.numpy()
            unknown[cut] += whole_unknown.numpy()
    return counts, unknown


def _count_all_tokens(features: dict, preprocessor, unknown_id: int):
    """(chunk,) WordPieces of each example's texts, uncut, and its [UNK]s."""
    counts, unknown = 0, 0
    for texts in features.values():
        whole_counts, whole_unknown = _count_whole(preprocessor, texts, unknown_id)
        counts += whole_counts.numpy()
        unknown += whole_unknown.numpy()
    return counts, unknown


def _count_whole(preprocessor, texts: tf.Tensor, unknown_id: int):
    """(n,) WordPiece counts of `texts` and (n,) [UNK] counts, uncut.

    Eager: a few cut rows do not pay for tracing a graph.
    """
    token_ids = preprocessor.tokenize(texts)  # (n, None)
    is_unknown = tf.cast(token_ids == unknown_id, tf.int64)
    return token_ids.row_lengths(), tf.reduce_sum(is_unknown, axis=1)


def batch_inputs(packed: PackedExamples, preprocessor, index: tf.Tensor) -> dict:
    """The model inputs for the examples at `index`, padded as one batch.

    Padded to the preprocessor's `padded_length` of the batch's longest
    example: its multiple with `trim_to_longest`, else `sequence_length`.
    """
    return pad_rows(
        tf.gather(packed.token_ids, index),
        tf.gather(packed.segment_ids, index),
        preprocessor,
        batch_size=index.shape[0],
    )


def pad_rows(
    token_ids: tf.RaggedTensor,
    segment_ids: tf.RaggedTensor,
    preprocessor,
    batch_size: int | None,
) -> dict:
    """One batch of packed rows as model inputs, padded as `batch_inputs` says.

    `batch_size`: the batch's static size, or None where it may vary.
    """
    lengths = token_ids.row_lengths()
    length = preprocessor.padded_length(tf.reduce_max(lengths))
    shape = [batch_size, length if isinstance(length, int) else None]
    num_rows = tf.cast(token_ids.nrows(), tf.int32)

    def pad(rows, value):
        dense = rows.to_tensor(value, shape=tf.stack([num_rows, length]))
        return tf.ensure_shape(dense, shape)

    return {
        "token_ids": pad(token_ids, preprocessor.pad_token_id),
        "segment_ids": pad(segment_ids, 0),
        "padding_mask": tf.ensure_shape(
            tf.sequence_mask(lengths, length, dtype=tf.bool), shape
        ),
    }


def build_train_dataset(
    packed: PackedExamples,
    preprocessor,
    batch_size: int,
    num_steps: int,
    seed: int,
    start_step: int = 0,
    bucket_by_length: bool = False,
) -> tf.data.Dataset:
    """Batches of `(inputs, label_ids)` for steps `start_step..num_steps`.

    Whole batches only (the original's `drop_remainder=True`), so every step
    sees `batch_size` examples and TPUs see one shape. With
    `bucket_by_length`, batches group examples of similar length.
    """
    if bucket_by_length:
        order = bucketed_training_order(packed.lengths, batch_size, num_steps, seed)
    else:
        order = training_order(len(packed), batch_size, num_steps, seed)
    return (
        tf.data.Dataset.from_tensor_slices(order[start_step * batch_size :])
        .batch(batch_size, drop_remainder=True)
        .map(
            plain_ops(
                lambda index: (
                    batch_inputs(packed, preprocessor, index),
                    tf.gather(packed.labels, index),
                )
            ),
            num_parallel_calls=AUTOTUNE,
        )
        .apply(prefetch_without_autotuning)
    )


def build_inference_dataset(
    packed: PackedExamples,
    preprocessor,
    batch_size: int,
    pad_to_whole_batches: bool = False,
    order: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches of model inputs, in input order (or `order`), labels dropped.

    With `pad_to_whole_batches` (TPUs), the last batch is filled with empty
    examples (`[CLS] [SEP]`), as the original's `PaddingInputExample`; the
    caller keeps only the first `len(packed)` predictions.
    """
    num_examples = len(packed)
    index = np.arange(num_examples) if order is None else np.asarray(order)
    if pad_to_whole_batches and num_examples:
        empty = [[preprocessor.cls_token_id, preprocessor.sep_token_id]]
        packed = dataclasses.replace(
            packed,
            token_ids=tf.concat([packed.token_ids, tf.ragged.constant(empty)], 0),
            segment_ids=tf.concat(
                [packed.segment_ids, tf.ragged.constant([[0, 0]])], 0
            ),
            token_counts=np.append(packed.token_counts, 0),
            unknown_counts=np.append(packed.unknown_counts, 0),
        )
        index = np.concatenate(
            [index, np.full(-num_examples % batch_size, num_examples, index.dtype)]
        )
    return (
        tf.data.Dataset.from_tensor_slices(index)
        .batch(batch_size, drop_remainder=pad_to_whole_batches)
        .map(
            plain_ops(lambda index: batch_inputs(packed, preprocessor, index)),
            num_parallel_calls=AUTOTUNE,
        )
        .apply(prefetch_without_autotuning)
    )


def prefetch_without_autotuning(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Two batches ahead, with tf.data's autotuning off for the whole pipeline.

    Batches are gathered from packed rows, so they are cheap and need no
    tuning; with autotuning on, the pipeline's own threads left the model
    running on fewer cores than it could use.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)
