"""Each library behaviour app/compat.py works around, reproduced on the installed
versions. A failure here after an upgrade means upstream changed: re-check the
entry in `app.compat.WORKAROUNDS`, then delete the workaround or update it."""

import importlib
import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys
import types

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from app.compat import (
    BERT_FEEDFORWARD_ACTIVATION,
    OPTIMIZER_PRIVATE_HOOKS,
    SAVED_MODEL_SAVE_WITHOUT_VARIABLES,
    TRANSFORMER_ENCODER_SUBLAYERS,
    VARIABLE_PRIVATE_HOOKS,
    WORKAROUNDS,
    BatchSafeMultiWorkerMirroredStrategy,
    check_accumulation_replicas,
    optimizer_iterations,
)
from app.errors import ConfigError
from app.optimization import AdamWeightDecay
from app.preprocessing import ClassifierPreprocessor

ROOT = pathlib.Path(__file__).resolve().parent.parent
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]


def test_every_workaround_names_its_place_upstream_and_test():
    for entry in WORKAROUNDS:
        assert has_test(entry.test), entry.name
        assert re.match(
            r"https://github\.com/|no upstream issue found: ", entry.upstream
        )
        paths = re.findall(r"[\w/]+\.(?:py|txt|md)", entry.where)
        assert any((ROOT / path).exists() for path in paths), entry.where
    assert len({entry.test for entry in WORKAROUNDS}) == len(WORKAROUNDS)


def has_test(reference: str) -> bool:
    """Whether `reference` (a name here, or `tests/file.py::name`) is a test."""
    if "::" not in reference:
        return callable(getattr(sys.modules[__name__], reference, None))
    path, name = reference.split("::")
    return f"def {name}(" in (ROOT / path).read_text()


def multi_worker_strategy(cls, monkeypatch, num_workers: int = 1):
    """A one-process strategy of `cls` that Keras and TensorFlow take for a
    cluster of `num_workers` (no collective op runs before the failures)."""
    strategy = cls()
    monkeypatch.setattr(strategy.extended, "_in_multi_worker_mode", lambda: True)
    monkeypatch.setattr(strategy.extended, "_num_workers", num_workers)
    return strategy


def test_multi_worker_reduce_of_a_nested_batch_still_fails(monkeypatch):
    # What Keras `fit` does to build the model: reduce the whole data batch.
    batch = {"token_ids": tf.ones((2, 3), tf.int32), "label": tf.zeros((2,))}
    plain = multi_worker_strategy(
        tf.distribute.MultiWorkerMirroredStrategy, monkeypatch, num_workers=2
    )
    with pytest.raises(ValueError, match="unsupported type .*dict"):
        plain.reduce("MEAN", batch, axis=None)
    safe = multi_worker_strategy(
        BatchSafeMultiWorkerMirroredStrategy, monkeypatch, num_workers=2
    )
    reduced = safe.reduce("MEAN", batch, axis=None)
    assert reduced["token_ids"].shape == (2, 3) and reduced["label"].shape == (2,)


def test_multi_worker_reduce_of_a_scalar_metric_still_fails(monkeypatch):
    from keras.src.backend.tensorflow.trainer import reduce_per_replica

    # What Keras does with each step's metrics under several workers.
    metrics = {"loss": tf.constant(2.0)}
    plain = multi_worker_strategy(
        tf.distribute.MultiWorkerMirroredStrategy, monkeypatch
    )
    with pytest.raises(ValueError, match="Invalid reduction dimension 0"):
        reduce_per_replica(metrics, plain, "mean")
    safe = multi_worker_strategy(BatchSafeMultiWorkerMirroredStrategy, monkeypatch)
    assert float(reduce_per_replica(metrics, safe, "mean")["loss"]) == 2.0


def test_gradient_accumulation_under_mirrored_strategy_still_fails():
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
        model.compile(optimizer=optimizer, loss="mse")
    with pytest.raises(RuntimeError, match="`merge_call` called while defining"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), batch_size=2, verbose=0)


def test_gradient_accumulation_is_refused_on_several_replicas():
    def config(steps, do_train=True):
        return types.SimpleNamespace(
            gradient_accumulation_steps=steps, do_train=do_train
        )

    two_replicas = types.SimpleNamespace(num_replicas_in_sync=2)
    with pytest.raises(ConfigError, match="--gradient_accumulation_steps=4 works on"):
        check_accumulation_replicas(config(4), two_replicas)
    # One replica accumulates; several replicas without accumulation train.
    check_accumulation_replicas(config(4), tf.distribute.get_strategy())
    check_accumulation_replicas(config(1), two_replicas)
    check_accumulation_replicas(config(4, do_train=False), two_replicas)


def test_optimizer_iterations_still_count_updates_not_batches():
    variable = keras.Variable(np.ones(2, "float32"))
    optimizer = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    for _ in range(3):
        optimizer.apply_gradients([(tf.ones(2), variable)])
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 1  # updates
    assert optimizer_iterations(optimizer) == 3  # batches


def test_excluding_layer_norm_by_name_still_reads_the_short_name():
    norm = keras.layers.LayerNormalization(name="layer_norm")
    norm.build((None, 2))
    assert norm.gamma.path == "layer_norm/gamma" and norm.gamma.name == "gamma"

    def excluding_by_name():
        optimizer = AdamWeightDecay(learning_rate=0.1, weight_decay=0.5)
        optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm"])
        return optimizer

    # Matched against the Keras variable's name, the pattern misses; only
    # the tf.Variable under it, which the TensorFlow backend updates, carries
    # the path (each optimizer caches its first answer per variable).
    assert excluding_by_name()._use_weight_decay(norm.gamma)
    assert not excluding_by_name()._use_weight_decay(norm.gamma.value)
    excluding_by_name().apply_gradients([(tf.zeros(2), norm.gamma)])
    np.testing.assert_array_equal(norm.gamma.numpy(), [1.0, 1.0])


