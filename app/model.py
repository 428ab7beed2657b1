"""The classifier: a keras-hub BERT backbone, dropout and a dense head.

This is the plain model: what `--cpu_speedups=false` runs, what checkpoints
hold and what the SavedModel serves. `app.cpu_speedups` changes how some of
its layers compute, never its weights.
"""

import keras
import keras_hub

from checkpoints.loader import initializers_skipped
from tasks import OutputKind

# The last layer's activation per output kind: probabilities, or a raw score.
ACTIVATIONS = {
    OutputKind.CLASSES: "softmax",
    OutputKind.LABELS: "sigmoid",
    OutputKind.SCORE: None,
}


def build_classifier(
    backbone: keras.Model,
    num_labels: int,
    output_kind: OutputKind = OutputKind.CLASSES,
    dropout: float = 0.1,
    initializer_range: float = 0.02,
    output_bias=None,
) -> keras.Model:
    """Functional model from packed BERT inputs to the task's outputs.

    As the original `create_model`: the pooled `[CLS]` output, dropout 0.1
    while training, then a dense layer initialized with a truncated normal of
    stddev 0.02 and zero bias: a softmax over the labels, a sigmoid per label
    (multi-label), or one score with no activation. Outputs stay float32
    under mixed precision, so the loss and the exported outputs are float32.

    Args:
        backbone: a keras-hub `BertBackbone`.
        num_labels: int. Number of labels of a `CLASSES` or `LABELS` task
            (2 or more).
        output_kind: `tasks.OutputKind`. Classes (softmax), labels (sigmoids)
            or one score.
        dropout: float. Dropout on the pooled output.
        initializer_range: float. Stddev of the output layer's initializer.
        output_bias: the output layer's starting bias, one number per
            output (`app.output_bias`), or None for zeros.
    """
    if output_kind is not OutputKind.SCORE and num_labels < 2:
        raise ValueError(
            "A classifier needs at least 2 labels; a task with one real-valued "
            f"score uses OutputKind.SCORE. Received: num_labels={num_labels}"
        )
    # === Layers ===
    dropout_layer = keras.layers.Dropout(dropout, name="classifier_dropout")
    output_layer = keras.layers.Dense(
        output_kind.num_outputs(num_labels),
        activation=ACTIVATIONS[output_kind],
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
        dtype="float32",
        name=output_kind.output_name,
    )

    # === Functional Model ===
    inputs = {
        name: keras.Input(shape=(None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    backbone = keep_residual_stream_in_float32(backbone)
    pooled_output = backbone(inputs)["pooled_output"]  # (batch, hidden)
    outputs = output_layer(dropout_layer(pooled_output))  # (batch, outputs)
    if output_bias is not None:
        # Assigned, not an initializer: the layer's config stays data-free.
        output_layer.bias.assign(output_bias)
    return keras.Model(inputs, outputs, name="bert_classifier")


def build_plain_copy(model: keras.Model, precision: str | None = None) -> keras.Model:
    """A freshly built plain classifier holding `model`'s weights.

    Every layer is built anew from its config, so nothing `app.cpu_speedups`
    changed comes along. `precision` (a Keras dtype policy: "float32",
    "mixed_bfloat16", ...) rebuilds the backbone under that policy and every
    other layer (dropout, the output layer) in float32. Variables are float32
    under any policy, so the copy holds the same values. Call it in the
    strategy scope the copy is to live in.
    """

    def clone(layer):
        config = layer.get_config()
        if precision is not None and "dtype" in config:
            config["dtype"] = precision if is_backbone(layer) else "float32"
        return layer.__class__.from_config(config)

    # An uncompiled view, so the clone gets no optimizer (and no Adam slots);
    # its initializers are skipped, as every weight is assigned below.
    view = keras.Model(model.input, model.output, name=model.name)
    with initializers_skipped():
        copy = keras.models.clone_model(view, clone_function=clone)
    for layer in copy.layers:
        if is_backbone(layer):
            keep_residual_stream_in_float32(layer)
    # Variable to variable: no NumPy copy of every weight on the way.
    for target, source in zip(copy.weights, model.weights, strict=True):
        target.assign(source)
    return copy


def is_backbone(layer) -> bool:
    return isinstance(layer, keras_hub.models.Backbone)


# Under a mixed policy these multiply matrices in the low-precision dtype;
# every other layer of the backbone computes in float32.
MATRIX_LAYERS = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.MultiHeadAttention,
)


# Part of the plain model, not a speed change: it decides which layers compute
# in low precision under a mixed policy, on every device, and its numbers
# differ from Keras' own mixed policy (closer to float32), so no test could
# prove it equal to something plainer. A float32 model is left as it is.
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
    stays the mixed one.
    """
    policy = backbone.dtype_policy
    if policy.compute_dtype == policy.variable_dtype:
        return backbone
    # Keras has no public listing of nested layers (see app/compat.py).
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
