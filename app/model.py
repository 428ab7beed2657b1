"""The classifier: a keras-hub BERT backbone, dropout and a dense softmax."""

import contextlib

import keras
import keras_hub
import tensorflow as tf

from app.cpu_speedups import runs_on_cpu_only


class FirstTokenTransformerEncoder(keras_hub.layers.TransformerEncoder):
    """A `TransformerEncoder` whose output is its first token alone.

    The classifier reads the last layer at `[CLS]` only (the pooled output),
    and in a post-norm or pre-norm encoder that token's output depends on the
    other tokens only through attention's keys and values. So the last layer
    computes keys and values for every token, but the query, attention,
    output projection and feed-forward block for `[CLS]` alone: the same
    result and gradients for about a seventh fewer FLOPs in a 6-layer model.
    Weights, names and checkpoints are those of the full layer.

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


def is_encoder_backbone(layer) -> bool:
    """Whether `layer` is a keras-hub encoder backbone (it lists its layers)."""
    return hasattr(layer, "transformer_layers")


def compute_last_layer_for_first_token(backbone: keras.Model) -> keras.Model:
    """Makes `backbone`'s last encoder layer compute `[CLS]` alone, in place.

    For a model that reads only `pooled_output`: `sequence_output` becomes
    `(batch, 1, hidden)`. The layer object, its weights and their names stay,
    so checkpoints save and load as before. Backbones that are not keras-hub
    BERT encoders pooling the first token are left as they are.
    """
    layers = getattr(backbone, "transformer_layers", None)
    if (
        not layers
        or getattr(backbone, "cls_token_index", None) != 0
        or type(layers[-1]) is not keras_hub.layers.TransformerEncoder
    ):
        return backbone
    layers[-1].__class__ = FirstTokenTransformerEncoder
    return backbone


class TokenwiseDense(keras.layers.Dense):
    """A `Dense` layer that multiplies all tokens of a batch as one matrix.

    `(batch, length, features)` becomes `(batch * length, features)` for the
    product and is shaped back after the activation. Same weights, result
    and gradients; but on 2-D inputs TensorFlow's oneDNN build fuses matrix
    product, bias and GELU into one kernel (on 3-D ones a reshape sits
    between them): prediction with the feed-forward layers made tokenwise
    ran about 1.13x faster on a 2-core Intel Xeon.
    """

    def call(self, inputs, training=None):
        if len(inputs.shape) <= 2:
            return super().call(inputs, training=training)
        leading = keras.ops.shape(inputs)[:-1]
        tokens = keras.ops.reshape(inputs, (-1, inputs.shape[-1]))
        outputs = super().call(tokens, training=training)
        return keras.ops.reshape(outputs, (*leading, outputs.shape[-1]))


def multiply_feedforward_tokenwise(backbone: keras.Model) -> keras.Model:
    """Makes each encoder layer's feed-forward block `TokenwiseDense`, in place.

    Layer objects, weights and names stay; backbones without keras-hub
    encoder layers are left as they are.
    """
    for layer in getattr(backbone, "transformer_layers", None) or ():
        for name in ("_feedforward_intermediate_dense", "_feedforward_output_dense"):
            dense = getattr(layer, name, None)
            if type(dense) is keras.layers.Dense:
                dense.__class__ = TokenwiseDense
    return backbone


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
    1.001e-5): so this suits CPUs only, and `adapt_backbone` swaps it in only
    where there is no GPU or TPU. Same weights and result (1e-6); prediction
    with it ran about 1.1x faster on a 2-core Intel Xeon.

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


def fuse_layer_norms(backbone: keras.Model) -> keras.Model:
    """Makes the backbone's layer norms `FusedLayerNormalization`, in place."""
    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        if type(layer) is keras.layers.LayerNormalization:
            layer.__class__ = FusedLayerNormalization
    return backbone


