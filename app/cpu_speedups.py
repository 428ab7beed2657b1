"""Speed changes to the plain classifier, each proven equal to it by a test.

`apply_cpu_speedups(model)` is the one entry point: it returns the model this
process runs. Every change keeps the weights, their names and the
checkpoints of the plain model (`app.model.build_classifier`), and computes
the same outputs and gradients (dropout's random masks aside); each is a
subclass of the keras-hub or Keras layer it replaces, put in place of that
layer's class. Exports and copies are built from a fresh plain model
instead (`app.model.build_plain_copy`), so nothing here ever has to be
undone; the SavedModel export then takes the `[CLS]`-only last layer alone
(app/export.py). `--cpu_speedups=false` runs the plain model.

The changes (`CHANGES`), made on CPU-only processes, where they pay:
- `[CLS]`-only last layer (`FirstTokenTransformerEncoder`): fewer FLOPs.
- Token-wise feed-forward (`TokenwiseDense`): oneDNN's fused matrix kernels,
  in training too (`dense_gelu`: GELU's gradient in closed form).
- Fused layer norms (`FusedLayerNormalization`): one oneDNN kernel (cuDNN
  would refuse BERT's epsilon, so never on GPUs).
- Lean dropout masks (`LeanDropout`): 16 random bits an element, where
  Keras draws a number of the input's dtype; in training, other masks of
  the same keep probability (the one change that is not equal to the plain
  model, in training only); no dropout outside training, as Keras.
- Batches side by side (`predict_side_by_side`): fills idle CPU cores.
GPU and TPU processes run the plain model.
"""

import collections
import concurrent.futures
import math

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras_hub.src.utils.keras_utils import gelu_approximate

# Looked up here by name, so tests can switch runs_on_cpu_only per test.
from app.strategy import CPU_PREDICT_CALLS_AT_ONCE, runs_on_cpu_only


def speedups_for_this_process() -> tuple[str, ...]:
    """Names of the changes `apply_cpu_speedups` makes here (for the log)."""
    return tuple(CHANGES) if runs_on_cpu_only() else ()


def apply_cpu_speedups(model: keras.Model) -> keras.Model:
    """The model this process runs: `model` with the changes that pay here.

    Changes `model` in place and returns it: call it on a classifier built
    for running (`build_classifier`), never on one that is exported.
    """
    for name in speedups_for_this_process():
        CHANGES[name](model)
    return model


def encoder_backbones(model: keras.Model) -> list:
    """The keras-hub BERT encoders among `model`'s layers."""
    return [
        layer
        for layer in model.layers
        if isinstance(layer, keras_hub.models.Backbone)
        and hasattr(layer, "transformer_layers")
    ]


# === [CLS]-only last layer ===
class FirstTokenTransformerEncoder(keras_hub.layers.TransformerEncoder):
    """A `TransformerEncoder` whose output is its first token alone.

    The classifier reads the last layer at `[CLS]` only (the pooled output),
    and in a post-norm or pre-norm encoder that token's output depends on the
    other tokens only through attention's keys and values. So the last layer
    computes keys and values for every token, but the query, attention,
    output projection and feed-forward block for `[CLS]` alone: the same
    result and gradients for fewer FLOPs. Weights, names and checkpoints are
    those of the full layer.

    Returns `(batch, 1, hidden)`; calls with `attention_mask` or
    `return_attention_scores` take the full layer's path.
    """

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        if attention_mask is not None or return_attention_scores:
            return super().call(
                inputs,
                padding_mask=padding_mask,
                attention_mask=attention_mask,
                training=training,
                return_attention_scores=return_attention_scores,
            )
        mask = None
        if padding_mask is not None:  # (batch, 1, length): the one query's keys
            mask = keras.ops.cast(keras.ops.expand_dims(padding_mask, 1), "int32")
        values = inputs
        x = residual = inputs[:, :1, :]  # (batch, 1, hidden)
        if self.normalize_first:
            values = self._self_attention_layer_norm(values)
            x = self._self_attention_layer_norm(x)
        x = self._self_attention_layer(
            query=x, value=values, attention_mask=mask, training=training
        )
        x = self._self_attention_dropout(x, training=training)
        x = x + residual
        if not self.normalize_first:
            x = self._self_attention_layer_norm(x)

        residual = x
        if self.normalize_first:
            x = self._feedforward_layer_norm(x)
        x = self._feedforward_intermediate_dense(x)
        x = self._feedforward_output_dense(x)
        x = self._feedforward_dropout(x, training=training)
        x = x + residual
        if not self.normalize_first:
            x = self._feedforward_layer_norm(x)
        return x


