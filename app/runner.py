"""One run, top to bottom: read, build, train, evaluate, predict, export."""

import collections
import contextlib
import dataclasses
import functools
import json
import logging
import os
import shutil

import keras
import tensorflow as tf

import tasks
from app import phase_times, run_record, seeds, training
from app.callbacks import PeriodicEvaluation, batches_done
from app.class_weights import describe as describe_class_weights
from app.class_weights import resolve_class_weights
from app.compat import check_accumulation_replicas
from app.config import NO_EXPORT, SAMPLE_LIMITS, SAVED_MODEL, RunConfig, validate
from app.errors import ConfigError
from app.evaluation import evaluate_dev, run_evaluation
from app.export import export_saved_model
from app.export_formats import check_format_dirs, export_formats
from app.input_pipeline import build_train_dataset
from app.metrics import main_metric_key
from app.multi_label import decision_threshold
from app.optimization import count_train_steps
from app.output_bias import describe as describe_output_bias
from app.output_bias import starting_output_bias
from app.output_dir import check_export_dir, claim, publish_export
from app.prediction import run_prediction
from app.preprocessing import ClassifierPreprocessor
from app.reporting import (
    build_data_report,
    format_data_report,
    format_data_report_json,
)
from app.results import write_text_atomically
from app.sharding import build_worker_train_dataset, num_workers_of
from app.strategy import (
    build_strategy,
    is_chief,
    resolve_inference_precision,
    resolve_pad_to_multiple_of,
    resolve_precision,
)
from app.streaming import (
    cache_streamed_splits,
    feature_cache_root,
    first_streamed_samples,
    streams_split,
)
from app.task_data import TaskData, pack_task_data, summarize_split
from checkpoints import (
    load_backbone,
    read_pretrained,
    validate_case_matches_checkpoint,
)
from tasks.custom import label_counts

logger = logging.getLogger(__name__)
BEST_STATE_NAME = "best_checkpoint.json"


@dataclasses.dataclass
class Session:
    """What the steps of one run share once the model is built."""

    config: RunConfig
    strategy: tf.distribute.Strategy
    model: keras.Model
    preprocessor: ClassifierPreprocessor
    manager: tf.train.CheckpointManager | None  # set by restore_checkpoints
    is_chief: bool
    # Built without the pretrained weights: the checkpoint must restore all.
    restores_every_weight: bool = False


def run_all(config: RunConfig) -> dict:
    """One run, or `--num_seeds` runs and the summary of their metrics."""
    config = validate(config)
    validate_case_matches_checkpoint(
        config.do_lower_case, config.init_checkpoint, config.allow_case_mismatch
    )
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
    # The parent folder holds the summary: locked and recorded like any output_dir.
    with claim(config.output_dir) if is_chief(strategy) else contextlib.nullcontext():
        return run_seeds(config, strategy)


def run_seeds(config: RunConfig, strategy: tf.distribute.Strategy) -> dict:
    """`--num_seeds` runs in OUTPUT_DIR/seed_N, then the summary of their metrics."""
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
    # Everything that can fail on user input, the weights included, is checked
    # before output_dir is made, locked or cleared: a failed run loses nothing.
    check_accumulation_replicas(config, strategy)
    data = read_task_data(config)
    check_training_set(config, data)
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
    if data.train_summary is not None:
        data_hashes["train"] = data.train_summary.data_sha256
    identity = run_record.run_identity(
        config,
        data_hashes,
        streams_training="train" in data.streamed,
        num_workers=num_workers_of(strategy),
    )
    run_record.check_output_dir(config, identity)
    if export_dir_of(config):
        check_export_dir(
            export_dir_of(config), config.output_dir, config.overwrite_output_dir
        )
    check_format_dirs(config.export_format_names, config.output_dir)
    preprocessor = build_preprocessor(config, pretrained)
    with feature_cache_root(config) as cache_root:
        # Streamed splits are cached before output_dir is locked: a bad row
        # stops the run as one read into memory does.
        splits = cached_splits(config, data, is_chief(strategy))
        data = cache_streamed_splits(config, data, preprocessor, cache_root, splits)
        data_hashes.update({s: c.data_sha256 for s, c in data.cached.items()})
        # Packed before the model is built: --long_text=chunks trains on
        # windows, so the step count comes from the packed rows.
        data = pack_task_data(data, preprocessor)
        session = build_session(config, strategy, pretrained, data, preprocessor)
        return run_session(session, data, identity, data_hashes)


