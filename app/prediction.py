"""Prediction on the test split: the original's test_results.tsv, predictions.tsv
and leaderboard files."""

import logging
import os

import numpy as np

from app import inference, phase_times
from app.config import RunConfig
from app.feature_cache import (
    WINDOW_BATCHES,
    FeatureCache,
    build_cache_dataset,
    length_order,
)
from app.input_pipeline import PackedExamples
from app.long_text import pool_documents
from app.results import (
    check_row_count,
    format_predictions,
    format_submission,
    format_test_results,
    prediction_lines,
    test_result_lines,
    write_lines_atomically,
    write_text_atomically,
)
from app.task_data import TaskData

logger = logging.getLogger(__name__)


@phase_times.timed("prediction")
def run_prediction(
    config: RunConfig, model, preprocessor, data: TaskData, threshold: float = 0.5
) -> str:
    """test_results.tsv as the original's, predictions.tsv, leaderboard files.

    `threshold`: multi-label runs predict each label whose probability
    reaches it.
    """
    if "test" in data.cached:
        return write_streamed_prediction(config, model, preprocessor, data, threshold)
    examples, processor = data.test, data.processor
    outputs = predict_split(
        model, data.packed["test"], preprocessor, config, "predict", processor
    )
    # The original's file holds the headline group only (MNLI: matched).
    headline = [
        index
        for index, example in enumerate(examples)
        if processor.headline_group in (None, example.group)
    ]
    path = os.path.join(config.output_dir, "test_results.tsv")
    write_text_atomically(path, format_test_results(outputs[headline], len(headline)))
    groups = {example.group for example in examples} - {None}
    write_text_atomically(
        os.path.join(config.output_dir, "predictions.tsv"),
        format_predictions(
            examples,
            outputs,
            data.labels,
            processor.group_name if groups else None,
            processor.output_kind,
            threshold,
            config.label_delimiter,
        ),
    )
    if config.glue_submission_dir:
        write_submission(config.glue_submission_dir, processor, examples, outputs)
    return path


def write_streamed_prediction(
    config: RunConfig, model, preprocessor, data: TaskData, threshold: float
) -> str:
    """test_results.tsv and predictions.tsv of a streamed test split.

    Rows come from its feature cache and ids from the cache's ids.txt; only
    the (num_examples, outputs) array is held in memory, and the files are
    written line by line. The csv task, the one that streams, has no test
    groups and no leaderboard files.
    """
    cache, processor = data.cached["test"], data.processor
    outputs = predict_cache(model, cache, preprocessor, config, "predict", processor)
    path = os.path.join(config.output_dir, "test_results.tsv")
    check_row_count(outputs, cache.num_examples)
    write_lines_atomically(path, test_result_lines(outputs))
    lines = prediction_lines(
        cache.read_ids(),
        outputs,
        data.labels,
        output_kind=processor.output_kind,
        threshold=threshold,
        label_delimiter=config.label_delimiter,
    )
    write_lines_atomically(os.path.join(config.output_dir, "predictions.tsv"), lines)
    return path


def predict_cache(
    model,
    cache: FeatureCache,
    preprocessor,
    config: RunConfig,
    mode: str,
    processor,
) -> np.ndarray:
    """`predict_split` for a split's feature cache ("eval" or "predict"): its
    rows read from disk, padded per batch, shortest first within windows of
    `WINDOW_BATCHES` batches; outputs in input order."""
    batch_size = config.eval_batch_size if mode == "eval" else config.predict_batch_size
    log_start(mode, cache.num_examples, cache.num_rows, batch_size, model)
    # Fixed shapes (TPUs) gain nothing from sorting.
    sort_window = 0 if config.pads_statically else batch_size * WINDOW_BATCHES
    dataset = build_cache_dataset(
        cache.records_paths,
        cache.num_rows,
        preprocessor,
        batch_size,
        pad_to_whole_batches=config.uses_tpu,
        sort_window=sort_window,
    )
    outputs = inference.predict_probabilities(model, dataset, cache.num_rows)
    if sort_window:
        in_input_order = np.empty_like(outputs)
        in_input_order[length_order(cache.records_paths, sort_window)] = outputs
        outputs = in_input_order
    document_ids = cache.read_array("document_ids")
    if document_ids is None:
        return outputs
    return pool_documents(
        outputs, document_ids, config.chunk_pooling, processor.output_kind
    )


def write_submission(
    submission_dir: str, processor, examples: list, outputs: np.ndarray
) -> list[str]:
    """The leaderboard file of each test group, e.g. MNLI-m.tsv and MNLI-mm.tsv."""
    paths = []
    for group in dict.fromkeys(example.group for example in examples):
        name = processor.submission_file(group)
        if name is None:
            logger.warning(
                "No leaderboard file for %s test group %s.", processor.name, group
            )
            continue
        rows = [
            index for index, example in enumerate(examples) if example.group == group
        ]
        path = os.path.join(submission_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = format_submission(
            [examples[index] for index in rows],
            outputs[rows],
            processor.get_labels(),
            processor.submission_format,
            processor.output_kind,
        )
        write_text_atomically(path, text)
        paths.append(path)
    logger.info("Wrote leaderboard files: %s", ", ".join(paths))
    return paths


def predict_split(
    model,
    packed: PackedExamples,
    preprocessor,
    config: RunConfig,
    mode: str,
    processor,
) -> np.ndarray:
    """The outputs of one packed split ("eval" or "predict"), logged as it starts.

    One row per example, in input order: with `--long_text=chunks`, each
    example's windows are scored and pooled (`--chunk_pooling`).
    """
    batch_size = config.eval_batch_size if mode == "eval" else config.predict_batch_size
    log_start(mode, packed.num_examples, len(packed), batch_size, model)
    outputs = inference.predict_outputs(
        model,
        packed,
        preprocessor,
        batch_size,
        # TPUs need whole batches; shapes there are fixed, so order is moot.
        pad_to_whole_batches=config.uses_tpu,
        sort_by_length=not config.pads_statically,
    )
    if packed.document_ids is None:
        return outputs
    return pool_documents(
        outputs, packed.document_ids, config.chunk_pooling, processor.output_kind
    )


def log_start(
    mode: str, num_examples: int, num_rows: int, batch_size: int, model
) -> None:
    logger.info(
        "***** Running %s *****\n  Num examples = %d (%d rows)\n  Batch size = %d"
        "\n  Batches at once = %d",
        "evaluation" if mode == "eval" else "prediction",
        num_examples,
        num_rows,
        batch_size,
        inference.batches_at_once(model),
    )
