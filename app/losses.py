"""The training loss of each output kind, weighted per class with `--class_weights`.

The model outputs probabilities (softmax or sigmoid), so the losses read
probabilities, as Keras' own do with `from_logits=False`.
"""

from collections.abc import Sequence

import keras
from keras import ops

from tasks import OutputKind

_EPSILON = 1e-7  # Keras' clip of probabilities before the log


@keras.saving.register_keras_serializable(package="bert_classifier")
class WeightedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of each example times the weight of its true class.

    The batch's loss is the mean over its examples of `weight[y] * -log p_y`,
    as Keras' `class_weight` in `fit` weighs them.
    """

    def __init__(self, class_weights: Sequence[float], name="weighted_crossentropy"):
        super().__init__(name=name)
        self.class_weights = [float(weight) for weight in class_weights]

    def call(self, y_true, y_pred):
        label_ids = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        crossentropy = keras.losses.sparse_categorical_crossentropy(label_ids, y_pred)
        weights = ops.take(ops.convert_to_tensor(self.class_weights), label_ids)
        return crossentropy * weights

    def get_config(self):
        return {"class_weights": self.class_weights, "name": self.name}


@keras.saving.register_keras_serializable(package="bert_classifier")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of each label, its positives times `positive_weights`.

    Per example: the mean over labels l of
    `-(w_l * y_l * log p_l + (1 - y_l) * log(1 - p_l))`; with every weight 1
    it is Keras' `BinaryCrossentropy`.
    """

    def __init__(self, positive_weights: Sequence[float], name="weighted_binary"):
        super().__init__(name=name)
        self.positive_weights = [float(weight) for weight in positive_weights]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        probabilities = ops.clip(ops.cast(y_pred, "float32"), _EPSILON, 1 - _EPSILON)
        weights = ops.convert_to_tensor(self.positive_weights)
        per_label = -(
            weights * y_true * ops.log(probabilities)
            + (1 - y_true) * ops.log(1 - probabilities)
        )
        return ops.mean(per_label, axis=-1)

    def get_config(self):
        return {"positive_weights": self.positive_weights, "name": self.name}


def build_loss(output_kind: OutputKind, class_weights: Sequence[float] | None = None):
    """The loss of `output_kind`; `class_weights` in label order, or None."""
    if output_kind is OutputKind.SCORE:
        return keras.losses.MeanSquaredError()
    if output_kind is OutputKind.LABELS:
        if class_weights is None:
            return keras.losses.BinaryCrossentropy()
        return WeightedBinaryCrossentropy(class_weights)
    if class_weights is None:
        return keras.losses.SparseCategoricalCrossentropy()
    return WeightedSparseCrossentropy(class_weights)
