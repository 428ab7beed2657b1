"""Speed changes for CPU-only processes, each proven equal to the plain model."""

import collections
import concurrent.futures

import keras
import numpy as np
import tensorflow as tf


def runs_on_cpu_only() -> bool:
    """Whether this process sees neither a GPU nor a TPU."""
    return not (
        tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU")
    )


# Calls of the predict function that run at once on CPU-only processes.
CPU_PREDICT_CALLS_AT_ONCE = 2


def predict_calls_at_once(model: keras.Model) -> int:
    """How many batches may run through `model`'s one predict graph at once.

    On a CPU-only process, `CPU_PREDICT_CALLS_AT_ONCE`: one batch at a time
    leaves the cores idle whenever the graph waits on a small op or a thread
    barrier; two calls running side by side fill those gaps with the other's
    matrix products. Elsewhere (TPUs, GPUs, several steps per execution,
    several outputs): one, through Keras' own `predict`.
    """
    if (
        model.steps_per_execution == 1
        and len(getattr(model, "outputs", None) or ()) == 1
        and runs_on_cpu_only()
    ):
        return CPU_PREDICT_CALLS_AT_ONCE
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
