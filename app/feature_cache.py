"""The on-disk feature cache of a streamed split: its rows tokenized once.

`OUTPUT_DIR/feature_cache/<key>/` holds, in input order:

    rows-*-of-*.tfrecord  one per input file, in the files' order: one
                        tf.train.Example per packed row: token_ids,
                        segment_ids, as the preprocessor packs them (unpadded),
                        the row's length and, for labelled splits, its label
    ids.txt             each example's id: its --id_column value, else its
                        0-based row number in the split
    document_ids.int64  each row's example (--long_text=chunks only)
    token_counts.int64  each example's WordPieces before truncation, and
    unknown_counts.int64  the [UNK]s among them (the data report)
    labels.<dtype>      labelled splits: each example's label as the row
                        stores it (evaluation reads them as one array)
    meta.json           example and row counts (rows per file too), the
                        split's sha256 and, for labelled splits, how labels
                        are stored and counted

The key hashes everything the rows depend on (the files' content, the
vocabulary, casing, max_seq_length, the task and its options, --long_text),
so a changed input makes a new key and never reuses old rows. A cache is
written into a temporary folder and renamed into place once complete: a
killed run never leaves a half cache that a later run would reuse.
"""

import collections
import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.data.experimental import AutoShardPolicy

from app.input_pipeline import (
    AUTOTUNE,
    pack_batch,
    pad_rows,
    plain_ops,
    prefetch_without_autotuning,
)
from app.long_text import CHUNKS, check_pairs_fit_windows
from app.results import example_id
from app.run_record import update_examples_hash
from tasks import InputExample, OutputKind
from tasks.custom import label_counts
from tasks.dataset import build_features, build_targets

FORMAT_VERSION = 2  # bump when the files above change
IDS_NAME = "ids.txt"
META_NAME = "meta.json"
# name -> dtype of the raw arrays beside the records
ARRAYS = {
    "document_ids": np.int64,
    "token_counts": np.int64,
    "unknown_counts": np.int64,
}
CHUNK_SIZE = 1024  # examples packed at a time: memory stays flat in the rows
SHUFFLE_BUFFER = 10_000  # training rows shuffled at once (serialized, small)
WINDOW_BATCHES = 64  # training buckets and inference sort windows of this many batches


@dataclasses.dataclass(frozen=True)
class FeatureCache:
    """A complete cache folder and what its meta.json says."""

    directory: str
    split: str
    num_examples: int
    num_rows: int  # examples, or their windows with --long_text=chunks
    data_sha256: str  # run_record.hash_examples of the split's examples
    record_files: list[str]  # a TFRecord per input file, in their order
    file_rows: list[int]  # rows in each of them
    # Labelled splits: the label feature's {"dtype", "shape"} and the
    # examples per label (`tasks.custom.label_counts`); None for test.
    label_spec: dict | None = None
    label_counts: dict[str, int] | None = None

    @property
    def records_paths(self) -> list[str]:
        """The rows, in input order across these files."""
        return [os.path.join(self.directory, name) for name in self.record_files]

    def read_array(self, name: str) -> np.ndarray | None:
        """One of `ARRAYS`; None for document_ids where rows are examples."""
        path = os.path.join(self.directory, f"{name}.{np.dtype(ARRAYS[name]).name}")
        if not os.path.exists(path):
            return None
        return np.fromfile(path, dtype=ARRAYS[name])

    def read_labels(self) -> np.ndarray | None:
        """(num_examples,) class ids or scores, or (num_examples, num_labels)
        0/1 per label; None for a split without labels (test)."""
        if self.label_spec is None:
            return None
        dtype = np.dtype(self.label_spec["dtype"])
        path = os.path.join(self.directory, f"labels.{dtype.name}")
        return np.fromfile(path, dtype=dtype).reshape(-1, *self.label_spec["shape"])

    def read_ids(self) -> Iterator[str]:
        """Each example's id, in input order, read as needed."""
        with open(os.path.join(self.directory, IDS_NAME), encoding="utf-8") as file:
            for line in file:
                yield line.rstrip("\n")


