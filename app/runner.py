"""One run, top to bottom: read, build, train, evaluate, predict, export."""

import dataclasses
import json
import logging
import os
import shutil

import keras
import numpy as np
import tensorflow as tf

import tasks
from app import inference, run_record, seeds, training
from app.callbacks import PeriodicEvaluation, batches_done, write_scalars
from app.config import RunConfig, label_list, validate
from app.errors import ConfigError
from app.export import export_saved_model
from app.input_pipeline import build_train_dataset, pack_examples
from app.metrics import main_metric_key, scalar_metrics, task_metrics
from app.optimization import count_train_steps
from app.preprocessing import ClassifierPreprocessor
from app.reporting import (
    build_data_report,
    format_data_report,
    format_data_report_json,
)
from app.results import (
    format_eval_json,
    format_eval_results,
    format_predictions,
    format_submission,
    format_test_results,
    write_text_atomically,
)
from app.strategy import (
    build_strategy,
    is_chief,
    resolve_inference_precision,
    resolve_pad_to_multiple_of,
    resolve_precision,
)
from checkpoints import (
    load_backbone,
    read_pretrained,
    validate_case_matches_checkpoint,
)
from tasks.dataset import build_dataset

logger = logging.getLogger(__name__)
BEST_STATE_NAME = "best_checkpoint.json"


@dataclasses.dataclass
class TaskData:
    """The examples of each split the run asked for (None where not asked)."""

    processor: tasks.DataProcessor
    labels: list[str]
    train: list | None
    dev: list | None
    test: list | None

    def splits(self) -> dict:
        """The splits that were read, by name."""
        names = ("train", "dev", "test")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    @property
    def num_labels(self) -> int:
        """Model outputs: one per class, or one score for regression."""
        return 1 if self.processor.is_regression else len(self.labels)


@dataclasses.dataclass
class Session:
    """What the steps of one run share once the model is built."""

    config: RunConfig
    strategy: tf.distribute.Strategy
    model: keras.Model
    preprocessor: ClassifierPreprocessor
    manager: tf.train.CheckpointManager
    is_chief: bool


def run_all(config: RunConfig) -> dict:
    """One run, or `--num_seeds` runs and the summary of their metrics."""
    config = validate(config)
    validate_case_matches_checkpoint(config.do_lower_case, config.init_checkpoint)
    # Built first: multi-worker collectives must exist before other TF work.
    strategy = build_strategy(
        config.strategy,
        config.use_tpu,
        config.tpu_name,
        config.tpu_zone,
        config.gcp_project,
        config.master,
    )
    if config.num_seeds == 1:
        return run(config, strategy)
    runs = seeds.seed_configs(config)
    outputs = {f"seed_{c.seed}": run(c, strategy) for c in runs}
    if config.do_eval and is_chief(strategy):
        results = [seeds.read_eval_json(c.output_dir) for c in runs]
        outputs["seed_summary"] = seeds.write_summary(
            config.output_dir, results, [c.seed for c in runs]
        )
    return outputs


def run(config: RunConfig, strategy: tf.distribute.Strategy) -> dict:
    """Runs every step the config asks for; returns the paths written."""
    # Everything that can fail on user input is read before training starts.
    check_accumulation_replicas(config, strategy)
    data = read_task_data(config)
    pretrained = read_pretrained(
        config.init_checkpoint,
        config.vocab_file,
        bert_config_file=config.bert_config_file,
    )
    check_sequence_length(config.max_seq_length, pretrained.max_sequence_length)
    data_hashes = {
        split: run_record.hash_examples(examples)
        for split, examples in data.splits().items()
    }
    run_record.prepare_output_dir(config, run_record.run_identity(config, data_hashes))
    session = build_session(config, strategy, pretrained, data)
    if config.do_train and session.is_chief:
        record = run_record.build_record(
            config, data_hashes, run_record.hash_checkpoint(config.init_checkpoint)
        )
        run_record.write_record(config.output_dir, record)
    return run_steps(session, data)