@contextlib.contextmanager
def plain_layer_norms(model: keras.Model):
    """Within the block, `model`'s fused layer norms are Keras' own again.

    For graphs that leave this process (a SavedModel may serve on a GPU,
    where cuDNN refuses BERT's epsilon).
    """
    fused = [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if type(layer) is FusedLayerNormalization
    ]
    for layer in fused:
        layer.__class__ = keras.layers.LayerNormalization
    try:
        yield model
    finally:
        for layer in fused:
            layer.__class__ = FusedLayerNormalization


def adapt_backbone(backbone: keras.Model) -> keras.Model:
    """The backbone as the classifier runs it, changed in place.

    `compute_last_layer_for_first_token`, `multiply_feedforward_tokenwise`,
    `fuse_layer_norms` (CPU-only processes) and
    `keep_residual_stream_in_float32`: same weights and checkpoints.
    """
    backbone = compute_last_layer_for_first_token(backbone)
    backbone = multiply_feedforward_tokenwise(backbone)
    if runs_on_cpu_only():
        backbone = fuse_layer_norms(backbone)
    return keep_residual_stream_in_float32(backbone)


# Under a mixed policy these multiply matrices in the low-precision dtype;
# every other layer of the backbone computes in float32.
MATRIX_LAYERS = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.MultiHeadAttention,
)


def keep_residual_stream_in_float32(backbone: keras.Model) -> keras.Model:
    """Under mixed precision, only matrix products run in bfloat16/float16.

    Keras' mixed policies compute every layer in the low-precision dtype, so
    the residual stream, the layer norms' outputs and the embeddings are
    rounded to 8 bits of mantissa (bfloat16) at every layer, in the forward
    and the backward pass. Much as `torch.autocast` does (which also keeps
    the softmax in float32), this keeps them in float32: the dense layers
    and the attention (with its softmax) cast their input down and compute
    in low precision, and the float32 dropout or layer norm after each casts
    the result back. Variables are float32 either way, so weights and
    checkpoints are unchanged. The backbone's own policy (and so its config)
    stays the mixed one; a float32 backbone is left as it is.
    """
    policy = backbone.dtype_policy
    if policy.compute_dtype == policy.variable_dtype:
        return backbone
    layers = list(backbone._flatten_layers(include_self=False, recursive=True))
    inside_matrix_layers = {
        id(sublayer)
        for layer in layers
        if isinstance(layer, MATRIX_LAYERS)
        for sublayer in layer._flatten_layers(include_self=True, recursive=True)
    }
    for layer in layers:
        if id(layer) not in inside_matrix_layers:
            layer.dtype_policy = "float32"
    return backbone


def build_classifier(
    backbone: keras.Model,
    num_labels: int,
    dropout: float = 0.1,
    initializer_range: float = 0.02,
) -> keras.Model:
    """Functional model from packed BERT inputs to class probabilities.

    As the original `create_model`: the pooled `[CLS]` output, dropout 0.1
    while training, then a dense layer initialized with a truncated normal of
    stddev 0.02 and zero bias. Probabilities stay float32 under mixed
    precision, so the loss and the exported scores are float32.

    Args:
        backbone: a keras-hub `BertBackbone`.
        num_labels: int. Number of classes; 1 makes a regression head.
        dropout: float. Dropout on the pooled output.
        initializer_range: float. Stddev of the output layer's initializer.
    """
    # === Layers ===
    dropout_layer = keras.layers.Dropout(dropout, name="classifier_dropout")
    output_layer = keras.layers.Dense(
        num_labels,
        activation="softmax" if num_labels > 1 else None,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
        dtype="float32",
        name="probabilities" if num_labels > 1 else "score",
    )

    # === Functional Model ===
    inputs = {
        name: keras.Input(shape=(None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    backbone = adapt_backbone(backbone)
    pooled_output = backbone(inputs)["pooled_output"]  # (batch, hidden)
    outputs = output_layer(dropout_layer(pooled_output))  # (batch, num_labels)
    return keras.Model(inputs, outputs, name="bert_classifier")
