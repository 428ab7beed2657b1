"""Build, train and copy the classifier under one strategy."""

import logging
import math

import keras
import tensorflow as tf

from app import callbacks as run_callbacks
from app.cpu_speedups import apply_cpu_speedups, speedups_for_this_process
from app.errors import ConfigError
from app.interrupts import stop_on_sigint
from app.losses import build_loss
from app.model import build_classifier, build_plain_copy
from app.optimization import build_optimizer
from tasks import OutputKind

logger = logging.getLogger(__name__)


def build_trainable_classifier(
    backbone_fn,
    num_labels: int,
    learning_rate: float,
    num_train_steps: int,
    num_warmup_steps: int,
    output_kind: OutputKind = OutputKind.CLASSES,
    cpu_speedups: bool = True,
    steps_per_execution: int = 1,
    dropout: float = 0.1,
    jit_compile: bool = False,
    gradient_accumulation_steps: int = 1,
    builds_optimizer_state: bool = True,
    class_weights=None,
    output_bias=None,
) -> keras.Model:
    """The compiled classifier; call inside the one `strategy.scope()`.

    Args:
        backbone_fn: callable returning the pretrained keras-hub backbone, so
            that its variables are created under the caller's strategy.
        output_kind: classes (cross-entropy, accuracy) or one score (mean
            squared error, RMSE).
        cpu_speedups: run the model `apply_cpu_speedups` returns (same
            weights and results); False runs the plain model.
        builds_optimizer_state: False for a run that does not train: Adam's
            two slots per weight (twice the model's size) are never
            allocated and a checkpoint restores the weights and the step
            count alone.
        class_weights: each label's loss weight in label order
            (`app.class_weights`), or None for an unweighted loss.
        output_bias: the output layer's starting bias in label order
            (`app.output_bias`), or None for zeros.
    """
    model = build_classifier(
        backbone_fn(), num_labels, output_kind, dropout=dropout, output_bias=output_bias
    )
    log_speedups(cpu_speedups)
    if cpu_speedups:
        model = apply_cpu_speedups(model)
    optimizer = build_optimizer(
        model,
        learning_rate,
        num_train_steps,
        num_warmup_steps,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    if builds_optimizer_state:
        # Optimizer slots exist before any restore, so a checkpoint fills them.
        optimizer.build(model.trainable_variables)
    loss, metric = loss_and_metric(output_kind, class_weights)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[metric],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return model


def loss_and_metric(output_kind: OutputKind, class_weights=None) -> tuple:
    """The training loss and the metric Keras logs for `output_kind`.

    `class_weights`: each label's loss weight in label order (`--class_weights`),
    or None.
    """
    metrics = {
        OutputKind.SCORE: lambda: keras.metrics.RootMeanSquaredError(name="rmse"),
        OutputKind.LABELS: lambda: keras.metrics.BinaryAccuracy(name="accuracy"),
        OutputKind.CLASSES: lambda: keras.metrics.SparseCategoricalAccuracy(
            name="accuracy"
        ),
    }
    return build_loss(output_kind, class_weights), metrics[output_kind]()


def log_speedups(cpu_speedups: bool) -> None:
    """Says once per run which model runs, and why."""
    changes = speedups_for_this_process() if cpu_speedups else ()
    if changes:
        reason = "a CPU-only process; --cpu_speedups=false runs the plain model"
    elif cpu_speedups:
        reason = "they pay on CPU-only processes, and this one sees a GPU or TPU"
    else:
        reason = "--cpu_speedups=false"
    logger.info(
        "Speed changes to the plain model: %s (%s).",
        ", ".join(changes) or "none",
        reason,
    )


def build_checkpoint_manager(
    model: keras.Model, output_dir: str, max_to_keep: int = 5
) -> tf.train.CheckpointManager:
    """Checkpoints `model.ckpt-STEP` of model and optimizer in `output_dir`.

    Dropout's random state is saved too (Keras leaves it out of the model's
    checkpoint), so a resumed run draws the same masks as an unbroken one.
    """
    seed_states = [v for v in model.variables if v.path.endswith("_state")]
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=model.optimizer, seed_states=seed_states
    )
    return tf.train.CheckpointManager(
        checkpoint, output_dir, max_to_keep=max_to_keep, checkpoint_name="model.ckpt"
    )


