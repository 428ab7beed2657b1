"""Keras callbacks of a run: summaries, checkpoints, and stopping at the step count."""

import json
import logging
import os
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from app import phase_times
from app.compat import optimizer_iterations
from app.errors import RunInterrupted, UsageError
from app.interrupts import checkpoint_write_error
from app.results import write_text_atomically

logger = logging.getLogger(__name__)


class TrainingSummaries(keras.callbacks.Callback):
    """Writes loss and learning rate to TensorBoard every `every_n_steps` steps."""

    def __init__(self, log_dir: str, every_n_steps: int = 10):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every_n_steps or not logs:
            return
        learning_rate = ops.convert_to_numpy(self.model.optimizer.learning_rate)
        with self.writer.as_default(step=step):
            tf.summary.scalar("loss", logs["loss"])
            tf.summary.scalar("learning_rate", float(learning_rate))

    def on_train_end(self, logs=None):
        self.writer.flush()


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves model and optimizer every `every_n_steps` steps, and at the end.

    After `request_stop` (Ctrl-C), it saves at the next update and raises
    `RunInterrupted`, so a rerun resumes at that step. A save that fails
    raises `CheckpointWriteError`; the last complete checkpoint stays.
    """

    def __init__(self, manager: tf.train.CheckpointManager, every_n_steps: int):
        super().__init__()
        self.manager = manager
        self.every_n_steps = every_n_steps
        self.last_saved_step = None
        self.stop_requested = False

    def request_stop(self) -> None:
        """Save and stop after the current update; safe in a signal handler."""
        self.stop_requested = True

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if not at_update_boundary(self.model):
            return
        if step % self.every_n_steps == 0 or self.stop_requested:
            self._save(step)
        if self.stop_requested:
            raise RunInterrupted(
                f"Interrupted (Ctrl-C) at step {step}; saved "
                f"{self.manager.latest_checkpoint}. Run the same command again "
                f"to resume from step {step}."
            )

    def on_train_end(self, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step != self.last_saved_step and at_update_boundary(self.model):
            self._save(step)

    @phase_times.timed("checkpoints")
    def _save(self, step: int) -> None:
        if step == self.last_saved_step:
            return
        try:
            self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as error:
            variables = self.model.variables + self.model.optimizer.variables
            size = sum(np.dtype(v.dtype).itemsize * np.prod(v.shape) for v in variables)
            raise checkpoint_write_error(self.manager, step, error, size) from error
        self.last_saved_step = step


class FirstStepTime(keras.callbacks.Callback):
    """Counts the first training step of `fit` (mostly tracing) as its own phase."""

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()
        self.counted = False

    def on_train_batch_end(self, batch, logs=None):
        if not self.counted:
            phase_times.add("first step", time.perf_counter() - self.started)
            self.counted = True


def batches_done(model: keras.Model) -> int:
    """Batches trained so far: optimizer updates times accumulation steps."""
    return optimizer_iterations(model.optimizer)


def at_update_boundary(model: keras.Model) -> bool:
    """False halfway through accumulating gradients: no checkpoint there."""
    accumulation = model.optimizer.gradient_accumulation_steps or 1
    return batches_done(model) % accumulation == 0


class StopAtStep(keras.callbacks.Callback):
    """Ends `fit` once the optimizer has taken `total_steps` steps."""

    def __init__(self, total_steps: int):
        super().__init__()
        self.total_steps = total_steps

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.total_steps:
            self.model.stop_training = True


def write_scalars(log_dir: str, scalars: dict, step: int) -> None:
    """Writes one set of named scalars (eval metrics) to TensorBoard."""
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=step):
        for name, value in scalars.items():
            tf.summary.scalar(name, value)
    writer.flush()


class TrainingDiverged(UsageError):
    """The loss became NaN or infinite; raised out of `fit`."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops at the first NaN or infinite loss, before anything saves it.

    Must come first in the callback list, so that no checkpoint of the
    diverged weights is written at the step where the loss went bad.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            raise TrainingDiverged(
                f"The training loss became {float(loss)} at step {step}. The last "
                "good checkpoint is kept in --output_dir. Lower --learning_rate, "
                "raise --warmup_proportion, or check the data for broken rows."
            )


class PeriodicEvaluation(keras.callbacks.Callback):
    """Evaluates during training, keeps the best checkpoint, stops early.

    Args:
        evaluate: callable returning the dev metrics of the current weights.
        metric_key: the metric that ranks checkpoints (higher is better).
        best_manager: a CheckpointManager keeping the best checkpoint.
        every_n_steps: int. Evaluate every this many updates (0: not by step).
        every_epoch: bool. Evaluate at the end of every epoch.
        patience: int. Stop after this many evaluations without a new best
            (0: never stop early).
        log_dir: folder for the TensorBoard scalars of each evaluation.
        state_path: JSON file holding the best value so far, so that a resumed
            run ranks against the checkpoints it kept before the interruption.
    """

    def __init__(
        self,
        evaluate,
        metric_key: str,
        best_manager: tf.train.CheckpointManager,
        every_n_steps: int = 0,
        every_epoch: bool = False,
        patience: int = 0,
        log_dir: str | None = None,
        state_path: str | None = None,
    ):
        super().__init__()
        self.evaluate = evaluate
        self.metric_key = metric_key
        self.best_manager = best_manager
        self.every_n_steps = every_n_steps
        self.every_epoch = every_epoch
        self.patience = patience
        self.log_dir = log_dir
        self.state_path = state_path
        self.best_value = None
        self.best_step = None
        self.evaluations_without_improvement = 0
        self.stopped_early = False
        self.last_step = None
        if state_path and os.path.exists(state_path):
            with open(state_path, encoding="utf-8") as file:
                vars(self).update(json.load(file))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if self.every_n_steps and step % self.every_n_steps == 0:
            if at_update_boundary(self.model):
                self._evaluate(step)

    def on_epoch_end(self, epoch, logs=None):
        if self.every_epoch:
            self._evaluate(int(self.model.optimizer.iterations.numpy()))

    def on_train_end(self, logs=None):
        # The last weights compete too, wherever the step count ended.
        if at_update_boundary(self.model):
            self._evaluate(int(self.model.optimizer.iterations.numpy()))

    def _evaluate(self, step: int) -> None:
        if step == self.last_step:
            return
        self.last_step = step
        metrics = self.evaluate()
        value = float(metrics[self.metric_key])
        if self.log_dir:
            scalars = {k: v for k, v in metrics.items() if np.isscalar(v)}
            write_scalars(self.log_dir, scalars, step)
        if self.best_value is None or value > self.best_value:
            self.best_value, self.best_step = value, step
            self.evaluations_without_improvement = 0
            self.best_manager.save(checkpoint_number=step)
        else:
            self.evaluations_without_improvement += 1
        logger.info(
            "Step %d: %s = %.4f (best %.4f at step %d).",
            step,
            self.metric_key,
            value,
            self.best_value,
            self.best_step,
        )
        if self.patience and self.evaluations_without_improvement >= self.patience:
            logger.info(
                "Stopping early: no better %s in %d evaluations.",
                self.metric_key,
                self.patience,
            )
            self.stopped_early = True
            self.model.stop_training = True
        self._write_state()

    def _write_state(self) -> None:
        if not self.state_path:
            return
        names = ("metric_key", "best_value", "best_step", "stopped_early")
        state = {name: getattr(self, name) for name in names}
        state["evaluations_without_improvement"] = self.evaluations_without_improvement
        write_text_atomically(self.state_path, json.dumps(state, indent=2) + "\n")