def compute_last_layer_for_first_token(model: keras.Model) -> None:
    """Makes the last encoder layer of `model`'s backbone compute `[CLS]` alone.

    For a classifier that reads only `pooled_output`: the backbone's
    `sequence_output` becomes `(batch, 1, hidden)`. Backbones that do not
    pool the first token are left as they are.
    """
    for backbone in encoder_backbones(model):
        layers = backbone.transformer_layers
        if (
            layers
            and getattr(backbone, "cls_token_index", None) == 0
            and type(layers[-1]) is keras_hub.layers.TransformerEncoder
        ):
            layers[-1].__class__ = FirstTokenTransformerEncoder


# === Token-wise feed-forward ===
class TokenwiseDense(keras.layers.Dense):
    """A `Dense` layer that multiplies all tokens of a batch as one matrix.

    `(batch, length, features)` becomes `(batch * length, features)` for the
    product and is shaped back after the activation. Same weights, result
    and gradients; but on 2-D inputs TensorFlow's oneDNN build fuses matrix
    product, bias and GELU into one kernel (on 3-D ones a reshape sits
    between them). With BERT's GELU, the gradient is `dense_gelu`'s, so
    training keeps that fused kernel too.
    """

    def call(self, inputs, training=None):
        if len(inputs.shape) <= 2:
            return self._call_tokens(inputs, training)
        leading = keras.ops.shape(inputs)[:-1]
        tokens = keras.ops.reshape(inputs, (-1, inputs.shape[-1]))
        outputs = self._call_tokens(tokens, training)
        return keras.ops.reshape(outputs, (*leading, outputs.shape[-1]))

    def _call_tokens(self, tokens, training):
        if (
            self.activation is not gelu_approximate
            or self.bias is None
            or self.lora_enabled
            or self.quantization_mode
            or len(tokens.shape) != 2
        ):
            return super().call(tokens, training=training)
        return dense_gelu(
            tokens,
            tf.cast(self.kernel, self.compute_dtype),
            tf.cast(self.bias, self.compute_dtype),
        )


# The tanh approximation of GELU, as BERT (and keras-hub's BERT) computes it:
# gelu(z) = z / 2 * (1 + tanh(C0 * (z + C1 * z^3))).
GELU_C0, GELU_C1 = math.sqrt(2.0 / math.pi), 0.044715


@tf.custom_gradient
def dense_gelu(tokens, kernel, bias):
    """`gelu(tokens @ kernel + bias)` for 2-D tokens, with a lean gradient.

    Autodiff keeps every intermediate of the GELU formula (a cube among
    them) from the forward pass: about twenty passes over the largest
    activations of the model, and a forward pass TensorFlow cannot fuse
    into the matrix product, since the gradient reads its pieces. Here the
    forward pass is the one fused kernel, and the gradient recomputes
    `z = tokens @ kernel + bias` (one matrix product) and takes GELU's
    derivative in closed form, in a dozen element-wise ops.
    """
    outputs = tf.nn.gelu(tf.nn.bias_add(tf.matmul(tokens, kernel), bias), True)

    def gradient(upstream):
        # A batched product of one matrix: the same numbers, but an op that
        # TensorFlow does not merge with the forward `MatMul` (that would
        # unfuse the forward pass).
        z = tf.nn.bias_add(tf.raw_ops.BatchMatMulV2(x=tokens, y=kernel), bias)
        dz = times_gelu_derivative(upstream, z)
        return (
            tf.matmul(dz, kernel, transpose_b=True),
            tf.matmul(tokens, dz, transpose_a=True),
            tf.reduce_sum(dz, axis=0),
        )

    return outputs, gradient