def check_accumulation_replicas(
    config: RunConfig, strategy: tf.distribute.Strategy
) -> None:
    """Keras accumulates gradients only on a single replica.

    Under MirroredStrategy or MultiWorkerMirroredStrategy its accumulation
    step calls `merge_call` inside a `cond` and fails while tracing.
    """
    replicas = strategy.num_replicas_in_sync
    if config.do_train and config.gradient_accumulation_steps > 1 and replicas > 1:
        raise ConfigError(
            f"--gradient_accumulation_steps={config.gradient_accumulation_steps} "
            f"works on a single replica only; this run has {replicas} "
            f"({type(strategy).__name__}). Use --gradient_accumulation_steps=1: "
            "the replicas already split --train_batch_size between them."
        )


def build_session(config, strategy, pretrained, data: TaskData) -> Session:
    """Builds preprocessing, model and optimizer, and restores the last step."""
    configure_determinism(config)
    keras.mixed_precision.set_global_policy(
        resolve_precision(config.precision, strategy)
    )
    preprocessor = ClassifierPreprocessor(
        pretrained.vocabulary,
        sequence_length=config.max_seq_length,
        do_lower_case=config.do_lower_case,
        trim_to_longest=not config.pads_statically,
        pad_to_multiple_of=resolve_pad_to_multiple_of(
            config.pad_to_multiple_of, config.pads_statically, config.jit_compile
        ),
    )
    num_train_steps = train_steps(config, data)
    with strategy.scope():
        model = training.build_trainable_classifier(
            lambda: load_backbone(pretrained),
            num_labels=data.num_labels,
            learning_rate=config.learning_rate,
            num_train_steps=max(num_train_steps, 1),
            num_warmup_steps=int(num_train_steps * config.warmup_proportion),
            steps_per_execution=config.iterations_per_loop if config.uses_tpu else 1,
            dropout=config.classifier_dropout,
            jit_compile=config.jit_compile,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            builds_optimizer_state=config.do_train,
        )
    chief = is_chief(strategy)
    checkpoint_dir = config.output_dir if chief else worker_scratch_dir(config)
    manager = training.build_checkpoint_manager(model, checkpoint_dir)
    training.restore_latest(manager)
    return Session(config, strategy, model, preprocessor, manager, chief)


def run_steps(session: Session, data: TaskData) -> dict:
    """Train, evaluate, predict and export, as asked; only the chief writes."""
    config, outputs = session.config, {}
    if session.is_chief:
        outputs.update(write_data_files(config, data, session.preprocessor))
    if config.do_train:
        run_training(session, data)
        outputs["checkpoint"] = session.manager.latest_checkpoint
    if not session.is_chief:
        remove_worker_scratch_dir(session.manager.directory)
        return outputs
    if config.do_train:
        restore_best(session)
    # Runs that picked a checkpoint by evaluating during training evaluate it
    # again in the same precision, so the results match the choice.
    training_precision = keras.mixed_precision.global_policy().name
    inference_precision = training_precision
    if (config.do_eval or config.do_predict) and not config.evaluates_during_training:
        inference_precision = resolve_inference_precision(
            config.precision, training_precision
        )
    infers_in_other_precision = inference_precision != training_precision
    if infers_in_other_precision or isinstance(
        session.strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):
        session.model = training.single_process_copy(
            session.model, inference_precision if infers_in_other_precision else None
        )
    if config.do_eval:
        outputs["eval_results"] = run_evaluation(
            config, session.model, session.preprocessor, data
        )
    if config.do_predict:
        outputs["test_results"] = run_prediction(
            config, session.model, session.preprocessor, data
        )
    if config.do_train or config.export_dir:
        export_dir = config.export_dir or os.path.join(config.output_dir, "export")
        outputs["export"] = export_saved_model(
            session.model, session.preprocessor, export_dir, data.processor.is_pair
        )
    for name, path in outputs.items():
        logger.info("Wrote %s: %s", name, path)
    return outputs


def remove_worker_scratch_dir(scratch_dir: str) -> None:
    shutil.rmtree(scratch_dir, ignore_errors=True)
    try:
        os.rmdir(os.path.dirname(scratch_dir))  # the shared parent, once empty
    except OSError:
        pass


def configure_determinism(config: RunConfig) -> None:
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


def train_steps(config: RunConfig, data: TaskData) -> int:
    """The original's step count, in optimizer steps."""
    return count_train_steps(
        len(data.train or []), config.train_batch_size, config.num_train_epochs
    )


def worker_scratch_dir(config: RunConfig) -> str:
    """Non-chief workers join every save, but into a scratch folder."""
    return os.path.join(config.output_dir, "workers", f"worker-{os.getpid()}")


