"""Evaluation on the dev split: the task's metrics, and eval_results.txt/.json."""

import logging
import os

import numpy as np

from app import phase_times, training
from app.callbacks import write_scalars
from app.config import RunConfig
from app.metrics import metrics_from_targets, scalar_metrics
from app.multi_label import resolve_threshold
from app.prediction import predict_cache, predict_split
from app.results import format_eval_json, format_eval_results, write_text_atomically
from app.task_data import TaskData
from tasks import OutputKind
from tasks.dataset import build_targets

logger = logging.getLogger(__name__)


@phase_times.timed("evaluation")
def run_evaluation(config: RunConfig, model, preprocessor, data: TaskData) -> str:
    """eval_results.txt (the original's keys and the task's) and .json."""
    metrics = evaluate_dev(config, model, preprocessor, data)
    write_scalars(
        os.path.join(config.output_dir, "logs", "eval"),
        scalar_metrics(metrics),
        metrics["global_step"],
    )
    logger.info("***** Eval results *****\n%s", format_eval_results(metrics))
    path = os.path.join(config.output_dir, "eval_results.txt")
    write_text_atomically(path, format_eval_results(metrics))
    json_path = os.path.join(config.output_dir, "eval_results.json")
    write_text_atomically(json_path, format_eval_json(metrics))
    return path


@phase_times.timed("evaluation")  # also those during training
def evaluate_dev(config: RunConfig, model, preprocessor, data: TaskData) -> dict:
    """The task's metrics on the dev set for the model's current weights.

    The dev set was packed once for the run (`data.packed`), or streamed into
    its feature cache (`data.cached`); evaluations during training reuse it.
    Multi-label runs decide at `--multi_label_threshold`, or with `tuned` at
    the threshold best on these outputs (`eval_threshold`).
    """
    outputs, targets, groups = dev_outputs_and_targets(
        config, model, preprocessor, data
    )
    threshold = 0.5
    if data.processor.output_kind is OutputKind.LABELS:
        threshold = resolve_threshold(config, outputs, targets)
    metrics = metrics_from_targets(
        data.processor,
        targets,
        outputs,
        data.labels,
        config.eval_batch_size,
        threshold=threshold,
        groups=groups,
    )
    metrics["global_step"] = training.global_step(model)
    return metrics


def dev_outputs_and_targets(config: RunConfig, model, preprocessor, data: TaskData):
    """The model's dev outputs, the true targets and each example's group
    (None for a streamed split: the csv task has no groups), in input order.

    A streamed dev split's rows and labels come from its feature cache: no
    example is held in memory.
    """
    processor = data.processor
    if "dev" in data.cached:
        cache = data.cached["dev"]
        outputs = predict_cache(model, cache, preprocessor, config, "eval", processor)
        return outputs, cache.read_labels(), None
    outputs = predict_split(
        model, data.packed["dev"], preprocessor, config, "eval", processor
    )
    targets = build_targets(data.dev, data.labels, processor.output_kind)
    groups = np.asarray([example.group for example in data.dev], dtype=object)
    return outputs, targets, groups