def times_gelu_derivative(upstream, z):
    """`upstream * gelu_derivative(z)`, computed in float32 for 16-bit
    floats and rounded once: TensorFlow's CPU kernels run those element-wise
    ops faster in float32 than in bfloat16 (casts included), and z^3
    overflows float16 where GELU's slope is still finite."""
    if z.dtype not in (tf.float16, tf.bfloat16):
        return upstream * gelu_derivative(z)
    wide = tf.cast(upstream, tf.float32) * gelu_derivative(tf.cast(z, tf.float32))
    return tf.cast(wide, z.dtype)


def gelu_derivative(z):
    """d gelu(z) / dz, from gelu(z) = z * s with s = sigmoid(2 C0 (z + C1 z^3))
    (the same function as the tanh form): s + z * s (1 - s) * 2 C0 (1 + 3 C1
    z^2); `SigmoidGrad(s, x)` gives `s (1 - s) x`. Eleven element-wise ops.
    For float32 and wider: `times_gelu_derivative` widens 16-bit floats."""
    dtype = z.dtype
    squared = tf.square(z)
    s = tf.sigmoid(
        z * (squared * tf.constant(2 * GELU_C0 * GELU_C1, dtype) + 2 * GELU_C0)
    )
    slope = z * (squared * tf.constant(6 * GELU_C0 * GELU_C1, dtype) + 2 * GELU_C0)
    return s + tf.raw_ops.SigmoidGrad(y=s, dy=slope)


def multiply_feedforward_tokenwise(model: keras.Model) -> None:
    """Makes each encoder layer's feed-forward block `TokenwiseDense`."""
    for backbone in encoder_backbones(model):
        for layer in backbone.transformer_layers:
            for dense in (
                layer._feedforward_intermediate_dense,
                layer._feedforward_output_dense,
            ):
                if type(dense) is keras.layers.Dense:
                    dense.__class__ = TokenwiseDense


# === Fused layer norms ===
class FusedLayerNormalization(keras.layers.LayerNormalization):
    """A `LayerNormalization` that TensorFlow's oneDNN build runs as one kernel.

    Keras normalizes with about ten separate ops (means, squared difference,
    rsqrt, products, sums), each a pass over the activations. Written as a
    batch norm over `(1, tokens, features, 1)` in NCHW with the features as
    the spatial axis (each token a channel, so each is normalized over its
    own features), then scaled and shifted, TensorFlow's graph optimizer on
    CPUs replaces it with one `_MklLayerNorm` when predicting; training
    differentiates the batch norm. The layer's own epsilon is passed to the
    raw op (BERT's 1e-12; the Python wrappers raise it to cuDNN's minimum,
    1.001e-5): so this suits CPUs only. Same weights and result (1e-6).

    Anything else than the last axis of a 2-D or 3-D float32 input, centered
    and scaled, takes `LayerNormalization`'s own path.
    """

    def call(self, inputs):
        rank = len(inputs.shape)
        features = inputs.shape[-1]
        if (
            rank not in (2, 3)
            or features is None
            or [axis % rank for axis in self.axis] != [rank - 1]
            or not (self.center and self.scale)
            or self.rms_scaling
            or inputs.dtype != tf.float32
            or self.compute_dtype != "float32"
        ):
            return super().call(inputs)
        shape = tf.shape(inputs)
        tokens = tf.reduce_prod(shape[:-1])
        per_token = tf.reshape(inputs, tf.stack([1, tokens, features, 1]))
        normalized, *_ = tf.raw_ops.FusedBatchNormV3(
            x=per_token,
            scale=tf.fill(tf.reshape(tokens, [1]), 1.0),
            offset=tf.fill(tf.reshape(tokens, [1]), 0.0),
            mean=tf.constant([], tf.float32),
            variance=tf.constant([], tf.float32),
            epsilon=self.epsilon,
            data_format="NCHW",
            is_training=True,  # the statistics of this input, not running ones
        )
        return tf.reshape(normalized, shape) * self.gamma + self.beta


