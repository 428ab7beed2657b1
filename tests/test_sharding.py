"""A training split of several files: a TFRecord per file in its feature cache,
and under several workers each worker reads its own files."""

import logging

import numpy as np
import pytest
import tensorflow as tf

from app import sharding, streaming
from app.feature_cache import FeatureCache, build_cache_dataset
from app.runner import read_task_data
from tests.test_streaming import config, sentence, tiny_preprocessor


def cache_of(file_rows: list[int]) -> FeatureCache:
    num_files = len(file_rows)
    return FeatureCache(
        directory="cache",
        split="train",
        num_examples=sum(file_rows),
        num_rows=sum(file_rows),
        data_sha256="",
        record_files=[
            f"rows-{i:05d}-of-{num_files:05d}.tfrecord" for i in range(num_files)
        ],
        file_rows=file_rows,
    )


def test_each_worker_reads_every_nth_file_that_holds_rows():
    cache = cache_of([3, 0, 2, 4, 1])  # file 1 lost its rows to a sample limit
    names = [path.split("/")[-1][5:10] for path in cache.records_paths]
    assert names == ["00000", "00001", "00002", "00003", "00004"]

    def files(num_workers, worker_index):
        paths = sharding.worker_files(cache, num_workers, worker_index)
        return None if paths is None else [int(p.split("/")[-1][5:10]) for p in paths]

    assert [files(2, w) for w in range(2)] == [[0, 3], [2, 4]]
    assert [files(3, w) for w in range(3)] == [[0, 4], [2], [3]]
    assert [files(4, w) for w in range(4)] == [[0], [2], [3], [4]]
    assert files(5, 0) is None  # fewer files with rows than workers: no sharding
    assert files(1, 0) == [0, 2, 3, 4]


def write_parts(folder, rows_per_file=(6, 10, 8)):
    """train-N.csv: file N's rows are labelled `fN` and hold N + 2 words."""
    folder.mkdir(parents=True)
    for index, num_rows in enumerate(rows_per_file):
        lines = ["text,label"] + [
            f"{sentence(row, index + 2)},f{index}" for row in range(num_rows)
        ]
        (folder / f"train-{index}.csv").write_text("\n".join(lines) + "\n")
    return folder


def cached_training_split(tmp_path, huggingface_dir, **overrides):
    settings = dict(
        do_train=True,
        do_predict=False,
        train_file="train-*.csv",
        labels="f0,f1,f2",
        id_column=None,
        data_in_memory="false",
    )
    run_config = config(
        write_parts(tmp_path / "data"), tmp_path, **(settings | overrides)
    )
    data = read_task_data(run_config)
    data = streaming.cache_streamed_splits(
        run_config, data, tiny_preprocessor(huggingface_dir), str(tmp_path / "caches")
    )
    return data.cached["train"]


def test_a_split_of_several_files_is_cached_file_by_file(tmp_path, huggingface_dir):
    cache = cached_training_split(tmp_path, huggingface_dir)
    assert cache.record_files == [f"rows-0000{i}-of-00003.tfrecord" for i in range(3)]
    assert cache.file_rows == [6, 10, 8]
    np.testing.assert_array_equal(cache.read_labels(), [0] * 6 + [1] * 10 + [2] * 8)
    # Read back in input order across the files: [CLS] N + 2 words [SEP].
    preprocessor = tiny_preprocessor(huggingface_dir)
    dataset = build_cache_dataset(cache.records_paths, 24, preprocessor, 5)
    lengths = np.concatenate([b["padding_mask"].numpy().sum(1) for b in dataset])
    np.testing.assert_array_equal(lengths, [4] * 6 + [5] * 10 + [6] * 8)


class TwoWorkers:
    """Worker 1 of 2, one replica each: what `build_worker_train_dataset`
    reads of a MultiWorkerMirroredStrategy (its datasets are built by
    `distribute_datasets_from_function` from the worker's InputContext)."""

    def distribute_datasets_from_function(self, dataset_fn):
        return dataset_fn(tf.distribute.InputContext(2, 1, 2))


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setattr(sharding, "num_workers_of", lambda strategy: 2)


def test_one_process_is_one_worker():
    assert sharding.num_workers_of(tf.distribute.get_strategy()) == 1


def test_a_worker_trains_on_its_own_files_only(tmp_path, huggingface_dir, two_workers):
    cache = cached_training_split(tmp_path, huggingface_dir)
    preprocessor = tiny_preprocessor(huggingface_dir)

    def batches(start_step):
        dataset = sharding.build_worker_train_dataset(
            TwoWorkers(), cache, preprocessor, 4, 10, seed=1, start_step=start_step
        )
        return [labels.numpy().tolist() for _, labels in dataset]

    unbroken = batches(0)
    # Worker 1 reads file 1 alone (labelled f1: class 1), 2 rows per step.
    assert len(unbroken) == 10
    assert {len(batch) for batch in unbroken} == {2}
    assert {label for batch in unbroken for label in batch} == {1}
    assert batches(4) == unbroken[4:]  # a resumed run gets the rest


def test_too_few_files_for_the_workers_read_the_whole_cache(
    tmp_path, huggingface_dir, caplog, two_workers
):
    cache = cached_training_split(tmp_path, huggingface_dir, max_train_samples=6)
    assert cache.file_rows == [6, 0, 0]
    with caplog.at_level(logging.INFO, logger="app.sharding"):
        dataset = sharding.build_worker_train_dataset(
            TwoWorkers(), cache, tiny_preprocessor(huggingface_dir), 4, 3, seed=1
        )
    assert "Every worker reads the whole training cache" in caplog.text
    assert [int(labels.shape[0]) for _, labels in dataset] == [4, 4, 4]