def cached_splits(config: RunConfig, data: TaskData, chief: bool) -> tuple:
    """The streamed splits this process reads: every worker trains (and
    evaluates during training, a step all workers take); the chief alone
    evaluates at the end and predicts."""
    if chief:
        return data.streamed
    return ("train", "dev") if config.evaluates_during_training else ("train",)


def run_session(session: Session, data: TaskData, identity, data_hashes) -> dict:
    """Runs each step once the model is built; the chief holds output_dir."""
    config = session.config
    if not session.is_chief:  # it writes to a scratch folder of its own
        restore_checkpoints(session)
        return run_steps(session, data)
    # One run at a time in output_dir; what it writes is recorded there.
    with claim(config.output_dir):
        run_record.prepare_output_dir(config, identity)
        restore_checkpoints(session)
        if config.do_train:
            record = run_record.build_record(
                config,
                identity,
                data_hashes,
                run_record.hash_checkpoint(config.init_checkpoint),
            )
            record["class_weights"] = data.class_weights
            record["output_bias"] = data.output_bias  # None: zeros
            run_record.write_record(config.output_dir, record)
        return run_steps(session, data)


def export_dir_of(config: RunConfig) -> str | None:
    """Where the run exports its SavedModel, if it does."""
    if SAVED_MODEL not in config.export_format_names:
        return None
    if config.do_train or config.export_dir:
        return config.export_dir or os.path.join(config.output_dir, "export")
    return None


def build_preprocessor(config: RunConfig, pretrained) -> ClassifierPreprocessor:
    """The layer that tokenizes and packs every split, and runs in the export.

    Runs in one process with the same settings (`--num_seeds`, or `run_all`
    called again) share one: its tokenizing graphs are traced once per
    process, not once per run.
    """
    return shared_preprocessor(
        tuple(pretrained.vocabulary),
        sequence_length=config.max_seq_length,
        do_lower_case=config.do_lower_case,
        trim_to_longest=not config.pads_statically,
        pad_to_multiple_of=resolve_pad_to_multiple_of(
            config.pad_to_multiple_of, config.pads_statically, config.jit_compile
        ),
        long_text=config.long_text,
        doc_stride=config.doc_stride,
    )


@functools.lru_cache(maxsize=4)
def shared_preprocessor(vocabulary: tuple, **settings) -> ClassifierPreprocessor:
    """One `ClassifierPreprocessor` per vocabulary and settings (it holds no
    state a run changes: the vocabulary, its settings and traced graphs)."""
    return ClassifierPreprocessor(list(vocabulary), **settings)