def fuse_layer_norms(model: keras.Model) -> None:
    """Makes the layer norms of `model`'s backbones `FusedLayerNormalization`."""
    for backbone in encoder_backbones(model):
        for layer in backbone._flatten_layers(include_self=False, recursive=True):
            if type(layer) is keras.layers.LayerNormalization:
                layer.__class__ = FusedLayerNormalization


# === Dropout masks from 16 random bits ===
DROPOUT_SAMPLE_BITS = 16


class LeanDropout(keras.layers.Dropout):
    """A `Dropout` whose masks take 16 random bits an element, not 32.

    Keras draws one random number of the input's dtype per element and
    compares it with the rate; generating those numbers is most of dropout's
    time in a training step. Here each 32-bit random number gives two
    16-bit samples: an element is kept when its sample is at least
    `round(rate * 2**16)`, and kept elements are scaled by the inverse of
    that keep probability (rounded to the input's dtype, as Keras rounds
    its scale). Other masks than Keras' for the same seed, with the same
    keep probability to within 2**-17; no dropout at all outside training,
    so predictions are the plain model's. A noise shape (masks shared
    along some axes) takes Keras' own path.
    """

    def call(self, inputs, training=False):
        if not training or self.noise_shape is not None or not 0 < self.rate < 1:
            return super().call(inputs, training=training)
        return lean_dropout(inputs, self.rate, self.seed_generator.next())


def lean_dropout(inputs: tf.Tensor, rate: float, seed: tf.Tensor) -> tf.Tensor:
    """`inputs` with each element zeroed with probability `rate` (to within
    2**-17) and the others divided by their keep probability."""
    levels = 1 << DROPOUT_SAMPLE_BITS
    dropped_levels = round(rate * levels)
    # Keras' stateless seeds are int64 state; TensorFlow's kernels take int32.
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
    size = tf.size(inputs)
    words = tf.random.stateless_uniform(
        [(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32
    )
    samples = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:size]
    keep = tf.reshape(samples >= dropped_levels, tf.shape(inputs))
    scale = tf.constant(levels / (levels - dropped_levels), inputs.dtype)
    return tf.where(keep, inputs * scale, tf.zeros_like(inputs))


def draw_dropout_masks_lean(model: keras.Model) -> None:
    """Makes the `Dropout` layers of `model`'s backbones `LeanDropout`.

    Those inside the backbones only (nearly all of dropout's work): a copy of
    the model rebuilds its backbones from their configuration, but clones its
    other layers class and all.
    """
    for backbone in encoder_backbones(model):
        for layer in backbone._flatten_layers(include_self=False, recursive=True):
            if type(layer) is keras.layers.Dropout:
                layer.__class__ = LeanDropout


# === Batches side by side ===
def predict_batches_side_by_side(model: keras.Model) -> None:
    """Marks `model` for `CPU_PREDICT_CALLS_AT_ONCE` predict calls at once.

    One batch at a time leaves the cores idle whenever the graph waits on a
    small op or a thread barrier; two calls running side by side fill those
    gaps with the other's matrix products.
    """
    model.predict_calls = CPU_PREDICT_CALLS_AT_ONCE


def predict_calls_at_once(model: keras.Model) -> int:
    """How many batches may run through `model`'s one predict graph at once.

    `CPU_PREDICT_CALLS_AT_ONCE` for a model `apply_cpu_speedups` marked on a
    CPU-only process; one (Keras' own `predict`) for any other, and for
    several steps per execution (TPUs) or several outputs.
    """
    if (
        model.steps_per_execution == 1
        and len(getattr(model, "outputs", None) or ()) == 1
    ):
        return getattr(model, "predict_calls", 1)
    return 1


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


# Every change, by the name the log gives it, in the order applied.
CHANGES = {
    "first_token_last_layer": compute_last_layer_for_first_token,
    "tokenwise_feedforward": multiply_feedforward_tokenwise,
    "fused_layer_norms": fuse_layer_norms,
    "lean_dropout_masks": draw_dropout_masks_lean,
    "batches_side_by_side": predict_batches_side_by_side,
}
