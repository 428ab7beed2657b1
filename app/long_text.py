"""Texts longer than the sequence length: head and tail, or windows, in TF ops.

`--long_text` picks what the model sees of a text that does not fit:

- `truncate`: its first tokens, as the original (the packer cuts them).
- `head_tail`: its first and last tokens (Sun et al. 2019, "How to Fine-Tune
  BERT for Text Classification?", found head+tail best on IMDb): a quarter of
  the room, rounded up, for the head and the rest for the tail, which is
  the paper's best split of 128 + 382 tokens for a sequence length of 512.
- `chunks`: every token, in windows of the sequence length that overlap by
  `doc_stride` tokens; each window is a row of its own, and `document_ids`
  says which text (row of the input) it came from. A document's outputs are
  pooled from its windows' (`pool_documents`, `pool_documents_in_graph`).

Everything here is TensorFlow ops on ragged WordPiece ids, so the
preprocessing layer runs the same code in the runner and inside the export.
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from tasks import OutputKind

TRUNCATE, HEAD_TAIL, CHUNKS = "truncate", "head_tail", "chunks"
MEAN, MAX = "mean", "max"
# Probabilities are floored here before their log: the smallest normal float32.
_SMALLEST_PROBABILITY = float(np.finfo(np.float32).tiny)
_CHECK_BATCH = 1024  # texts tokenized at once by `check_pairs_fit_windows`


def head_length(room):
    """The head's share of `room` tokens: a quarter, rounded up."""
    return (room + 3) // 4


def keep_head_and_tail(tokens: tf.RaggedTensor, room) -> tf.RaggedTensor:
    """Each row's first `head_length(room)` and last `room - head` tokens.

    `room`: a scalar or a (batch,) tensor of tokens to keep per row. Rows that
    fit are kept whole.
    """
    lengths = tokens.row_lengths()  # (batch,)
    room = tf.broadcast_to(tf.cast(room, tf.int64), tf.shape(lengths))
    head = head_length(room)
    tail_start = lengths - (room - head)  # rows that fit: at most `head`
    positions = tf.ragged.range(lengths)  # (batch, None)
    keep = (positions < head[:, None]) | (positions >= tail_start[:, None])
    return tf.ragged.boolean_mask(tokens, keep)


def pair_rooms(tokens_a: tf.RaggedTensor, tokens_b: tf.RaggedTensor, room: int):
    """(batch,) tokens of each text that truncation keeps of a pair, in `room`.

    The lengths of the original `_truncate_seq_pair` (the packer's round
    robin): head_tail keeps as many tokens of each text as truncate does.
    """
    trimmer = tf_text.RoundRobinTrimmer(max_seq_length=room)
    masks = trimmer.generate_mask([tokens_a, tokens_b])
    room_a, room_b = (tf.reduce_sum(tf.cast(m, tf.int64), axis=1) for m in masks)
    return room_a, room_b


def window_count(lengths, room, doc_stride):
    """Windows of `room` tokens, each starting `room - doc_stride` after the
    last, that cover `lengths` tokens: 1 for a text that fits (or is empty)."""
    step = room - doc_stride
    beyond = tf.maximum(lengths - room, 0)
    return 1 + (beyond + step - 1) // step


def split_windows(tokens: tf.RaggedTensor, room, doc_stride: int):
    """Each row cut into windows of `room` tokens overlapping by `doc_stride`.

    Window k of a row starts at token `k * (room - doc_stride)`; the last
    window ends at the row's end, so it may be shorter. `room`: a scalar or a
    (batch,) tensor, more than `doc_stride`.

    Returns `(windows, document_ids)`: a (num_windows, None) ragged tensor,
    windows of a row next to each other in row order, and the (num_windows,)
    int64 row each came from.
    """
    lengths = tokens.row_lengths()  # (batch,)
    room = tf.broadcast_to(tf.cast(room, tf.int64), tf.shape(lengths))
    counts = window_count(lengths, room, doc_stride)  # (batch,)
    document_ids = tf.repeat(tf.range(tf.size(lengths, tf.int64)), counts)
    index_in_document = tf.ragged.range(counts).flat_values  # (num_windows,)
    step = tf.gather(room - doc_stride, document_ids)
    starts = index_in_document * step
    ends = tf.minimum(
        starts + tf.gather(room, document_ids), tf.gather(lengths, document_ids)
    )
    offsets = tf.gather(tokens.row_starts(), document_ids)
    positions = tf.ragged.range(offsets + starts, offsets + ends)
    return tf.gather(tokens.flat_values, positions), document_ids


def pair_window_rooms(tokens_a: tf.RaggedTensor, sequence_length: int):
    """(batch,) room for text_b in each window when text_a is kept whole."""
    return sequence_length - 3 - tokens_a.row_lengths()