@phase_times.timed("load")
def build_session(
    config, strategy, pretrained, data: TaskData, preprocessor
) -> Session:
    """Builds the model and optimizer with the pretrained weights.

    Reads nothing from output_dir: `restore_checkpoints` does, once it is locked.
    """
    configure_determinism(config)
    precision = resolve_precision(config.precision, strategy)
    if not config.do_train:  # built in the precision it runs in: no copy
        precision = inference_precision(config, precision)
    keras.mixed_precision.set_global_policy(precision)
    num_train_steps = train_steps(config, data)
    whole_checkpoint = restores_every_weight(config)
    with strategy.scope():
        model = training.build_trainable_classifier(
            lambda: load_backbone(pretrained, weights=not whole_checkpoint),
            num_labels=data.num_labels,
            output_kind=data.processor.output_kind,
            cpu_speedups=config.cpu_speedups,
            learning_rate=config.learning_rate,
            num_train_steps=max(num_train_steps, 1),
            num_warmup_steps=int(num_train_steps * config.warmup_proportion),
            steps_per_execution=config.iterations_per_loop if config.uses_tpu else 1,
            dropout=config.classifier_dropout,
            jit_compile=config.jit_compile,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            builds_optimizer_state=config.do_train,
            class_weights=list(data.class_weights.values())
            if data.class_weights
            else None,
            output_bias=list(data.output_bias.values()) if data.output_bias else None,
        )
    return Session(
        config,
        strategy,
        model,
        preprocessor,
        None,
        is_chief(strategy),
        restores_every_weight=whole_checkpoint,
    )


def restores_every_weight(config: RunConfig) -> bool:
    """A run that does not train restores every weight from output_dir's
    checkpoint, if it holds one: the pretrained weights need not be read."""
    if config.do_train:
        return False
    return tf.train.latest_checkpoint(config.output_dir) is not None


@phase_times.timed("load")
def restore_checkpoints(session: Session) -> None:
    """Opens the run's checkpoints and restores the last step, if any."""
    config = session.config
    checkpoint_dir = (
        config.output_dir if session.is_chief else worker_scratch_dir(config)
    )
    session.manager = training.build_checkpoint_manager(session.model, checkpoint_dir)
    # Without the pretrained weights, a weight the checkpoint lacks is an error.
    training.restore_latest(session.manager, complete=session.restores_every_weight)


def run_steps(session: Session, data: TaskData) -> dict:
    """Train, evaluate, predict and export, as asked; only the chief writes."""
    config, outputs = session.config, {}
    if session.is_chief:
        outputs.update(write_data_files(config, data))
    if config.do_train:
        outputs["checkpoint"] = train_and_keep_best(session, data)
    if not session.is_chief:
        remove_worker_scratch_dir(session.manager.directory)
        return outputs
    model = model_for_inference(session)
    if config.do_eval:
        outputs["eval_results"] = run_evaluation(
            config, model, session.preprocessor, data
        )
    threshold = None
    if data.processor.output_kind is tasks.OutputKind.LABELS:
        threshold = decision_threshold(config)
        logger.info("Multi-label threshold for predictions and export: %g", threshold)
    if config.do_predict:
        outputs["test_results"] = run_prediction(
            config, model, session.preprocessor, data, threshold
        )
    export_dir = export_dir_of(config)
    if export_dir:
        # Written beside export_dir, then renamed into place: a killed export
        # never leaves a broken model where a good one stood.
        outputs["export"] = publish_export(
            export_dir,
            config.output_dir,
            lambda path: export_saved_model(
                model,
                session.preprocessor,
                path,
                data.processor.is_pair,
                data.labels,
                data.processor.output_kind,
                threshold,
                config.label_delimiter,
                chunk_pooling=config.chunk_pooling,
            ),
        )
    # Hugging Face, keras-hub and ONNX, where --export_formats lists them.
    model_only = set(config.export_format_names) - {SAVED_MODEL, NO_EXPORT}
    if config.long_text != "truncate" and model_only:
        logger.warning(
            "--long_text=%s: the SavedModel cuts long texts as this run did; the "
            "%s export holds the model alone, and its preprocessing truncates.",
            config.long_text,
            ", ".join(sorted(model_only)),
        )
    outputs.update(
        export_formats(
            config.export_format_names,
            model,
            session.preprocessor,
            data.labels,
            data.processor.output_kind,
            config.output_dir,
            is_pair=data.processor.is_pair,
        )
    )
    for name, path in outputs.items():
        logger.info("Wrote %s: %s", name, path)
    return outputs