def read_task_data(config: RunConfig) -> TaskData:
    """Reads the splits the run needs, failing on bad data before any work.

    Training data is read first: a task whose labels come from the data
    (`csv`) settles its label list from it (or from --labels, or the
    labels.txt of an earlier run) before dev and test labels are checked.
    """
    processor = tasks.get_processor(config.task_name, task_options(config))
    data_dir = config.data_dir or ""
    train = processor.get_examples(data_dir, "train") if config.do_train else None
    saved_labels_path = os.path.join(config.output_dir, tasks.LABELS_FILE)
    if config.do_train and config.overwrite_output_dir:
        saved_labels_path = None  # The earlier run's files are being replaced.
    processor = processor.resolve_labels(train, saved_labels_path)

    def read(split: str, wanted: bool):
        return processor.get_examples(data_dir, split) if wanted else None

    data = TaskData(
        processor=processor,
        labels=processor.get_labels(),
        train=train,
        dev=read("dev", config.do_eval),
        test=read("test", config.do_predict),
    )
    for split in ("train", "dev", "test"):
        examples = getattr(data, split)
        if examples is not None:
            logger.info("Read %d %s examples.", len(examples), split)
    return data


def check_sequence_length(max_seq_length: int, max_position_embeddings: int) -> None:
    if max_seq_length > max_position_embeddings:
        raise ConfigError(
            f"Cannot use sequence length {max_seq_length} because the BERT model "
            f"was only trained up to sequence length {max_position_embeddings}. "
            f"Pass --max_seq_length={max_position_embeddings} or less."
        )


def run_training(session: Session, data: TaskData) -> None:
    config, examples = session.config, data.train
    if len(examples) < config.train_batch_size:
        raise ConfigError(
            f"The training set has {len(examples)} examples, fewer than one batch "
            f"(--train_batch_size={config.train_batch_size}). Lower "
            "--train_batch_size or add training data."
        )
    num_train_steps = train_steps(config, data)
    # --train_batch_size is the batch of one update; with accumulation, each
    # update averages the gradients of `accumulation` smaller batches.
    accumulation = config.gradient_accumulation_steps
    batch_size = config.train_batch_size // accumulation
    labelled = build_dataset(examples, data.labels, data.processor.is_pair)
    dataset = build_train_dataset(
        pack_examples(labelled, session.preprocessor),
        session.preprocessor,
        batch_size,
        num_steps=num_train_steps * accumulation,
        seed=config.seed,
        start_step=batches_done(session.model),
        # Length buckets cut padding; fixed shapes (TPU) gain nothing from them.
        bucket_by_length=config.bucket_by_length and not config.pads_statically,
    )
    replicas = session.strategy.num_replicas_in_sync
    logger.info(
        "***** Running training *****\n  Num examples = %d\n  Batch size = %d "
        "(%d per replica, %d batch(es) per update)\n  Num steps = %d (from %d)",
        len(examples),
        config.train_batch_size,
        batch_size // replicas,
        accumulation,
        num_train_steps,
        training.global_step(session.model),
    )
    evaluation = periodic_evaluation(session, data)
    if evaluation is not None and evaluation.stopped_early:
        logger.info(
            "Stopped early at step %d before; not training.", evaluation.last_step or 0
        )
        return
    training.train(
        session.model,
        dataset,
        num_train_steps,
        steps_per_epoch=len(examples) // batch_size,
        manager=session.manager,
        log_dir=os.path.join(config.output_dir, "logs", "train"),
        save_checkpoints_steps=config.save_checkpoints_steps,
        extra_callbacks=(evaluation,) if evaluation else (),
    )


def periodic_evaluation(session: Session, data: TaskData):
    """The callback that evaluates while training and keeps the best, if asked."""
    config = session.config
    if not config.evaluates_during_training:
        return None
    best_dir = os.path.join(
        config.output_dir if session.is_chief else session.manager.directory, "best"
    )
    return PeriodicEvaluation(
        evaluate=lambda: evaluate_dev(
            config, session.model, session.preprocessor, data
        ),
        metric_key=main_metric_key(data.processor),
        best_manager=training.build_checkpoint_manager(
            session.model, best_dir, max_to_keep=1
        ),
        every_n_steps=config.eval_every_steps,
        every_epoch=config.eval_every_epoch,
        patience=config.early_stopping_patience,
        log_dir=os.path.join(config.output_dir, "logs", "eval"),
        state_path=os.path.join(best_dir, BEST_STATE_NAME),
    )