def fit_head_tail(segments: tuple, text_b, sequence_length: int) -> tuple:
    """The segments' tokens cut to fit by head and tail, not head alone.

    A single text keeps `sequence_length - 2` tokens; each text of a pair as
    many as truncation would keep, a pair with an empty `text_b` (packed as
    `[CLS] a [SEP]`, as the original) `sequence_length - 2` of text_a.
    """
    if len(segments) == 1:
        return (keep_head_and_tail(segments[0], sequence_length - 2),)
    tokens_a, tokens_b = segments
    room_a, room_b = pair_rooms(tokens_a, tokens_b, sequence_length - 3)
    alone = tf.equal(text_b, "")
    room_a = tf.where(alone, tf.constant(sequence_length - 2, tf.int64), room_a)
    return keep_head_and_tail(tokens_a, room_a), keep_head_and_tail(tokens_b, room_b)


def fit_chunks(segments: tuple, text_b, sequence_length: int, doc_stride: int):
    """Windows of the segments, one per row: `(segments, text_b, document_ids)`.

    A single text is windowed; of a pair, text_b is, and text_a is repeated
    whole in each of its windows (so it must leave text_b more than
    `doc_stride` tokens: `check_pairs_fit_windows` names a row that does not).
    """
    if len(segments) == 1:
        windows, document_ids = split_windows(
            segments[0], sequence_length - 2, doc_stride
        )
        return (windows,), None, document_ids
    tokens_a, tokens_b = segments
    room = pair_window_rooms(tokens_a, sequence_length)
    check = tf.debugging.assert_greater(
        room,
        tf.constant(doc_stride, tf.int64),
        message=(
            "--long_text=chunks keeps text_a whole in every window: a text_a "
            "leaves no more than --doc_stride tokens for text_b"
        ),
    )
    with tf.control_dependencies([check]):
        windows, document_ids = split_windows(tokens_b, room, doc_stride)
    text_a_copies = tf.gather(tokens_a, document_ids)
    return (text_a_copies, windows), tf.gather(text_b, document_ids), document_ids


def check_pairs_fit_windows(split: str, examples, preprocessor) -> None:
    """Raises a DataError naming the first pair whose text_a leaves text_b
    no more than `doc_stride` tokens of a window (chunks keep text_a whole)."""
    from tasks import DataError

    sequence_length = preprocessor.sequence_length
    doc_stride = preprocessor.doc_stride
    for start in range(0, len(examples), _CHECK_BATCH):
        batch = examples[start : start + _CHECK_BATCH]
        tokens_a = preprocessor.tokenize(tf.constant([e.text_a for e in batch]))
        rooms = pair_window_rooms(tokens_a, sequence_length).numpy()
        for offset in np.flatnonzero(rooms <= doc_stride)[:1]:
            example = batch[offset]
            raise DataError(
                f"--long_text=chunks keeps text_a whole in every window and "
                f"windows text_b, but {split} example {start + offset} "
                f"({example.guid}) has a text_a of "
                f"{sequence_length - 3 - rooms[offset]} tokens, which leaves "
                f"{max(rooms[offset], 0)} of --max_seq_length={sequence_length} "
                f"for text_b, not more than --doc_stride={doc_stride}. Raise "
                "--max_seq_length, lower --doc_stride, or pass "
                "--long_text=head_tail or truncate."
            )


# === Pooling a document's windows ===
def pool_documents(
    outputs: np.ndarray, document_ids: np.ndarray, pooling: str, output_kind
) -> np.ndarray:
    """(num_documents, outputs) from (num_windows, outputs), in document order.

    Classes: the mean or max per class of the windows' log-probabilities,
    then a softmax. A softmax's log-probabilities are its logits less one
    constant per window, so the mean gives the softmax of the windows' mean
    logits. Labels (sigmoids): the mean or max of each label's logit, then a
    sigmoid. Scores: the mean or max of the windows' scores.
    `document_ids` are sorted (windows of a document side by side).
    """
    return pool_documents_in_graph(
        tf.constant(outputs, tf.float32),
        tf.constant(document_ids, tf.int64),
        pooling,
        output_kind,
    ).numpy()


def pool_documents_in_graph(
    outputs: tf.Tensor, document_ids: tf.Tensor, pooling: str, output_kind
) -> tf.Tensor:
    """`pool_documents` in TF ops: the export pools with the same code."""
    pool = {MEAN: tf.math.segment_mean, MAX: tf.math.segment_max}[pooling]
    if output_kind is OutputKind.SCORE:
        return pool(outputs, document_ids)
    floored = tf.maximum(outputs, _SMALLEST_PROBABILITY)
    if output_kind is OutputKind.LABELS:  # sigmoids: pool each label's logit
        logits = tf.math.log(floored) - tf.math.log(
            tf.maximum(1.0 - outputs, _SMALLEST_PROBABILITY)
        )
        return tf.sigmoid(pool(logits, document_ids))
    return tf.nn.softmax(pool(tf.math.log(floored), document_ids), axis=-1)
