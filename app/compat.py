"""Workarounds for Keras, TensorFlow and keras-hub behaviour, in one place.

Every entry of `WORKAROUNDS` names what it works around, where the code is,
the upstream issue or pull request, and the versions it was checked on (the
pins of requirements.txt). `tests/test_compat.py` reproduces each upstream
behaviour on the installed versions: when one of those tests fails after an
upgrade, upstream changed; re-check the entry, then delete the workaround or
update the entry. The private attributes the project reads are listed here
too, so that an upgrade that renames one fails a test here first.
"""

import dataclasses

import keras
import tensorflow as tf

from app.errors import ConfigError

PINNED = "keras 3.15.1, keras-hub 0.32.0, tensorflow 2.21.0, tensorflow-text 2.21.1"


@dataclasses.dataclass(frozen=True)
class Workaround:
    """One library behaviour the project works around, or one private name it reads."""

    name: str
    where: str  # file (and function) that holds the workaround
    works_around: str
    upstream: str  # issue/PR URLs, or "no upstream issue found: <reproducer>"
    test: str  # the test in tests/test_compat.py that reproduces it
    versions: str = PINNED


class BatchSafeMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy that Keras 3 `fit` can run under.

    Two calls Keras makes fail on the plain strategy with several workers:
    - before the first step, `fit` reduces a whole nested data batch to learn
      the input shapes, but the strategy reduces single tensors only; the
      first local replica's batch carries the same shapes;
    - each step reduces scalar metrics with `axis=0`, which a scalar lacks;
      the mean over replicas needs no axis.
    """

    def reduce(self, reduce_op, value, axis):
        if tf.nest.is_nested(value):
            return tf.nest.map_structure(
                lambda item: self.experimental_local_results(item)[0], value
            )
        if (
            axis is not None
            and self.experimental_local_results(value)[0].shape.rank == 0
        ):
            axis = None
        return super().reduce(reduce_op, value, axis)


def check_accumulation_replicas(config, strategy: tf.distribute.Strategy) -> None:
    """Refuses gradient accumulation on several replicas, which Keras cannot run.

    Keras' accumulation step calls `merge_call` inside a `cond`, which
    MirroredStrategy and MultiWorkerMirroredStrategy reject while tracing.
    """
    replicas = strategy.num_replicas_in_sync
    if config.do_train and config.gradient_accumulation_steps > 1 and replicas > 1:
        raise ConfigError(
            f"--gradient_accumulation_steps={config.gradient_accumulation_steps} "
            f"works on a single replica only; this run has {replicas} "
            f"({type(strategy).__name__}). Use --gradient_accumulation_steps=1: "
            "the replicas already split --train_batch_size between them."
        )


def optimizer_iterations(optimizer: keras.optimizers.Optimizer) -> int:
    """Batches the optimizer has taken, accumulated or applied.

    With gradient accumulation, Keras' public `iterations` counts updates
    (batches // steps); only the private `_iterations` counts batches.
    """
    return int(optimizer._iterations.numpy())


# keras_hub.layers.TransformerEncoder keeps its sublayers in private
# attributes; checkpoints/original.py maps original-BERT variables onto them
# and the model's CPU speed changes call them one by one.
TRANSFORMER_ENCODER_SUBLAYERS = {
    "_self_attention_layer": keras.layers.MultiHeadAttention,
    "_self_attention_layer_norm": keras.layers.LayerNormalization,
    "_self_attention_dropout": keras.layers.Dropout,
    "_feedforward_intermediate_dense": keras.layers.Dense,
    "_feedforward_output_dense": keras.layers.Dense,
    "_feedforward_layer_norm": keras.layers.LayerNormalization,
    "_feedforward_dropout": keras.layers.Dropout,
}
# keras.optimizers.Optimizer hooks that app/optimization.py overrides or calls.
OPTIMIZER_PRIVATE_HOOKS = (
    "_apply_weight_decay",
    "_clip_gradients",
    "_use_weight_decay",
    "_get_variable_index",
)
# keras.Variable internals that checkpoints/loader.py `initializers_skipped`
# replaces or calls (besides the `_shape` and `_dtype` of a variable).
VARIABLE_PRIVATE_HOOKS = ("_initialize_with_initializer", "_initialize")
# app/cpu_speedups.py `TokenwiseDense` gives BERT's feed-forward its lean GELU
# gradient when the layer's activation is this keras-hub function (a private
# module of keras-hub); another activation takes Keras' own path.
BERT_FEEDFORWARD_ACTIVATION = "keras_hub.src.utils.keras_utils.gelu_approximate"

# app/export.py writes EXPORT_DIR/token_ids/ without its variables files (it
# shares EXPORT_DIR's) through this function's `experimental_skip_checkpoint`;
# `tf.saved_model.save` calls it without one.
SAVED_MODEL_SAVE_WITHOUT_VARIABLES = (
    "tensorflow.python.saved_model.save.save_and_return_nodes"
)

_NO_ISSUE = "no upstream issue found: "

WORKAROUNDS = (
    Workaround(
        name="BatchSafeMultiWorkerMirroredStrategy: nested batch reduce",
        where="app/compat.py BatchSafeMultiWorkerMirroredStrategy.reduce",
        works_around=(
            "Keras `fit` reduces a whole nested data batch with "
            "`strategy.reduce(..., axis=None)` to build the model; across "
            "several workers the collective reduce takes one tensor, not a dict."
        ),
        upstream="https://github.com/keras-team/keras/issues/20329",
        test="test_multi_worker_reduce_of_a_nested_batch_still_fails",
    ),
    Workaround(
        name="BatchSafeMultiWorkerMirroredStrategy: scalar metric reduce",
        where="app/compat.py BatchSafeMultiWorkerMirroredStrategy.reduce",
        works_around=(
            "Keras reduces each scalar metric with `strategy.reduce('MEAN', v, "
            "axis=0)` under several workers; TensorFlow cannot reduce axis 0 "
            "of a scalar."
        ),
        upstream="https://github.com/tensorflow/tensorflow/issues/72388",
        test="test_multi_worker_reduce_of_a_scalar_metric_still_fails",
    ),
    Workaround(
        name="Gradient accumulation refused on several replicas",
        where="app/compat.py check_accumulation_replicas (called by app/runner.py)",
        works_around=(
            "Keras applies accumulated gradients inside a `cond`, where "
            "MirroredStrategy's `merge_call` fails while tracing."
        ),
        upstream="https://github.com/keras-team/keras/issues/20582",
        test="test_gradient_accumulation_under_mirrored_strategy_still_fails",
    ),
    Workaround(
        name="optimizer._iterations counts batches",
        where="app/compat.py optimizer_iterations (used by app/callbacks.py)",
        works_around=(
            "With gradient_accumulation_steps, `optimizer.iterations` counts "
            "updates; resuming and step counting need batches, which only the "
            "private `_iterations` holds."
        ),
        upstream="https://github.com/keras-team/keras/pull/19998",
        test="test_optimizer_iterations_still_count_updates_not_batches",
    ),
    Workaround(
        name="exclude_from_weight_decay by variable, not by name",
        where="app/optimization.py build_optimizer",
        works_around=(
            "`exclude_from_weight_decay(var_names=...)` matches a variable's "
            "name: `gamma`/`beta` on a Keras variable, the path only on the "
            "tf.Variable the TensorFlow backend hands to the optimizer. Whether "
            "'layer_norm' excludes LayerNorm depends on the backend, so the "
            "optimizer gets the variables instead."
        ),
        upstream=(
            _NO_ISSUE + "with var_names=['layer_norm'], `_use_weight_decay` of a "
            "LayerNormalization's Keras gamma is True, of its tf.Variable False; "
            "Keras asks for variables, not names (keras-team/keras#16274 review)."
        ),
        test="test_excluding_layer_norm_by_name_still_reads_the_short_name",
    ),
    Workaround(
        name="AdamWeightDecay overrides Optimizer._apply_weight_decay",
        where="app/optimization.py AdamWeightDecay",
        works_around=(
            "Keras decays all variables in one pass before the update; the "
            "original's decay runs per variable inside `update_step`, so the "
            "private hook is a no-op here; `update_step` asks the private "
            "`_use_weight_decay` and `_get_variable_index` per variable."
        ),
        upstream=(
            _NO_ISSUE + "a subclass that renames or drops the hook would decay "
            "twice; a zero-gradient step must decay exactly once."
        ),
        test="test_adam_weight_decay_still_decays_exactly_once",
    ),
    Workaround(
        name="keras-hub preprocessor reads a tuple as (x, y)",
        where="app/preprocessing.py ClassifierPreprocessor (takes dicts)",
        works_around=(
            "A keras-hub preprocessor called with `(a, b)` reads b as the "
            "label and tokenizes a only; the project's preprocessor takes "
            "`{'text_a', 'text_b'}` dicts, never tuples."
        ),
        upstream="https://github.com/keras-team/keras-hub/pull/478 (by design)",
        test="test_keras_hub_preprocessor_still_reads_a_pair_as_x_and_y",
    ),
    Workaround(
        name="tensorboard pinned in requirements.txt",
        where="requirements.txt",
        works_around=(
            "tensorflow 2.21 no longer depends on tensorboard, and the "
            "summary writers fail at the first summary without it."
        ),
        upstream=(
            "https://github.com/tensorflow/tensorflow/pull/110709, "
            "https://github.com/keras-team/keras/pull/22376"
        ),
        test="test_tensorflow_and_keras_still_do_not_install_tensorboard",
    ),
    Workaround(
        name="`import tensorflow_text` before loading the SavedModel",
        where="app/export.py (docstring), README serving section",
        works_around=(
            "The exported graph tokenizes with tensorflow-text ops that core "
            "TensorFlow does not register: loading without the import fails "
            "with `Op type not registered 'RegexSplitWithOffsets'`."
        ),
        upstream="https://github.com/tensorflow/text/issues/200",
        test="test_the_preprocessing_graph_still_needs_tensorflow_text_ops",
    ),
    Workaround(
        name="Private sublayers of keras_hub TransformerEncoder",
        where=(
            "checkpoints/original.py, app/cpu_speedups.py (and its "
            "FirstTokenTransformerEncoder.call, written after keras-hub's)"
        ),
        works_around=(
            "keras-hub exposes no public handle on an encoder block's "
            "attention, feed-forward and layer-norm sublayers: "
            + ", ".join(TRANSFORMER_ENCODER_SUBLAYERS)
        ),
        upstream=_NO_ISSUE + "private attributes; the test builds one block.",
        test="test_transformer_encoder_still_has_the_private_sublayers_read",
    ),
    Workaround(
        name="keras Layer._flatten_layers",
        where="app/model.py, app/cpu_speedups.py",
        works_around=(
            "Keras 3 has no public recursive walk over nested layers; "
            "`_flatten_layers(include_self, recursive)` is the one Keras uses."
        ),
        upstream=_NO_ISSUE + "private method; the test walks a nested model.",
        test="test_flatten_layers_still_walks_nested_layers",
    ),
    Workaround(
        name="Keras warns that fit(shuffle=True) ignores a tf.data.Dataset",
        where="app/console.py SHUFFLE_WARNING",
        works_around=(
            "`fit`'s default `shuffle=True` warns for every dataset; the "
            "training dataset shuffles itself, so the warning is filtered."
        ),
        upstream="https://github.com/keras-team/keras/pull/22777",
        test="tests/test_config.py::test_keras_still_warns_about_shuffle_for_datasets",
    ),
    Workaround(
        name="TensorFlow logs 'Sharding callback duration' on every save",
        where="app/console.py quiet_console",
        works_around=(
            "tensorflow/python/checkpoint/functional_saver.py logs each "
            "checkpoint's timing through absl at INFO; absl's logger is set "
            "to WARNING unless --verbosity asks for more."
        ),
        upstream=(
            _NO_ISSUE + "save a tf.train.Checkpoint with absl at INFO; the line "
            "comes from the sharding callback (tensorflow/community#458)."
        ),
        test=(
            "tests/test_config.py::"
            "test_tensorflow_still_logs_checkpoint_timings_through_absl"
        ),
    ),
    Workaround(
        name="TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL",
        where="app/console.py native_stderr_hidden",
        works_around=(
            "Lines logged while TensorFlow's libraries load, before absl's C++ "
            "logging is initialized, reach stderr whatever the log level; "
            "main() loads TensorFlow with stderr sent to /dev/null."
        ),
        upstream=(
            "https://github.com/abseil/abseil-cpp/pull/1957, "
            "https://github.com/tensorflow/tensorflow/pull/102212"
        ),
        test="test_tensorflow_still_logs_before_absl_is_initialized",
    ),
)
