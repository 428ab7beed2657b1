"""Predicting with the classifier: packed examples in, outputs in input order."""

import numpy as np
import tensorflow as tf

from app.cpu_speedups import predict_calls_at_once, predict_side_by_side
from app.input_pipeline import PackedExamples, build_inference_dataset


def predict_outputs(
    model,
    packed: PackedExamples,
    preprocessor,
    batch_size: int,
    pad_to_whole_batches: bool = False,
    sort_by_length: bool = False,
) -> np.ndarray:
    """Model outputs for every example of `packed`, in input order.

    `packed` comes from `app.input_pipeline.pack_examples`, so a split is
    tokenized once per process however often it is predicted. With
    `sort_by_length`, examples run shortest first, so each batch pads to a
    length close to its own; outputs are put back in input order.
    """
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
    model, dataset: tf.data.Dataset, num_examples: int
) -> np.ndarray:
    """(num_examples, outputs) model outputs in input order, padding dropped."""
    trace_predict_for_all_lengths(model, dataset)
    calls = batches_at_once(model)
    if calls > 1:
        outputs = predict_side_by_side(model, dataset, calls)
    else:
        outputs = model.predict(dataset, verbose=0)
    return np.asarray(outputs, dtype=np.float32)[:num_examples]


def batches_at_once(model) -> int:
    """How many batches `predict_probabilities` runs through `model` at once."""
    if not predicts_through_one_graph(model):
        return 1
    return predict_calls_at_once(model)


def predicts_through_one_graph(model) -> bool:
    """Whether one traced predict graph can serve every batch of `model`.

    Not under several replicas (batches arrive split per replica), with XLA
    (which compiles per shape anyway) or eagerly.
    """
    return (
        model.distribute_strategy.num_replicas_in_sync == 1
        and not model.jit_compile
        and not model.run_eagerly
    )


def trace_predict_for_all_lengths(model, dataset: tf.data.Dataset) -> None:
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
