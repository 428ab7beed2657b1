"""Build, train, evaluate and predict with the classifier under one strategy."""

import collections
import concurrent.futures
import logging
import math

import keras
import numpy as np
import tensorflow as tf

from app import callbacks as run_callbacks
from app.input_pipeline import build_inference_dataset, pack_examples
from app.model import (
    adapt_backbone,
    build_classifier,
    is_encoder_backbone,
    runs_on_cpu_only,
)
from app.optimization import build_optimizer

logger = logging.getLogger(__name__)


def build_trainable_classifier(
    backbone_fn,
    num_labels: int,
    learning_rate: float,
    num_train_steps: int,
    num_warmup_steps: int,
    steps_per_execution: int = 1,
    dropout: float = 0.1,
    jit_compile: bool = False,
    gradient_accumulation_steps: int = 1,
    builds_optimizer_state: bool = True,
) -> keras.Model:
    """The compiled classifier; call inside the one `strategy.scope()`.

    Args:
        backbone_fn: callable returning the pretrained keras-hub backbone, so
            that its variables are created under the caller's strategy.
        builds_optimizer_state: False for a run that does not train: Adam's
            two slots per weight are never allocated (twice the model's
            size: 173 MiB for all-MiniLM-L6-v2, 840 MiB for BERT-base) and a
            checkpoint restores the weights and the step count alone.
    """
    model = build_classifier(backbone_fn(), num_labels, dropout=dropout)
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
    regression = num_labels == 1  # STS-B: one score, mean squared error
    model.compile(
        optimizer=optimizer,
        loss=(
            keras.losses.MeanSquaredError()
            if regression
            else keras.losses.SparseCategoricalCrossentropy()
        ),
        metrics=[
            keras.metrics.RootMeanSquaredError(name="rmse")
            if regression
            else keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        ],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return model


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


def restore_latest(manager: tf.train.CheckpointManager) -> int:
    """Restores the newest checkpoint, if any; returns the global step."""
    if manager.latest_checkpoint:
        manager.checkpoint.restore(manager.latest_checkpoint).expect_partial()
        logger.info("Restored %s.", manager.latest_checkpoint)
    return global_step(manager.checkpoint.model)


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
    counts batches.
    """
    initial_step = global_step(model)
    if initial_step >= num_train_steps:
        logger.info("Already trained %d of %d steps.", initial_step, num_train_steps)
        return
    accumulation = model.optimizer.gradient_accumulation_steps or 1
    model.fit(
        dataset,
        epochs=math.ceil(num_train_steps * accumulation / steps_per_epoch),
        initial_epoch=run_callbacks.batches_done(model) // steps_per_epoch,
        steps_per_epoch=steps_per_epoch,
        callbacks=[
            run_callbacks.StopOnNonFiniteLoss(),  # first: before any save
            run_callbacks.StopAtStep(num_train_steps),
            run_callbacks.TrainingSummaries(log_dir),
            run_callbacks.PeriodicCheckpoint(manager, save_checkpoints_steps),
            *extra_callbacks,
        ],
        verbose=1,
    )


def predict_outputs(
    model: keras.Model,
    examples: tf.data.Dataset,
    preprocessor,
    batch_size: int,
    pad_to_whole_batches: bool = False,
    sort_by_length: bool = False,
) -> np.ndarray:
    """Model outputs for every example, in input order.

    Every example is tokenized once (`pack_examples`). With `sort_by_length`,
    examples run shortest first, so each batch pads to a length close to its
    own; outputs are put back in input order.
    """
    packed = pack_examples(examples, preprocessor)
    order = np.argsort(packed.lengths, kind="stable") if sort_by_length else None
    batches = build_inference_dataset(
        packed, preprocessor, batch_size, pad_to_whole_batches, order=order
    )
    outputs = predict_probabilities(model, batches, len(packed))
    if order is None:
        return outputs
    restored = np.empty_like(outputs)
    restored[order] = outputs
    return restored


def predict_probabilities(
    model: keras.Model, dataset: tf.data.Dataset, num_examples: int
) -> np.ndarray:
    """(num_examples, num_labels) probabilities in input order, padding dropped."""
    trace_predict_for_all_lengths(model, dataset)
    calls = predict_calls_at_once(model)
    if calls > 1:
        probabilities = predict_side_by_side(model, dataset, calls)
    else:
        probabilities = model.predict(dataset, verbose=0)
    return np.asarray(probabilities, dtype=np.float32)[:num_examples]


# Calls of the predict function that run at once on CPU-only processes.
CPU_PREDICT_CALLS_AT_ONCE = 2


def predict_calls_at_once(model: keras.Model) -> int:
    """How many batches `predict_probabilities` runs through `model` at once.

    On a CPU-only process with one replica, `CPU_PREDICT_CALLS_AT_ONCE`: one
    batch at a time leaves the cores idle whenever the graph waits on a small
    op or a thread barrier; two calls running side by side fill those gaps
    with the other's matrix products. Prediction of 512 sentences ran about
    1.17x faster on a 2-core AMD EPYC (three at once: 1.07x). Elsewhere
    (TPUs, GPUs, several replicas, XLA, several outputs): one, through
    Keras' own `predict`.
    """
    if (
        model.steps_per_execution == 1
        and predicts_through_one_graph(model)
        and len(getattr(model, "outputs", None) or ()) == 1
        and runs_on_cpu_only()
    ):
        return CPU_PREDICT_CALLS_AT_ONCE
    return 1


def predicts_through_one_graph(model: keras.Model) -> bool:
    """Whether one traced predict graph can serve every batch of `model`.

    Not under several replicas (batches arrive split per replica), with XLA
    (which compiles per shape anyway) or eagerly.
    """
    return (
        model.distribute_strategy.num_replicas_in_sync == 1
        and not model.jit_compile
        and not model.run_eagerly
    )


def predict_side_by_side(
    model: keras.Model, dataset: tf.data.Dataset, calls: int
) -> np.ndarray:
    """`model`'s outputs for every batch of `dataset`, in order, `calls` at once.

    Keras' predict function, one batch a call, from `calls` threads (a graph
    runs without Python's lock, so the calls overlap on TensorFlow's
    threads). The graph is the one `trace_predict_for_all_lengths` traced:
    no new trace; outputs equal `model.predict`'s.
    """
    model.make_predict_function()
    predict = model.predict_function
    outputs = []
    with concurrent.futures.ThreadPoolExecutor(calls, "predict") as pool:
        running = collections.deque()
        for batch in dataset:
            running.append(pool.submit(lambda b: np.asarray(predict([b])), batch))
            if len(running) > calls:  # one more waits, so no thread idles
                outputs.append(running.popleft().result())
        outputs.extend(call.result() for call in running)
    if not outputs:
        return np.zeros((0, *model.outputs[0].shape[1:]), np.float32)
    return np.concatenate(outputs)


def trace_predict_for_all_lengths(model: keras.Model, dataset: tf.data.Dataset) -> None:
    """Traces Keras' predict function once for every batch shape of `dataset`.

    Batches padded to their own longest example come in many shapes. Keras
    traces its predict function for the first shape, then again for a relaxed
    one (and a third time for a short last batch): each trace costs as much as
    predicting hundreds of examples on a CPU. Traced here with the dataset's
    own shapes (batch and length unknown), one graph serves every batch.
    Skipped where every shape is fixed (TPUs: whole batches), under several
    replicas (batches arrive split per replica) and with XLA (which compiles
    per shape anyway).
    """
    spec = dataset.element_spec
    shapes = [s.shape for s in tf.nest.flatten(spec)]
    fixed = all(shape.is_fully_defined() for shape in shapes)
    if fixed or not predicts_through_one_graph(model):
        return
    model.make_predict_function()
    # Keras calls it with a list of one batch; a cached trace returns at once.
    model.predict_function.get_concrete_function([spec])


def model_copy(model: keras.Model, precision: str | None = None) -> keras.Model:
    """A copy of `model` with its weights, built in the current strategy's scope.

    `precision` (a Keras dtype policy: "float32", "mixed_bfloat16", ...)
    rebuilds the backbone under that policy and every other layer (dropout,
    the output layer) in float32. Variables are float32 under any policy, so
    the copy holds the same values: "float32" gives a model computing in
    float32 throughout, a mixed policy one whose matrix products run in low
    precision (`keep_residual_stream_in_float32`).
    """

    def clone(layer):
        config = layer.get_config()
        if precision is not None and "dtype" in config:
            config["dtype"] = precision if is_encoder_backbone(layer) else "float32"
        return layer.__class__.from_config(config)

    with tf.distribute.get_strategy().scope():
        copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    for layer in copy.layers:  # the clone's backbone is built from its config
        if is_encoder_backbone(layer):
            adapt_backbone(layer)
    return copy


def single_process_copy(
    model: keras.Model, precision: str | None = None
) -> keras.Model:
    """The trained model for evaluating and predicting on the chief alone.

    Outside any multi-worker strategy: evaluating and predicting under
    MultiWorkerMirroredStrategy would wait on collectives from workers that
    have finished. `precision`: as `model_copy`'s, for inference in another
    precision than training's.
    """
    copy = model_copy(model, precision)
    # The trained optimizer comes along for its step count; it takes no steps.
    copy.compile(
        optimizer=model.optimizer,
        loss=model.loss,
        jit_compile=model.jit_compile,
        steps_per_execution=model.steps_per_execution,
    )
    return copy