def train_and_keep_best(session: Session, data: TaskData) -> str:
    """Trains; the chief then restores the checkpoint final results come from.

    Returns the last checkpoint written by training.
    """
    run_training(session, data)
    if session.is_chief:
        restore_best(session)
    return session.manager.latest_checkpoint


def model_for_inference(session: Session) -> keras.Model:
    """The model that evaluates, predicts and exports: the trained one, or a copy.

    A copy in the inference precision where that differs from training's, and
    a single-process copy under MultiWorkerMirroredStrategy, where the chief
    evaluates and predicts alone.
    """
    training_precision = keras.mixed_precision.global_policy().name
    precision = inference_precision(session.config, training_precision)
    in_other_precision = precision != training_precision
    multi_worker = isinstance(
        session.strategy, tf.distribute.MultiWorkerMirroredStrategy
    )
    if not (in_other_precision or multi_worker):
        return session.model
    return training.single_process_copy(
        session.model,
        precision if in_other_precision else None,
        cpu_speedups=session.config.cpu_speedups,
    )


def inference_precision(config: RunConfig, training_precision: str) -> str:
    """The dtype policy of evaluation and prediction.

    Runs that picked a checkpoint by evaluating during training evaluate it
    again in the training precision, so the results match the choice.
    """
    if config.evaluates_during_training or not (config.do_eval or config.do_predict):
        return training_precision
    return resolve_inference_precision(config.precision, training_precision)


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
        training_rows(data), config.train_batch_size, config.num_train_epochs
    )


def training_rows(data: TaskData) -> int:
    """Rows an epoch trains on: examples, or their windows (--long_text=chunks)."""
    if "train" in data.cached:
        return data.cached["train"].num_rows
    if "train" in data.packed:
        return len(data.packed["train"])
    return len(data.train or [])


def training_examples(data: TaskData) -> int:
    """Examples in the training split, read into memory or streamed."""
    if data.train_summary is not None:
        return data.train_summary.num_examples
    return len(data.train or [])


def worker_scratch_dir(config: RunConfig) -> str:
    """Non-chief workers join every save, but into a scratch folder."""
    return os.path.join(config.output_dir, "workers", f"worker-{os.getpid()}")


@phase_times.timed("read")
def read_task_data(config: RunConfig) -> TaskData:
    """Reads the splits the run needs, failing on bad data before any work.

    Training data is read first: a task whose labels come from the data
    (`csv`) settles its label list from it (or from --labels, or the
    labels.txt of an earlier run) before dev and test labels are checked.
    """
    processor = tasks.get_processor(config.task_name, config.task_options())
    data_dir = config.data_dir or ""
    # A streamed split is packed later, in one pass, into its feature cache;
    # a streamed training split is read once here for its labels and hash.
    wanted = {
        "train": config.do_train,
        "dev": config.do_eval,
        "test": config.do_predict,
    }
    streamed = tuple(
        split
        for split, asked in wanted.items()
        if asked and streams_split(config, processor, split)
    )
    train = train_summary = None
    if "train" in streamed:
        examples = processor.iter_examples(data_dir, "train")
        train_summary = summarize_split(
            first_streamed_samples(examples, config, "train")
        )
    elif config.do_train:
        train = first_samples(
            processor.get_examples(data_dir, "train"), config, "train"
        )
    saved_labels_path = os.path.join(config.output_dir, tasks.LABELS_FILE)
    if config.do_train and config.overwrite_output_dir:
        saved_labels_path = None  # The earlier run's files are being replaced.
    if train_summary:
        processor = processor.resolve_labels_from_counts(
            train_summary.label_counts, saved_labels_path
        )
    else:
        processor = processor.resolve_labels(train, saved_labels_path)

    def read(split: str, wanted: bool):
        if not wanted:
            return None
        return first_samples(processor.get_examples(data_dir, split), config, split)

    labels, output_kind = processor.get_labels(), processor.output_kind
    counts = training_label_counts(train, train_summary)
    class_weights = resolve_class_weights(
        config.class_weights, labels, counts, output_kind
    )
    data = TaskData(
        processor=processor,
        labels=labels,
        train=train,
        dev=read("dev", config.do_eval and "dev" not in streamed),
        test=read("test", config.do_predict and "test" not in streamed),
        class_weights=class_weights,
        streamed=streamed,
        train_summary=train_summary,
        output_bias=starting_output_bias(output_kind, labels, counts, class_weights),
    )
    if config.do_train:
        logger.info("%s", describe_class_weights(config.class_weights, class_weights))
    if data.output_bias:
        logger.info("%s", describe_output_bias(data.output_bias))
    for split in ("train", "dev", "test"):
        examples = getattr(data, split)
        if examples is not None:
            logger.info("Read %d %s examples.", len(examples), split)
    if train_summary:
        logger.info("Read %d train examples (streamed).", train_summary.num_examples)
    return data


