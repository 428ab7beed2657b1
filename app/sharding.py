"""Several workers training from one feature cache: each reads its own files.

A streamed training split of several input files is cached as one TFRecord
per file (`app.feature_cache`). Under MultiWorkerMirroredStrategy, worker `w`
of `n` reads the files `w, w + n, w + 2n, ...` of those that hold rows, and
each of its replicas trains on its share of the global batch from them:
no worker reads or parses rows another one trains on. With fewer such files
than workers, each worker reads every file and keeps its part of each batch
(Keras' sharding by data), as for a split of one file; the log says which.
"""

import logging

import tensorflow as tf

from app.feature_cache import FeatureCache, build_cache_train_dataset

logger = logging.getLogger(__name__)


def worker_files(
    cache: FeatureCache, num_workers: int, worker_index: int
) -> list[str] | None:
    """The cache's files worker `worker_index` of `num_workers` reads, or None
    where fewer files than workers hold rows (every worker reads them all)."""
    paths = [
        path
        for path, rows in zip(cache.records_paths, cache.file_rows)
        if rows  # a --max_train_samples limit may leave a file without rows
    ]
    if len(paths) < num_workers:
        return None
    return paths[worker_index::num_workers]


def num_workers_of(strategy: tf.distribute.Strategy) -> int:
    """Processes that feed the strategy's replicas (1 but for several workers)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    return strategy.num_replicas_in_sync // len(strategy.extended.worker_devices)


def build_worker_train_dataset(
    strategy: tf.distribute.Strategy,
    cache: FeatureCache,
    preprocessor,
    batch_size: int,
    num_steps: int,
    seed: int,
    start_step: int = 0,
    bucket_by_length: bool = False,
):
    """`build_cache_train_dataset`'s batches, each worker reading its own files.

    Returns a dataset of global batches of `batch_size` where the run has one
    worker or too few files, else a distributed dataset whose replicas each
    get `batch_size / replicas` rows per step from their worker's files.
    """
    num_workers = num_workers_of(strategy)
    arguments = dict(seed=seed, bucket_by_length=bucket_by_length)
    if num_workers == 1 or worker_files(cache, num_workers, 0) is None:
        if num_workers > 1:
            logger.info(
                "Every worker reads the whole training cache and keeps its part"
                " of each batch: %d file(s) hold rows, fewer than the %d workers.",
                sum(1 for rows in cache.file_rows if rows),
                num_workers,
            )
        return build_cache_train_dataset(
            cache, preprocessor, batch_size, num_steps, start_step=start_step,
            **arguments,
        )  # fmt: skip
    logger.info(
        "Each of the %d workers reads its own files of the training cache"
        " (%d files: worker w reads files w, w + %d, ...).",
        num_workers,
        len(cache.record_files),
        num_workers,
    )

    def worker_dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
        # One element per replica and step: a worker's replicas take turns.
        replicas = context.num_replicas_in_sync // context.num_input_pipelines
        paths = worker_files(
            cache, context.num_input_pipelines, context.input_pipeline_id
        )
        return build_cache_train_dataset(
            cache,
            preprocessor,
            context.get_per_replica_batch_size(batch_size),
            num_steps * replicas,
            start_step=start_step * replicas,
            records_paths=paths,
            **arguments,
        )

    return strategy.distribute_datasets_from_function(worker_dataset)
