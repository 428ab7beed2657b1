"""Which splits stream, and their feature caches, built or reused before the run.

Small files are read into memory, which is fastest. Each split of the csv
task streams when its files are bigger than `STREAM_BYTES` (or always, with
--data_in_memory=false): its rows are read one at a time and packed in chunks
into a feature cache on disk (`app.feature_cache`), and training, evaluation
and prediction read them back from there, so memory does not grow with the
number of rows. The cache is
built before output_dir is locked: a bad row stops the run naming its file
and line, and an earlier run's files are untouched.
"""

import contextlib
import dataclasses
import itertools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

import tasks
from app import phase_times
from app.config import SAMPLE_LIMITS, RunConfig
from app.feature_cache import (
    FeatureCache,
    build_feature_cache,
    cache_key,
    open_feature_cache,
)
from app.output_dir import make_folders, remove_if_empty
from app.task_data import TaskData

logger = logging.getLogger(__name__)

STREAM_BYTES = 64 * 2**20  # --data_in_memory=auto streams bigger splits
STREAMABLE_SPLITS = ("train", "dev", "test")


def streams_split(config: RunConfig, processor, split: str) -> bool:
    """Whether `split` streams; logged, with its size, for the csv task.

    Raises:
        DataError: the split's flag names no file.
    """
    if split not in STREAMABLE_SPLITS or not isinstance(processor, tasks.CsvProcessor):
        return False
    paths = processor.find_files(config.data_dir or "", split)
    size = sum(os.path.getsize(path) for path in paths)
    if config.data_in_memory == "auto":
        streams = size > STREAM_BYTES
    else:
        streams = config.data_in_memory == "false"
    logger.info(
        "Reading %s %s: %.1f MB in %d file(s) (--data_in_memory=%s).",
        split,
        "as a stream" if streams else "in memory",
        size / 2**20,
        len(paths),
        config.data_in_memory,
    )
    return streams


@contextlib.contextmanager
def feature_cache_root(config: RunConfig):
    """Yields where feature caches go: --feature_cache_dir (default
    OUTPUT_DIR/feature_cache), or with --feature_cache=false a temporary
    folder removed on the way out."""
    if config.feature_cache:
        yield config.feature_cache_path
        return
    root = tempfile.mkdtemp(prefix="feature_cache-")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@phase_times.timed("pack")
def cache_streamed_splits(
    config: RunConfig,
    data: TaskData,
    preprocessor,
    root: str,
    splits=("train", "dev", "test"),
) -> TaskData:
    """`data` with a feature cache, built or reused, for each streamed split
    among `splits`."""
    cached = {
        split: cache_split(config, data, preprocessor, root, split)
        for split in data.streamed
        if split in splits
    }
    return dataclasses.replace(data, cached=cached)


def cache_split(
    config: RunConfig, data: TaskData, preprocessor, root: str, split: str
) -> FeatureCache:
    """The split's cache in `root`: reused when its key matches, else built."""
    processor = data.processor
    paths = processor.find_files(config.data_dir or "", split)
    limit = getattr(config, SAMPLE_LIMITS[split])
    settings = cache_settings(config, data, split, limit)
    directory = os.path.join(root, cache_key(paths, preprocessor.vocabulary, settings))
    cache = open_feature_cache(directory)
    if cache is not None:
        logger.info(
            "Reusing the feature cache %s: %d %s examples (%d rows).",
            directory,
            cache.num_examples,
            split,
            cache.num_rows,
        )
        return cache
    examples = processor.iter_examples_by_file(config.data_dir or "", split)
    examples = first_streamed_samples(examples, config, split)
    logger.info("Building the feature cache %s of the %s split.", directory, split)
    made = make_folders(root)
    try:
        cache = build_feature_cache(
            directory,
            split,
            examples,
            preprocessor,
            processor.is_pair,
            None if split == "test" else data.labels,  # test labels: placeholders
            processor.output_kind,
            num_files=len(paths),
        )
    except BaseException:
        remove_if_empty(made)  # a bad row leaves output_dir as it was
        raise
    logger.info(
        "Cached %d %s examples (%d rows) in %s.",
        cache.num_examples,
        split,
        cache.num_rows,
        directory,
    )
    return cache


def first_streamed_samples(
    examples: Iterator, config: RunConfig, split: str
) -> Iterator:
    """The first `--max_*_samples` examples of a streamed split (all when 0),
    or of its `(file_index, example)` pairs."""
    limit = getattr(config, SAMPLE_LIMITS[split])
    if not limit:
        return examples
    logger.info(
        "Keeping the first %d %s examples (--%s=%d).",
        limit,
        split,
        SAMPLE_LIMITS[split],
        limit,
    )
    return itertools.islice(examples, limit)


def cache_settings(config: RunConfig, data: TaskData, split: str, limit: int) -> dict:
    """What a split's packed rows depend on besides its files and vocabulary."""
    return {
        "split": split,
        "task": data.processor.name,
        "task_options": dataclasses.asdict(config.task_options()),
        "labels": list(data.labels),
        "do_lower_case": config.do_lower_case,
        "max_seq_length": config.max_seq_length,
        "long_text": config.long_text,
        "doc_stride": config.doc_stride,
        "limit": limit,
    }