def cache_key(paths: Iterable[str], vocabulary: list[str], settings: dict) -> str:
    """sha256 of the files' content (in order), the vocabulary and `settings`."""
    digest = hashlib.sha256(f"feature cache {FORMAT_VERSION}\n".encode())
    digest.update(json.dumps(settings, sort_keys=True).encode("utf-8"))
    digest.update("\n".join(vocabulary).encode("utf-8"))
    for path in paths:
        with tf.io.gfile.GFile(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0end of file\0")
    return digest.hexdigest()


def open_feature_cache(directory: str) -> FeatureCache | None:
    """The complete cache in `directory`, or None if there is none."""
    path = os.path.join(directory, META_NAME)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as file:
        meta = json.load(file)
    return FeatureCache(directory=directory, **meta)


def build_feature_cache(
    directory: str,
    split: str,
    examples: Iterable[tuple[int, InputExample]],
    preprocessor,
    is_pair: bool,
    label_list: Sequence[str] | None = None,
    output_kind: OutputKind = OutputKind.CLASSES,
    num_files: int = 1,
) -> FeatureCache:
    """Packs `examples` in one pass into a cache at `directory`.

    `examples` are `(file_index, example)` pairs
    (`CsvProcessor.iter_examples_by_file`): each of the `num_files` input
    files gets a TFRecord of its own, so several workers can each read their
    own files. With `label_list`, each row also keeps its label: the class
    id, the score, or the 0/1 per label (`tasks.dataset.build_targets`).

    Raises what reading `examples` raises (a DataError naming a bad row's
    file and line), leaving no folder behind.
    """
    temporary = f"{directory}.tmp-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    try:
        meta = write_rows(
            temporary,
            split,
            examples,
            preprocessor,
            is_pair,
            label_list,
            output_kind,
            num_files,
        )
        with open(os.path.join(temporary, META_NAME), "w", encoding="utf-8") as file:
            json.dump(meta, file, indent=2)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    try:
        os.rename(temporary, directory)
    except OSError:  # another run finished the same cache first
        shutil.rmtree(temporary, ignore_errors=True)
    return open_feature_cache(directory)


def records_name(index: int, num_files: int) -> str:
    """The TFRecord of input file `index`: rows-00000-of-00003.tfrecord."""
    return f"rows-{index:05d}-of-{num_files:05d}.tfrecord"


def write_rows(
    directory: str,
    split: str,
    examples: Iterable[tuple[int, InputExample]],
    preprocessor,
    is_pair: bool,
    label_list: Sequence[str] | None,
    output_kind: OutputKind,
    num_files: int,
) -> dict:
    """The cache's files, `CHUNK_SIZE` examples at a time; returns its meta."""
    digest = hashlib.sha256()
    num_examples = num_rows = 0
    counts = collections.Counter()
    file_rows = np.zeros(num_files, np.int64)
    with_labels = label_list is not None
    record_files = [records_name(index, num_files) for index in range(num_files)]
    with contextlib.ExitStack() as files:
        writers = [
            files.enter_context(tf.io.TFRecordWriter(os.path.join(directory, name)))
            for name in record_files
        ]
        arrays = {
            name: files.enter_context(open_array(directory, name)) for name in ARRAYS
        }
        if with_labels:
            dtype = np.dtype(label_spec(label_list, output_kind)["dtype"])
            labels_path = os.path.join(directory, f"labels.{dtype.name}")
            labels_file = files.enter_context(open(labels_path, "wb"))
        ids_file = files.enter_context(
            open(os.path.join(directory, IDS_NAME), "w", encoding="utf-8")
        )
        for pairs in chunks(examples, CHUNK_SIZE):
            file_indices = np.asarray([index for index, _ in pairs])
            chunk = [example for _, example in pairs]
            update_examples_hash(digest, chunk)
            if is_pair and preprocessor.long_text == CHUNKS:
                check_pairs_fit_windows(split, chunk, preprocessor)
            targets = None
            if with_labels:
                targets = build_targets(chunk, label_list, output_kind)
                targets.astype(dtype).tofile(labels_file)
                counts.update(label_counts(chunk))
            packed = pack_batch(build_features(chunk, is_pair), targets, preprocessor)
            if packed.document_ids is not None:  # each window's file
                file_indices = file_indices[packed.document_ids]
            write_records(writers, file_indices, packed)
            np.add.at(file_rows, file_indices, 1)
            ids_file.writelines(
                f"{example_id(example, num_examples + index)}\n"
                for index, example in enumerate(chunk)
            )
            packed.token_counts.tofile(arrays["token_counts"])
            packed.unknown_counts.tofile(arrays["unknown_counts"])
            if packed.document_ids is not None:
                (packed.document_ids + num_examples).tofile(arrays["document_ids"])
            num_examples += len(chunk)
            num_rows += len(packed)
    if preprocessor.long_text != CHUNKS:
        os.remove(arrays["document_ids"].name)
    return {
        "split": split,
        "num_examples": num_examples,
        "num_rows": num_rows,
        "data_sha256": digest.hexdigest(),
        "record_files": record_files,
        "file_rows": file_rows.tolist(),
        "label_spec": label_spec(label_list, output_kind) if with_labels else None,
        "label_counts": dict(sorted(counts.items())) if with_labels else None,
    }


def write_records(writers: list, file_indices: np.ndarray, packed) -> None:
    """Each packed row, with its label, into the TFRecord of its file."""
    token_ids = packed.token_ids.to_list()
    segment_ids = packed.segment_ids.to_list()
    labels = [None] * len(token_ids)
    if packed.labels is not None:
        labels = np.asarray(packed.labels).tolist()
    for index, *row in zip(file_indices, token_ids, segment_ids, labels):
        writers[index].write(serialize_row(*row))


def label_spec(label_list: Sequence[str], output_kind: OutputKind) -> dict:
    """How a row's label is stored: a class id, a score, or 0/1 per label."""
    if output_kind is OutputKind.LABELS:
        return {"dtype": "float32", "shape": [len(label_list)]}
    if output_kind is OutputKind.SCORE:
        return {"dtype": "float32", "shape": []}
    return {"dtype": "int64", "shape": []}


def open_array(directory: str, name: str):
    return open(os.path.join(directory, f"{name}.{np.dtype(ARRAYS[name]).name}"), "wb")


def chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def serialize_row(token_ids: list[int], segment_ids: list[int], label=None) -> bytes:
    """One packed row, with its length and label, as a tf.train.Example.

    `label`: a class id (int), a score (float), 0/1 per label (list), or None.
    """

    def integers(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    feature = {
        "token_ids": integers(token_ids),
        "segment_ids": integers(segment_ids),
        "length": integers([len(token_ids)]),
    }
    if isinstance(label, int):
        feature["label"] = integers([label])
    elif label is not None:
        values = label if isinstance(label, list) else [label]
        feature["label"] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


def parse_rows(
    serialized: tf.Tensor, preprocessor, batch_size: int | None, label_spec=None
):
    """(batch,) serialized rows -> padded model inputs, and labels with
    `label_spec` (int32 class ids, as `build_targets`, or float32)."""
    features = {
        "token_ids": tf.io.RaggedFeature(tf.int64),
        "segment_ids": tf.io.RaggedFeature(tf.int64),
    }
    if label_spec is not None:
        dtype = tf.as_dtype(label_spec["dtype"])
        features["label"] = tf.io.FixedLenFeature(label_spec["shape"], dtype)
    rows = tf.io.parse_example(serialized, features)
    inputs = pad_rows(
        tf.cast(rows["token_ids"], tf.int32),
        tf.cast(rows["segment_ids"], tf.int32),
        preprocessor,
        batch_size,
    )
    if label_spec is None:
        return inputs
    label = rows["label"]
    return inputs, tf.cast(label, tf.int32) if label.dtype == tf.int64 else label


def build_cache_dataset(
    records_paths: Sequence[str],
    num_rows: int,
    preprocessor,
    batch_size: int,
    pad_to_whole_batches: bool = False,
    sort_window: int = 0,
) -> tf.data.Dataset:
    """Batches of model inputs read from a feature cache's rows, in input
    order or, with `sort_window`, shortest first within windows.

    The rows stream from disk (`app.feature_cache`), so memory does not grow
    with their number; each batch is padded as `build_inference_dataset`'s.
    With `sort_window`, each window of that many rows runs shortest first,
    so a batch pads to a length near its own rows' (`length_order` gives the
    order the outputs come in). With `pad_to_whole_batches` (TPUs), the last
    batch is filled with empty examples; the caller keeps only the first
    `num_rows` predictions.
    """
    rows = tf.data.TFRecordDataset(records_paths)
    if sort_window:
        rows = rows.batch(sort_window).map(plain_ops(shortest_first)).unbatch()
    if pad_to_whole_batches:
        empty = serialize_row(
            [preprocessor.cls_token_id, preprocessor.sep_token_id], [0, 0]
        )
        filler = tf.data.Dataset.from_tensors(empty).repeat(-num_rows % batch_size)
        rows = rows.concatenate(filler)

    static_batch_size = batch_size if pad_to_whole_batches else None
    return (
        rows.batch(batch_size, drop_remainder=pad_to_whole_batches)
        .map(
            plain_ops(
                lambda serialized: parse_rows(
                    serialized, preprocessor, static_batch_size
                )
            ),
            num_parallel_calls=AUTOTUNE,
        )
        .apply(prefetch_without_autotuning)
        .apply(shard_by_data)
    )


def row_lengths(serialized: tf.Tensor) -> tf.Tensor:
    """(n,) serialized rows -> (n,) int64 packed lengths."""
    length = {"length": tf.io.FixedLenFeature([], tf.int64)}
    return tf.io.parse_example(serialized, length)["length"]


def shortest_first(window: tf.Tensor) -> tf.Tensor:
    """(window,) serialized rows, shortest first; equal lengths in input order."""
    return tf.gather(window, tf.argsort(row_lengths(window), stable=True))


def length_order(records_paths: Sequence[str], sort_window: int) -> np.ndarray:
    """(num_rows,) the input position of each row `build_cache_dataset` reads
    with `sort_window`, in the order it reads them: one pass over the rows'
    lengths, 8 bytes a row in memory."""
    lengths = [
        batch.numpy()
        for batch in tf.data.TFRecordDataset(records_paths)
        .batch(1 << 16)
        .map(plain_ops(row_lengths))
    ]
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    windows = np.arange(len(lengths)) // sort_window
    return np.lexsort((lengths, windows))  # stable, as tf.argsort(stable=True)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Under several workers, each builds every batch and keeps its part.

    tf.data's default would shard a TFRecord dataset by file, which fails
    with fewer files than workers, and, with more, leaves a worker's batches
    out of step with the step count (`app.sharding` shards by file itself).
    Batches read from memory are sharded by data too.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = AutoShardPolicy.DATA
    return dataset.with_options(options)


def build_cache_train_dataset(
    cache: FeatureCache,
    preprocessor,
    batch_size: int,
    num_steps: int,
    seed: int,
    start_step: int = 0,
    bucket_by_length: bool = False,
    records_paths: Sequence[str] | None = None,
) -> tf.data.Dataset:
    """Batches of `(inputs, labels)` for steps `start_step..num_steps`.

    The rows stream from the cache, shuffled in a buffer of `SHUFFLE_BUFFER`
    rows (seeded by `seed`, reshuffled on each pass, so every epoch differs)
    and repeated; whole batches only. With `bucket_by_length`, each window of
    `WINDOW_BATCHES` batches is sorted by length, cut into batches, and those
    go out in a seeded random order (a window's last, partial batch is
    dropped). The batches are a pure function of the arguments: a resumed
    run skips the ones already trained and sees exactly the rest.

    `records_paths`: the cache's files this process reads (a worker's own,
    `app.sharding`); all of them by default (`shard_by_data`).
    """
    rows = (
        tf.data.TFRecordDataset(records_paths or cache.records_paths)
        .shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        .repeat()
    )
    if bucket_by_length:
        batches = (
            rows.batch(batch_size * WINDOW_BATCHES)
            .enumerate()
            .flat_map(
                plain_ops(
                    lambda index, window: similar_length_batches(
                        window, index, batch_size, seed
                    )
                )
            )
        )
    else:
        batches = rows.batch(batch_size, drop_remainder=True)
    return (
        batches.take(num_steps)
        .skip(start_step)
        .map(
            plain_ops(
                lambda serialized: parse_rows(
                    serialized, preprocessor, batch_size, cache.label_spec
                )
            ),
            num_parallel_calls=AUTOTUNE,
        )
        .apply(prefetch_without_autotuning)
        .apply(shard_by_data)
    )


def similar_length_batches(
    window: tf.Tensor, index: tf.Tensor, batch_size: int, seed: int
) -> tf.data.Dataset:
    """(window,) serialized rows -> batches of rows of similar length, in an
    order seeded by `seed` and the window's `index`."""
    order = tf.argsort(row_lengths(window), stable=True)
    usable = tf.size(order) // batch_size * batch_size
    batches = tf.reshape(tf.gather(window, order[:usable]), [-1, batch_size])
    shuffle_seed = tf.stack([tf.constant(seed, tf.int64), index])
    noise = tf.random.stateless_uniform([tf.shape(batches)[0]], seed=shuffle_seed)
    return tf.data.Dataset.from_tensor_slices(tf.gather(batches, tf.argsort(noise)))