def test_adam_weight_decay_still_decays_exactly_once():
    for hook in OPTIMIZER_PRIVATE_HOOKS:
        assert callable(getattr(keras.optimizers.Optimizer, hook, None)), hook
    variable = keras.Variable(np.full(2, 2.0, "float32"), name="kernel")
    optimizer = AdamWeightDecay(learning_rate=0.1, weight_decay=0.5)
    optimizer.apply_gradients([(tf.zeros(2), variable)])  # Adam's step is 0
    np.testing.assert_allclose(variable.numpy(), [1.9, 1.9], rtol=1e-6)


def test_keras_hub_preprocessor_still_reads_a_pair_as_x_and_y():
    tokenizer = keras_hub.models.BertTokenizer(VOCABULARY)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=8
    )
    x, y = preprocessor((tf.constant(["a"]), tf.constant(["b"])))
    np.testing.assert_array_equal(x["token_ids"][0], [2, 5, 3, 0, 0, 0, 0, 0])
    assert y.numpy().tolist() == [b"b"]  # the second text became the label
    # The project's preprocessor takes a dict and packs both texts.
    ours = ClassifierPreprocessor(VOCABULARY, 8)
    packed = ours({"text_a": tf.constant(["a"]), "text_b": tf.constant(["b"])})
    np.testing.assert_array_equal(packed["token_ids"][0], [2, 5, 3, 6, 3, 0, 0, 0])


def test_tensorflow_and_keras_still_do_not_install_tensorboard():
    def requires_tensorboard(package):
        return any(
            re.match(r"tensorboard\b", requirement) and "extra ==" not in requirement
            for requirement in importlib.metadata.requires(package) or ()
        )

    assert not requires_tensorboard("tensorflow")
    assert not requires_tensorboard("keras")
    pins = (ROOT / "requirements.txt").read_text().split()
    assert any(pin.startswith("tensorboard==") for pin in pins)


def test_the_preprocessing_graph_still_needs_tensorflow_text_ops():
    preprocessor = ClassifierPreprocessor(VOCABULARY, 8)
    graph = preprocessor._pack_in_graph["pair"].get_concrete_function().graph
    graph_def = graph.as_graph_def()
    op_types = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        op_types |= {node.op for node in function.node_def}
    not_in_core = {op for op in op_types if not hasattr(tf.raw_ops, op)}
    assert {"RegexSplitWithOffsets", "FastWordpieceTokenizeWithOffsets"} <= not_in_core


def test_transformer_encoder_still_has_the_private_sublayers_read():
    block = keras_hub.layers.TransformerEncoder(intermediate_dim=4, num_heads=1)
    block(tf.zeros((1, 3, 2)))
    for name, layer_type in TRANSFORMER_ENCODER_SUBLAYERS.items():
        assert isinstance(getattr(block, name, None), layer_type), name


def test_keras_variable_still_initializes_through_the_private_hooks_read():
    for hook in VARIABLE_PRIVATE_HOOKS:
        assert callable(getattr(keras.Variable, hook, None)), hook
    variable = keras.Variable(np.ones((2, 3), "float32"))
    assert tuple(variable._shape) == (2, 3) and variable._dtype == "float32"


def test_keras_hubs_bert_feedforward_still_uses_the_gelu_matched():
    from app.cpu_speedups import gelu_approximate
    from tests.bert_weights import build_tiny_backbone

    module, name = BERT_FEEDFORWARD_ACTIVATION.rsplit(".", 1)
    assert f"{gelu_approximate.__module__}.{gelu_approximate.__name__}" == (
        f"{module}.{name}"
    )
    for block in build_tiny_backbone().transformer_layers:
        assert block._feedforward_intermediate_dense.activation is gelu_approximate


def test_saved_model_save_still_writes_no_variables_when_asked(tmp_path):
    module_name, name = SAVED_MODEL_SAVE_WITHOUT_VARIABLES.rsplit(".", 1)
    save = getattr(importlib.import_module(module_name), name)
    root = tf.Module()
    root.weights = [tf.Variable([1.0, 2.0])]
    root.double = tf.function(
        lambda: root.weights[0] * 2.0, input_signature=[]
    ).get_concrete_function()
    without, full = tmp_path / "without", tmp_path / "full"
    save(root, str(without), experimental_skip_checkpoint=True)
    save(root, str(full))
    assert (without / "saved_model.pb").exists()
    assert not (without / "variables" / "variables.index").exists()
    assert (full / "variables" / "variables.index").exists()


def test_flatten_layers_still_walks_nested_layers():
    inner = keras.Sequential([keras.layers.Dense(2, name="inner_dense")])
    outer = keras.Sequential([keras.Input((2,)), inner, keras.layers.Dense(1)])
    names = [
        layer.name
        for layer in outer._flatten_layers(include_self=False, recursive=True)
    ]
    assert "inner_dense" in names and outer.name not in names


def test_tensorflow_still_logs_before_absl_is_initialized():
    quiet = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    loaded = subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        env=quiet,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "before absl::InitializeLog() is called" in loaded.stderr
