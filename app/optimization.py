"""The original BERT optimizer: AdamW without bias correction, warmup, linear decay.

`optimization.py` of the original does, per step t (from 0) of N:
    lr_t = lr * t / warmup                    while t < warmup
    lr_t = lr * (1 - t / N)                   after
    g = clip_by_global_norm(grads, 1.0)
    m = 0.9 m + 0.1 g;  v = 0.999 v + 0.001 g^2      (no bias correction)
    w -= lr_t * (m / (sqrt(v) + 1e-6) + 0.01 w)      (no decay on LayerNorm, bias)
"""

import keras
import tensorflow as tf
from keras import ops


def count_train_steps(num_examples: int, batch_size: int, num_epochs: float) -> int:
    """The original's `int(len(train_examples) / train_batch_size * epochs)`."""
    return int(num_examples / batch_size * num_epochs)


@keras.saving.register_keras_serializable(package="bert_classifier")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak`, then linear decay to 0 at `total_steps`."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = max(total_steps, 1)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decayed = self.peak * (
            1.0 - ops.minimum(step, self.total_steps) / self.total_steps
        )
        if self.warmup_steps <= 0:
            return decayed
        warming = self.peak * step / self.warmup_steps
        return ops.where(step < self.warmup_steps, warming, decayed)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


@keras.saving.register_keras_serializable(package="bert_classifier")
class AdamWeightDecay(keras.optimizers.Optimizer):
    """Adam with decoupled weight decay and no bias correction, as the original.

    Each variable's step is two kernels: the decay `w -= lr * weight_decay * w`
    (on the weights the original decays; the same result as the original's
    `w -= lr * (adam + weight_decay * w)`, since the Adam term does not read
    `w`), then TensorFlow's fused Adam kernel with the bias-correction powers
    at 0, which updates m, v and w in one pass. Written out in Keras ops,
    every op of the Adam step holds a temporary the size of its variable (the
    word embeddings are the largest), so the fused kernel trains faster with
    a lower peak memory (docs/speed.md).
    That kernel computes `1 - beta_2` in float32 (0.00100005 for 0.999, where
    the original's Python arithmetic gives 0.001): v's increments run 5e-5
    larger, relatively; nothing a training run can see.
    """

    def __init__(
        self,
        learning_rate=5e-5,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-6,
        weight_decay: float = 0.01,
        global_clipnorm: float | None = 1.0,
        name: str = "adam_weight_decay",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums = self.add_optimizer_variables(variables, "momentum")
        self._velocities = self.add_optimizer_variables(variables, "velocity")

    def _apply_weight_decay(self, variables):
        """Decay is part of `update_step`, one variable at a time."""

    def _clip_gradients(self, grads):
        """Keras' clipping by the global norm, in fewer passes over memory.

        Keras squares each gradient into a temporary the size of its variable
        before summing it, and makes the word embeddings' sparse gradient
        (the rows of this batch's tokens) dense to square it and again to
        scale it. Here a dense gradient's squared norm is one `l2_loss`
        kernel, and a sparse gradient's rows are squared and scaled as they
        are: the Adam step makes it dense, once. The same norm and scale as
        Keras' (and the original's `tf.clip_by_global_norm`, which also
        counts a row repeated in a batch once per occurrence), NaN for a
        non-finite norm included.
        """
        if not self.global_clipnorm or self.clipnorm or self.clipvalue:
            return super()._clip_gradients(grads)
        squared = [
            2.0 * tf.nn.l2_loss(tf.cast(gradient_values(g), tf.float32))
            for g in grads
            if g is not None
        ]
        norm = tf.sqrt(tf.add_n(squared))
        clip = tf.constant(self.global_clipnorm, tf.float32)
        scale = clip * tf.minimum(1.0 / norm, 1.0 / clip) + (norm - norm)
        return [None if g is None else scaled(g, scale) for g in grads]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        dtype = variable.dtype
        learning_rate = tf.cast(learning_rate, dtype)
        decay = []
        if self.weight_decay and self._use_weight_decay(variable):
            decay_rate = learning_rate * self.weight_decay
            decay = [variable.assign_sub(variable * decay_rate, read_value=False)]
        no_bias_correction = tf.zeros((), dtype)
        with tf.control_dependencies(decay):  # the decay, then the Adam step
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle,
                m=m.handle,
                v=v.handle,
                beta1_power=no_bias_correction,
                beta2_power=no_bias_correction,
                lr=learning_rate,
                beta1=tf.constant(self.beta_1, dtype),
                beta2=tf.constant(self.beta_2, dtype),
                epsilon=tf.constant(self.epsilon, dtype),
                grad=tf.cast(gradient, dtype),
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
        )
        return config


def gradient_values(gradient):
    """The numbers of a gradient: a sparse one's rows, or the dense tensor."""
    if isinstance(gradient, tf.IndexedSlices):
        return gradient.values
    return gradient


def scaled(gradient, scale):
    """`gradient * scale`, a sparse gradient staying sparse."""
    if isinstance(gradient, tf.IndexedSlices):
        values = gradient.values * tf.cast(scale, gradient.values.dtype)
        return tf.IndexedSlices(values, gradient.indices, gradient.dense_shape)
    return gradient * tf.cast(scale, gradient.dtype)


def excluded_from_weight_decay(variable) -> bool:
    """LayerNorm weights and biases are not decayed (matched on the path)."""
    path = variable.path
    return path.endswith("/bias") or "layer_norm" in path or "LayerNorm" in path


def build_optimizer(
    model: keras.Model,
    learning_rate: float,
    num_train_steps: int,
    num_warmup_steps: int,
    gradient_accumulation_steps: int = 1,
) -> AdamWeightDecay:
    """The original's `create_optimizer`, for `model`'s trainable weights.

    With `gradient_accumulation_steps` = k, gradients of k batches are
    averaged before each update: an effective batch k times larger. Steps
    count updates, so the schedule is given in updates.
    """
    # Keras schedules count batches, not updates.
    accumulation = max(gradient_accumulation_steps, 1)
    schedule = WarmupLinearDecay(
        learning_rate, num_warmup_steps * accumulation, num_train_steps * accumulation
    )
    optimizer = AdamWeightDecay(
        learning_rate=schedule,
        gradient_accumulation_steps=(
            gradient_accumulation_steps if gradient_accumulation_steps > 1 else None
        ),
    )
    # By variable, not by name: Keras matches `var_names` against a
    # variable's name, `gamma`/`beta` on a Keras variable and the path only on
    # TensorFlow's (app.compat).
    optimizer.exclude_from_weight_decay(
        var_list=[v for v in model.trainable_variables if excluded_from_weight_decay(v)]
    )
    return optimizer