def training_label_counts(
    train: list | None, train_summary
) -> tuple[collections.Counter, int] | None:
    """The training split's examples per label and how many examples it holds,
    from its examples or a streamed split's summary; None without training."""
    if train_summary is not None:
        return train_summary.label_counts, train_summary.num_examples
    if train is None:
        return None
    return label_counts(train), len(train)


def first_samples(examples: list, config: RunConfig, split: str) -> list:
    """The first `--max_*_samples` examples of a split (all when 0), logged."""
    flag = SAMPLE_LIMITS[split]
    limit = getattr(config, flag)
    if not limit or limit >= len(examples):
        return examples
    logger.info(
        "Keeping the first %d of %d %s examples (--%s=%d).",
        limit,
        len(examples),
        split,
        flag,
        limit,
    )
    return examples[:limit]


def check_sequence_length(max_seq_length: int, max_position_embeddings: int) -> None:
    if max_seq_length > max_position_embeddings:
        raise ConfigError(
            f"Cannot use sequence length {max_seq_length} because the BERT model "
            f"was only trained up to sequence length {max_position_embeddings}. "
            f"Pass --max_seq_length={max_position_embeddings} or less."
        )


def check_training_set(config: RunConfig, data: TaskData) -> None:
    """Training needs at least one whole batch."""
    num_examples = training_examples(data)
    if config.do_train and num_examples < config.train_batch_size:
        raise ConfigError(
            f"The training set has {num_examples} examples, fewer than one "
            f"batch (--train_batch_size={config.train_batch_size}). Lower "
            "--train_batch_size or add training data."
        )


@phase_times.timed("training")
def run_training(session: Session, data: TaskData) -> None:
    config = session.config
    num_train_steps = train_steps(config, data)
    # --train_batch_size is the batch of one update; with accumulation, each
    # update averages the gradients of `accumulation` smaller batches.
    accumulation = config.gradient_accumulation_steps
    batch_size = config.train_batch_size // accumulation
    build = build_train_dataset
    rows = data.packed.get("train")
    if "train" in data.cached:  # streamed from its feature cache
        rows = data.cached["train"]
        build = functools.partial(build_worker_train_dataset, session.strategy)
    dataset = build(
        rows,
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
        "***** Running training *****\n  Num examples = %d (%d rows)\n  Batch size"
        " = %d (%d per replica, %d batch(es) per update)\n  Num steps = %d (from %d)",
        training_examples(data),
        training_rows(data),
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
        steps_per_epoch=training_rows(data) // batch_size,
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


# === Tasks and outputs ===
@phase_times.timed("report")
def write_data_files(config: RunConfig, data: TaskData) -> dict:
    """The data report (logged too) and, for the csv task, labels.txt."""
    processor = data.processor
    report = build_data_report(
        data.splits(),
        data.packed,
        processor.is_pair,
        config.max_seq_length,
        task_name=processor.name,
        output_kind=processor.output_kind,
        long_text=config.long_text,
        cached=data.cached,
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