def restore_latest(manager: tf.train.CheckpointManager, complete: bool = False) -> int:
    """Restores the newest checkpoint, if any; returns the global step.

    `complete`: every variable of the model must be in the checkpoint.
    """
    if manager.latest_checkpoint:
        status = manager.checkpoint.restore(manager.latest_checkpoint)
        if complete:
            check_every_variable_restored(status, manager.latest_checkpoint)
        status.expect_partial()
        logger.info("Restored %s.", manager.latest_checkpoint)
    return global_step(manager.checkpoint.model)


def check_every_variable_restored(status, checkpoint_path: str) -> None:
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise ConfigError(
            f"{checkpoint_path} lacks variables of this model"
            f" ({str(error).splitlines()[0][:300]}). It was written by another"
            " model: pass the --init_checkpoint that trained it, or another"
            f" --output_dir. Received: checkpoint={checkpoint_path}"
        ) from None


def global_step(model: keras.Model) -> int:
    return int(model.optimizer.iterations.numpy())


def train(
    model: keras.Model,
    dataset: tf.data.Dataset,
    num_train_steps: int,
    steps_per_epoch: int,
    manager: tf.train.CheckpointManager,
    log_dir: str,
    save_checkpoints_steps: int,
    extra_callbacks: tuple = (),
) -> None:
    """Fits until the optimizer has taken `num_train_steps` updates.

    `dataset` starts at the batch after the last one trained; `steps_per_epoch`
    counts batches. Ctrl-C saves a checkpoint at the next update and raises
    `app.errors.RunInterrupted`; a checkpoint that cannot be written raises
    `app.errors.CheckpointWriteError`.
    """
    initial_step = global_step(model)
    if initial_step >= num_train_steps:
        logger.info("Already trained %d of %d steps.", initial_step, num_train_steps)
        return
    accumulation = model.optimizer.gradient_accumulation_steps or 1
    checkpoints = run_callbacks.PeriodicCheckpoint(manager, save_checkpoints_steps)
    with stop_on_sigint(checkpoints.request_stop):
        model.fit(
            dataset,
            epochs=math.ceil(num_train_steps * accumulation / steps_per_epoch),
            initial_epoch=run_callbacks.batches_done(model) // steps_per_epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=[
                run_callbacks.StopOnNonFiniteLoss(),  # first: before any save
                run_callbacks.FirstStepTime(),
                run_callbacks.StopAtStep(num_train_steps),
                run_callbacks.TrainingSummaries(log_dir),
                checkpoints,
                *extra_callbacks,
            ],
            verbose=1,
        )


def model_copy(model: keras.Model, precision: str | None = None) -> keras.Model:
    """The plain classifier with `model`'s weights, in the current strategy's scope.

    `precision`: as `app.model.build_plain_copy`'s: "float32" gives a model
    computing in float32 throughout, a mixed policy one whose matrix products
    run in low precision.
    """
    with tf.distribute.get_strategy().scope():
        return build_plain_copy(model, precision)


def single_process_copy(
    model: keras.Model, precision: str | None = None, cpu_speedups: bool = True
) -> keras.Model:
    """The trained model for evaluating and predicting on the chief alone.

    Outside any multi-worker strategy: evaluating and predicting under
    MultiWorkerMirroredStrategy would wait on collectives from workers that
    have finished. `precision`: as `model_copy`'s, for inference in another
    precision than training's. Built from the plain model, then sped up as
    the trained one was (`cpu_speedups`).
    """
    copy = model_copy(model, precision)
    if cpu_speedups:
        copy = apply_cpu_speedups(copy)
    # The trained optimizer comes along for its step count; it takes no steps.
    copy.compile(
        optimizer=model.optimizer,
        loss=model.loss,
        jit_compile=model.jit_compile,
        steps_per_execution=model.steps_per_execution,
    )
    return copy