def restore_best(session: Session) -> None:
    """Final results and export come from the best checkpoint, when one is kept."""
    best_dir = os.path.join(session.config.output_dir, "best")
    state_path = os.path.join(best_dir, BEST_STATE_NAME)
    latest = tf.train.latest_checkpoint(best_dir)
    if not session.config.evaluates_during_training or latest is None:
        logger.info("Final results come from %s.", session.manager.latest_checkpoint)
        return
    session.manager.checkpoint.restore(latest).expect_partial()
    with open(state_path, encoding="utf-8") as file:
        state = json.load(file)
    logger.info(
        "Final results and export come from the best checkpoint %s (%s = %.4f).",
        latest,
        state["metric_key"],
        state["best_value"],
    )


def run_evaluation(config, model, preprocessor, data: TaskData) -> str:
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


def evaluate_dev(config, model, preprocessor, data: TaskData) -> dict:
    """The task's metrics on the dev set for the model's current weights."""
    examples = data.dev
    dataset = build_dataset(examples, data.labels, data.processor.is_pair)
    outputs = _predict(model, preprocessor, dataset, len(examples), config, "eval")
    metrics = task_metrics(
        data.processor, examples, outputs, data.labels, config.eval_batch_size
    )
    metrics["global_step"] = training.global_step(model)
    return metrics


def run_prediction(config, model, preprocessor, data: TaskData) -> str:
    """test_results.tsv as the original's, predictions.tsv, leaderboard files."""
    examples = data.test
    dataset = build_dataset(
        examples, data.labels, data.processor.is_pair, with_labels=False
    )
    outputs = _predict(model, preprocessor, dataset, len(examples), config, "predict")
    processor = data.processor
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
            examples, outputs, data.labels, processor.group_name if groups else None
        ),
    )
    if config.glue_submission_dir:
        write_submission(config.glue_submission_dir, processor, examples, outputs)
    return path


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
        )
        write_text_atomically(path, text)
        paths.append(path)
    logger.info("Wrote leaderboard files: %s", ", ".join(paths))
    return paths


# === Tasks and outputs ===
def task_options(config: RunConfig) -> tasks.TaskOptions:
    """The task flags of the config, for the processor that reads them.

    Every TaskOptions field is a flag of the same name; `--labels` comes as
    typed and is split here.
    """
    names = [field.name for field in dataclasses.fields(tasks.TaskOptions)]
    values = {name: getattr(config, name) for name in names}
    return tasks.TaskOptions(**{**values, "labels": label_list(config)})


def write_data_files(config: RunConfig, data: TaskData, preprocessor) -> dict:
    """The data report (logged too) and, for the csv task, labels.txt."""
    processor = data.processor
    report = build_data_report(
        data.splits(),
        preprocessor,
        processor.is_pair,
        config.max_seq_length,
        task_name=processor.name,
        is_regression=processor.is_regression,
    )
    logger.info("%s", format_data_report(report))
    paths = {"data_report": os.path.join(config.output_dir, "data_report.json")}
    write_text_atomically(paths["data_report"], format_data_report_json(report))
    write_text_atomically(
        os.path.join(config.output_dir, "data_report.txt"), format_data_report(report)
    )
    if isinstance(processor, tasks.CsvProcessor):
        paths["labels"] = os.path.join(config.output_dir, tasks.LABELS_FILE)
        write_text_atomically(paths["labels"], tasks.format_label_file(data.labels))
    return paths


def _predict(model, preprocessor, dataset, num_examples, config, mode) -> np.ndarray:
    batch_size = config.eval_batch_size if mode == "eval" else config.predict_batch_size
    logger.info(
        "***** Running %s *****\n  Num examples = %d\n  Batch size = %d"
        "\n  Batches at once = %d",
        "evaluation" if mode == "eval" else "prediction",
        num_examples,
        batch_size,
        inference.batches_at_once(model),
    )
    return inference.predict_outputs(
        model,
        pack_examples(dataset, preprocessor),
        preprocessor,
        batch_size,
        # TPUs need whole batches; shapes there are fixed, so order is moot.
        pad_to_whole_batches=config.uses_tpu,
        sort_by_length=not config.pads_statically,
    )
